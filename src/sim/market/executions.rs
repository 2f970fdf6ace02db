//! Executions and commission reports: what a fill records, how long it is kept, and which
//! client sees which (`reqExecutions`).
//!
//! Facts implemented (sources):
//! - Execution fields (IBKR Campus "The Execution Object"; IB's Python `execution.py`):
//!   execId ("Each partial fill has a separate ExecId"; 4 dot-separated segments, e.g.
//!   `00018037.4ff27b0e.01.01`, a correction differing only after the last period), time
//!   ("The execution's server time"), acctNumber, exchange, side `BOT`/`SLD`, shares, price,
//!   permId, clientId ("The API client identifier which placed the order"), orderId,
//!   liquidation, cumQty, avgPrice, orderRef, evRule, evMultiplier, modelCode, lastLiquidity
//!   (1 added, 2 removed, 3 routed out), pendingPriceRevision.
//! - Commission report: execId, commission, currency, realizedPNL (unset = Double.MAX on the
//!   wire, here `None`, for opening fills), yield, yieldRedemptionDate.
//! - Retention: "By default, only those executions occurring since midnight for that
//!   particular account will be delivered. If you want to request executions from the last 7
//!   days, TWS's Trade Log setting … must be adjusted … The IB Gateway is limited to only
//!   executions from the current trading day since midnight." (IBKR Campus "Execution
//!   Details"). API ≥ server version 200 adds `lastNDays` and `specificDates` to the filter
//!   (`MIN_SERVER_VER_PARAMETRIZED_DAYS_OF_EXECUTIONS`, ibapi `server_versions.py`; ibapi
//!   crate: "Covers the current day (since midnight) by default; set last_n_days or
//!   specific_dates to reach earlier days"). The simulator keeps executions for today and the
//!   7 days before: no filter → since local midnight; `lastNDays = N` → since midnight N days
//!   ago (N capped at 7, so N = 1 reaches yesterday); `specificDates` (yyyymmdd) → those local
//!   dates. The `time` filter ("Only those executions reported after the specified time") only
//!   narrows that window: a time before midnight without lastNDays still returns today only,
//!   as on a real gateway. Midnight is the gateway's zone ([`super::MarketOptions::time_zone`]).
//! - Which client sees which (IBKR Campus "ClientId 0 and the Master Client ID"): "Connecting
//!   without using the Master Client ID will mean only trades on the connected Client ID will
//!   be returning from calls to the openOrder or execDetails functions"; client 0 also sees
//!   trades made in TWS; "To receive commissions reports for all clients it is necessary to
//!   connect as the Master Client ID". So a client gets its own executions; the master client
//!   id gets every client's and TWS's. Filter `clientId` 0 (the default of IB's own
//!   ExecutionFilter, "An empty ExecutionFilter object can be passed to obtain all previous
//!   executions") or absent means no client filter; any other value narrows to that client.
//!   (The ibapi crate's docs say snapshots "cover every client's orders"; IB's documentation
//!   says otherwise for executions, and the simulator follows IB.)
//! - Filter `side` is `BUY`/`SELL` and matches `BOT`/`SLD`.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::error::MarketError;
use super::instruments::Instrument;
use super::orders::OrderOrigin;
use super::sessions::{local_date, local_midnight};

/// Days before today an execution is kept (IB's Trade Log maximum).
pub const RETENTION_DAYS: i64 = 7;
/// Cap on stored executions per account.
pub const EXECUTION_CAP: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub exec_id: String,
    pub time: DateTime<Utc>,
    pub account: String,
    pub exchange: String,
    /// `BOT` or `SLD`.
    pub side: &'static str,
    pub shares: f64,
    pub price: f64,
    pub perm_id: i64,
    pub client_id: i32,
    pub order_id: i32,
    pub liquidation: i32,
    pub cum_qty: f64,
    pub avg_price: f64,
    pub order_ref: String,
    pub ev_rule: String,
    pub ev_multiplier: Option<f64>,
    pub model_code: String,
    /// 1 added liquidity, 2 removed, 3 routed out.
    pub last_liquidity: i32,
    pub pending_price_revision: bool,
    pub origin: OrderOrigin,
    pub instrument: Instrument,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommissionReport {
    pub exec_id: String,
    pub commission: f64,
    pub currency: String,
    /// `None` for fills that only open a position.
    pub realized_pnl: Option<f64>,
    pub yield_: Option<f64>,
    pub yield_redemption_date: Option<i32>,
}

/// A fill as stored: the execution and its commission report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionRecord {
    pub execution: Execution,
    pub commission: CommissionReport,
}

/// `reqExecutions` filter; empty strings and `None`/0 match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExecFilter {
    pub client_id: Option<i32>,
    pub acct_code: String,
    /// `yyyymmdd hh:mm:ss [zone]` (gateway zone when none) or `yyyymmdd-hh:mm[:ss]` (UTC).
    pub time: String,
    pub symbol: String,
    pub sec_type: String,
    pub exchange: String,
    /// `BUY` / `SELL` (or `BOT` / `SLD`).
    pub side: String,
    /// 0 = today only.
    pub last_n_days: i32,
    /// `yyyymmdd` dates.
    pub specific_dates: Vec<i32>,
}

fn parse_filter_time(s: &str, tz: Tz) -> Result<Option<DateTime<Utc>>, MarketError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || MarketError::Validation {
        token: "bc",
        // TWS's wording for a bad filter time is not known.
        cause: format!("Invalid execution filter time '{s}'; use yyyymmdd hh:mm:ss or yyyymmdd-hh:mm:ss (UTC)"),
    };
    for fmt in ["%Y%m%d-%H:%M:%S", "%Y%m%d-%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Some(Utc.from_utc_datetime(&t)));
        }
    }
    let mut parts = s.split_whitespace();
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else { return Err(bad()) };
    let zone: Tz = match parts.next() {
        None => tz,
        Some("EST" | "EDT") => chrono_tz::America::New_York,
        Some("UTC" | "GMT") => chrono_tz::UTC,
        Some(z) => z.parse().map_err(|_| bad())?,
    };
    let naive = NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y%m%d %H:%M:%S").map_err(|_| bad())?;
    zone.from_local_datetime(&naive).earliest().map(|t| Some(t.with_timezone(&Utc))).ok_or_else(bad)
}

fn side_matches(filter: &str, side: &str) -> bool {
    match filter.trim().to_ascii_uppercase().as_str() {
        "" => true,
        "BUY" | "BOT" => side == "BOT",
        "SELL" | "SSHORT" | "SLD" => side == "SLD",
        _ => false,
    }
}

/// One account's executions.
#[derive(Debug, Clone, Default)]
pub struct ExecutionStore {
    records: VecDeque<ExecutionRecord>,
    dropped: u64,
}

impl ExecutionStore {
    pub fn push(&mut self, record: ExecutionRecord, tz: Tz) {
        let keep_from = local_midnight(tz, record.execution.time) - Duration::days(RETENTION_DAYS);
        while self.records.front().is_some_and(|r| r.execution.time < keep_from) || self.records.len() >= EXECUTION_CAP
        {
            self.records.pop_front();
            self.dropped += 1;
        }
        self.records.push_back(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Executions pushed out by age or the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn by_exec_id(&self, exec_id: &str) -> Option<&ExecutionRecord> {
        self.records.iter().find(|r| r.execution.exec_id == exec_id)
    }

    /// `reqExecutions(filter)` from `requester`, oldest first.
    pub fn executions_for(
        &self,
        requester: i32,
        master_client_id: Option<i32>,
        filter: &ExecFilter,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<Vec<&ExecutionRecord>, MarketError> {
        let after = parse_filter_time(&filter.time, tz)?;
        let today = local_midnight(tz, now);
        let window_start = if filter.last_n_days > 0 {
            today - Duration::days(i64::from(filter.last_n_days).min(RETENTION_DAYS))
        } else {
            today
        };
        let dates: Vec<NaiveDate> = filter
            .specific_dates
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(&d.to_string(), "%Y%m%d").ok())
            .collect();
        let oldest = today - Duration::days(RETENTION_DAYS);
        let is_master = master_client_id == Some(requester);
        let eq = |want: &str, have: &str| want.trim().is_empty() || want.trim().eq_ignore_ascii_case(have);
        Ok(self
            .records
            .iter()
            .filter(|r| {
                let e = &r.execution;
                let in_window = if dates.is_empty() {
                    e.time >= window_start
                } else {
                    e.time >= oldest && dates.contains(&local_date(tz, e.time))
                };
                in_window
                    && e.time <= now
                    && after.is_none_or(|t| e.time >= t)
                    && (is_master || e.client_id == requester)
                    && filter.client_id.is_none_or(|c| c == 0 || c == e.client_id)
                    && eq(&filter.acct_code, &e.account)
                    && eq(&filter.symbol, &e.instrument.symbol)
                    && eq(&filter.sec_type, e.instrument.sec_type.as_str())
                    && eq(&filter.exchange, &e.exchange)
                    && side_matches(&filter.side, e.side)
            })
            .collect())
    }
}

/// An execution or completion time as TWS writes it: `yyyyMMdd HH:mm:ss <zone>` in the
/// gateway's zone, e.g. `20260114 23:58:01 America/New_York` (ib_async's `parseIBDatetime`
/// reads the trailing IANA zone; without one it assumes the zone of the handshake).
pub fn tws_time(t: DateTime<Utc>, tz: Tz) -> String {
    format!("{} {}", t.with_timezone(&tz).format("%Y%m%d %H:%M:%S"), tz.name())
}

/// IBKR Pro "Fixed" commission for an order that has filled `qty` for `notional` so far:
/// stocks USD 0.005 per share, minimum USD 1.00, maximum 1 % of trade value; futures an
/// all-in USD 2.25 per contract (commission plus exchange and regulatory fees, approximately);
/// forex 0.2 bp of value, minimum USD 2.00. The minimum applies per order, so a fill is
/// charged the order's total after it minus the total before it. (IBKR pricing pages; the
/// per-order minimum: "Modified orders will be treated as the cancellation and replacement
/// of an existing order… commission minimums" — commissions are per order.)
pub fn order_commission(instrument: &Instrument, qty: f64, notional: f64) -> f64 {
    if qty <= 0.0 {
        return 0.0;
    }
    match instrument.sec_type {
        super::instruments::SecType::Stk => (0.005 * qty).max(1.0).min(0.01 * notional),
        super::instruments::SecType::Fut => 2.25 * qty,
        _ => (0.00002 * notional).max(2.0),
    }
}

/// The commission of one fill: the order's total after it minus before it.
pub fn fill_commission(instrument: &Instrument, before: (f64, f64), after: (f64, f64)) -> f64 {
    let c = order_commission(instrument, after.0, after.1) - order_commission(instrument, before.0, before.1);
    (c.max(0.0) * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::InstrumentTable;

    const NY: Tz = chrono_tz::America::New_York;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        NY.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().with_timezone(&Utc)
    }

    fn record(n: u32, client_id: i32, time: DateTime<Utc>, side: &'static str, symbol: &str) -> ExecutionRecord {
        let instrument = InstrumentTable::new().by_name(symbol, time).unwrap();
        let exec_id = format!("0000e0d5.{n:08x}.01.01");
        ExecutionRecord {
            execution: Execution {
                exec_id: exec_id.clone(),
                time,
                account: "DU1".into(),
                exchange: "ISLAND".into(),
                side,
                shares: 100.0,
                price: 100.0,
                perm_id: 1_000 + i64::from(n),
                client_id,
                order_id: n as i32,
                liquidation: 0,
                cum_qty: 100.0,
                avg_price: 100.0,
                order_ref: String::new(),
                ev_rule: String::new(),
                ev_multiplier: None,
                model_code: String::new(),
                last_liquidity: 2,
                pending_price_revision: false,
                origin: if client_id == 0 { OrderOrigin::Tws } else { OrderOrigin::Api },
                instrument,
            },
            commission: CommissionReport {
                exec_id,
                commission: 1.0,
                currency: "USD".into(),
                realized_pnl: None,
                yield_: None,
                yield_redemption_date: None,
            },
        }
    }

    fn ids(v: Vec<&ExecutionRecord>) -> Vec<i32> {
        v.into_iter().map(|r| r.execution.order_id).collect()
    }

    #[test]
    fn a_fill_at_2358_is_found_after_midnight_only_with_a_filter_reaching_back() {
        let mut store = ExecutionStore::default();
        store.push(record(1, 1, at(2026, 1, 14, 23, 50), "BOT", "AAPL"), NY);
        store.push(record(2, 1, at(2026, 1, 14, 23, 58), "BOT", "AAPL"), NY);
        store.push(record(3, 1, at(2026, 1, 15, 0, 2), "SLD", "AAPL"), NY);
        let now = at(2026, 1, 15, 0, 10);
        let get = |f: ExecFilter| ids(store.executions_for(1, None, &f, NY, now).unwrap());
        // Default: since local midnight only, the way IB Gateway answers.
        assert_eq!(get(ExecFilter::default()), [3]);
        // A time filter alone cannot reach before midnight.
        assert_eq!(get(ExecFilter { time: "20260114 23:55:00".into(), ..Default::default() }), [3]);
        // lastNDays reaches yesterday; the time filter then narrows it.
        assert_eq!(get(ExecFilter { last_n_days: 1, ..Default::default() }), [1, 2, 3]);
        assert_eq!(get(ExecFilter { last_n_days: 1, time: "20260114 23:55:00".into(), ..Default::default() }), [2, 3]);
        assert_eq!(
            get(ExecFilter { last_n_days: 1, time: "20260115-04:56:00".into(), ..Default::default() }),
            [2, 3],
            "UTC form"
        );
        assert_eq!(get(ExecFilter { specific_dates: vec![20260114], ..Default::default() }), [1, 2]);
        let e = store
            .executions_for(1, None, &ExecFilter { time: "yesterday".into(), ..Default::default() }, NY, now)
            .unwrap_err();
        assert_eq!(e.code(), 321);
    }

    #[test]
    fn clients_see_their_own_and_the_master_sees_all() {
        let mut store = ExecutionStore::default();
        let t = at(2026, 1, 14, 10, 0);
        store.push(record(1, 1, t, "BOT", "AAPL"), NY);
        store.push(record(2, 11, t, "SLD", "MSFT"), NY);
        store.push(record(3, 0, t, "BOT", "AAPL"), NY);
        let now = at(2026, 1, 14, 12, 0);
        let get = |requester, master, f: ExecFilter| ids(store.executions_for(requester, master, &f, NY, now).unwrap());
        assert_eq!(get(1, None, ExecFilter::default()), [1]);
        assert_eq!(get(11, None, ExecFilter::default()), [2]);
        assert_eq!(get(0, None, ExecFilter::default()), [3], "client 0 sees TWS trades");
        assert_eq!(get(5, Some(5), ExecFilter::default()), [1, 2, 3], "master sees every client and TWS");
        assert_eq!(get(5, Some(5), ExecFilter { client_id: Some(11), ..Default::default() }), [2]);
        assert_eq!(
            get(5, Some(5), ExecFilter { client_id: Some(0), ..Default::default() }),
            [1, 2, 3],
            "0 = no client filter"
        );
        assert_eq!(get(1, None, ExecFilter { client_id: Some(11), ..Default::default() }), Vec::<i32>::new());
        assert_eq!(get(5, Some(5), ExecFilter { side: "SELL".into(), ..Default::default() }), [2]);
        assert_eq!(
            get(5, Some(5), ExecFilter { symbol: "aapl".into(), sec_type: "STK".into(), ..Default::default() }),
            [1, 3]
        );
        assert_eq!(get(5, Some(5), ExecFilter { acct_code: "DU2".into(), ..Default::default() }), Vec::<i32>::new());
    }

    #[test]
    fn retention_is_seven_days_before_today() {
        let mut store = ExecutionStore::default();
        store.push(record(1, 1, at(2026, 1, 1, 10, 0), "BOT", "AAPL"), NY);
        store.push(record(2, 1, at(2026, 1, 8, 10, 0), "BOT", "AAPL"), NY);
        store.push(record(3, 1, at(2026, 1, 14, 10, 0), "BOT", "AAPL"), NY);
        assert_eq!(store.len(), 2);
        assert_eq!(store.dropped(), 1);
        let now = at(2026, 1, 14, 12, 0);
        let f = ExecFilter { last_n_days: 30, ..Default::default() };
        assert_eq!(ids(store.executions_for(1, None, &f, NY, now).unwrap()), [2, 3]);
    }

    #[test]
    fn times_are_written_in_the_gateway_zone() {
        assert_eq!(tws_time(at(2026, 1, 14, 23, 58), NY), "20260114 23:58:00 America/New_York");
    }

    #[test]
    fn commission_schedule_is_per_order_with_minimum_and_cap() {
        let t = InstrumentTable::new();
        let now = at(2026, 1, 14, 10, 0);
        let aapl = t.by_name("AAPL", now).unwrap();
        assert_eq!(order_commission(&aapl, 100.0, 23_000.0), 1.0);
        assert_eq!(order_commission(&aapl, 1000.0, 230_000.0), 5.0);
        assert_eq!(order_commission(&aapl, 100.0, 50.0), 0.5, "1 % cap");
        // Two 100-share fills of one order: the minimum is charged once.
        assert_eq!(fill_commission(&aapl, (0.0, 0.0), (100.0, 23_000.0)), 1.0);
        assert_eq!(fill_commission(&aapl, (100.0, 23_000.0), (200.0, 46_000.0)), 0.0);
        assert_eq!(fill_commission(&aapl, (200.0, 46_000.0), (300.0, 69_000.0)), 0.5);
        assert_eq!(order_commission(&t.by_name("ES", now).unwrap(), 2.0, 580_000.0), 4.5);
        assert_eq!(order_commission(&t.by_name("EUR.USD", now).unwrap(), 20_000.0, 21_600.0), 2.0);
    }
}
