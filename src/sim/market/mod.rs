//! The simulated market behind the simulated gateway: instruments, prices, bars, ticks, an
//! order book that behaves like a market, executions, and a portfolio per account. Pure and
//! deterministic: no I/O, no tokio, no wire encoding; time is always a parameter (`now`) and
//! randomness comes only from the seed, so a seed gives the same market every run.
//!
//! # Using it (for the gateway)
//!
//! Hold one [`Market`] (behind the gateway's mutex), built with
//! `Market::new(seed, MarketOptions { fill_delay, display_size, starting_cash, time_zone,
//! master_client_id })`, and `open_account("DU1234567", now)` for each account the listener
//! serves. Every method takes `now`; account arguments may be `""` for the first account.
//!
//! | TWS request | call | answer |
//! |---|---|---|
//! | reqContractDetails | [`Market::contract_details`] | `Vec<ContractDetails>` or 200 |
//! | reqMatchingSymbols | [`Market::matching_symbols`] | ≤ 16 `ContractDescription` |
//! | reqMktData | [`Market::resolve`], then [`Market::ticks`] each round ([`changed_ticks`] for deltas) | `Vec<Tick>`; snapshot = one round + end |
//! | reqTickByTickData | [`Market::tick_by_tick`] after each step | `TickByTick` |
//! | reqHistoricalData | [`Market::historical_data`]; keepUpToDate: [`Market::bar_updates`] then [`Market::bar_update`] | bars + start/end, or schedule |
//! | reqHeadTimestamp | [`Market::head_timestamp`] | `DateTime<Utc>` |
//! | reqRealTimeBars | [`Market::real_time_bars`] then [`Market::poll_real_time_bars`] | 5 s bars |
//! | placeOrder | [`Market::place_order`] (what-if: [`Market::what_if`]) | `Vec<MarketEvent>` or an error on the order id |
//! | cancelOrder / reqGlobalCancel | [`Market::cancel_order`] / [`Market::global_cancel`] | events (Cancelled + 202) or 10147/10148 |
//! | (time passing) | [`Market::poll`] after stepping | fills, triggers, expiries as events |
//! | reqOpenOrders / reqAllOpenOrders | [`Market::open_orders`] | orders (+ orderBound events) |
//! | reqAutoOpenOrders | [`Market::auto_open_orders`] | |
//! | reqCompletedOrders | [`Market::completed_orders`] | today's finished orders |
//! | reqExecutions | [`Market::executions_for`] | records (execution + commission) |
//! | reqPositions | [`Market::positions`] | |
//! | reqAccountUpdates | [`Market::account_values`], [`Market::portfolio`] | |
//! | reqAccountSummary | [`Market::account_summary`] | |
//! | reqPnL / reqPnLSingle | [`Market::pnl`] / [`Market::pnl_single`] | |
//! | POST /sim/price | [`Market::set_symbol_price`] then [`Market::poll`] | |
//!
//! Client ids (IBKR Campus "ClientId 0 and the Master Client ID", details in `events` and
//! `executions`): order events go to the placing client (client 0 for orders entered in TWS
//! or bound to it) and to `master_client_id`; reqExecutions returns the requester's own
//! fills (the master's: everyone's) for today since the gateway's midnight, reaching back up
//! to 7 days only with `lastNDays` / `specificDates`; reqOpenOrders returns the requester's
//! open orders (client 0 binds TWS orders, negative ids), reqAllOpenOrders everyone's;
//! reqCompletedOrders today's finished orders of every client (IB documents no client
//! restriction and its text form carries no order or client id: match by permId). Format
//! times with [`tws_time`].
//!
//! Driving time: call [`Market::step`] for every instrument with a subscriber or a working
//! order ([`Market::working_instruments`]) once per tick interval, then [`Market::poll`] —
//! it fills, triggers and expires orders and returns the events. Each [`MarketEvent`] names
//! the owning client; send it to [`MarketEvent::recipients`] (owner, or client 0 for TWS
//! orders, plus the master client id) that are connected. A `Status` event carries the whole
//! order: send openOrder and orderStatus from it; `Execution` → execDetails (req id -1),
//! `Commission` → commissionReport, `Notice` → error(order id, code, text), `Bound` →
//! orderBound. Errors are [`MarketError`]: send `error(id, e.code(), e.to_string())`.
//!
//! # Simplifications (each documented where it lives)
//! Orders match around the clock (sessions drive DAY expiry, `useRTH`, the day rollover and
//! the hours strings; no holidays). Sizes and volumes are shares — TWS below server version
//! 220 sends US-stock sizes in lots of 100, so the codec scales. Forex is held as a position
//! valued in USD; settlement is not modelled. The far synthetic past shifts slightly as the
//! 2-hour bucket ring rolls. Daily P&L and realized P&L reset at the gateway's midnight.
//!
//! # Files
//! - `table`: the built-in instruments; `instruments`: contract resolution (200) and
//!   matching symbols; `details`: the contract-details answer.
//! - `sessions`: trading calendars, `tradingHours`/`liquidHours`, DAY expiry times.
//! - `prices`: one seeded walk per instrument, the book and day statistics, 5 s buckets.
//! - `noise`: seeded streams and the random-access synthetic past.
//! - `history`: the price path (recorded buckets joined to the synthetic past).
//! - `bar_spec`, `bars`: historical, keep-up-to-date and real-time bars, head timestamp.
//! - `ticks`: default and generic ticks (the supported ids are tabled there), tick-by-tick.
//! - `orders`: order terms, validation and states; `book`: one account's order book;
//!   `events`: what clients are told and which clients; `matching`: when orders trade;
//!   `trading`: placing, fills, and the visibility queries.
//! - `executions`: execution store, filters and client-id visibility; commissions.
//! - `portfolio`: positions, cash, account values and summary, PnL.
//! - `error`: [`MarketError`] with TWS's codes and texts.
//!
//! Every file opens with the TWS facts it implements and their sources.

mod bar_spec;
mod bars;
mod book;
mod details;
mod error;
mod events;
mod executions;
mod history;
mod instruments;
mod matching;
mod noise;
mod orders;
mod portfolio;
mod prices;
mod sessions;
mod table;
mod ticks;
mod trading;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;

pub use bar_spec::{BarSize, DurationSpec, DurationUnit, WhatToShow};
pub use bars::{
    Bar, BarTime, BarUpdates, HistoricalAnswer, HistoricalBars, HistoricalRequest, HistoricalSchedule, RealTimeBars,
    ScheduleSession,
};
pub use book::OpenScope;
pub use details::ContractDetails;
pub use error::{MarketError, ORDER_CANCELLED};
pub use events::{EventKind, MarketEvent};
pub use executions::{tws_time, CommissionReport, ExecFilter, Execution, ExecutionRecord};
pub use instruments::{ContractDescription, ContractQuery, Instrument, SecType};
pub use orders::{Action, Order, OrderOrigin, OrderRequest, OrderStatus, OrderType, Tif};
pub use portfolio::{AccountValue, Pnl, PnlSingle, PortfolioItem, Position};
pub use prices::Quote;
pub use sessions::Schedule;
pub use ticks::{changed as changed_ticks, GenericTicks, Tick, TickByTick};
pub use trading::WhatIf;

use book::OrderBook;
use executions::ExecutionStore;
use history::PricePath;
use instruments::InstrumentTable;
use portfolio::{Mark, Portfolio};
use prices::PriceBook;

/// How the simulated market behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketOptions {
    /// Time from acceptance until a marketable order may fill.
    pub fill_delay: Duration,
    /// Most an order fills per price step (its displayed size); larger orders fill in chunks.
    pub display_size: f64,
    /// Cash each new account starts with (USD).
    pub starting_cash: f64,
    /// The gateway's zone: where "today" starts for executions, completed orders and P&L.
    pub time_zone: Tz,
    /// TWS's "Master API client ID" setting: this client sees every client's orders and fills.
    pub master_client_id: Option<i32>,
}

impl Default for MarketOptions {
    fn default() -> Self {
        Self {
            fill_delay: Duration::from_millis(200),
            display_size: 1000.0,
            starting_cash: 1_000_000.0,
            time_zone: chrono_tz::America::New_York,
            master_client_id: None,
        }
    }
}

/// One account: its orders, fills and money.
#[derive(Debug, Clone)]
struct Account {
    orders: OrderBook,
    executions: ExecutionStore,
    portfolio: Portfolio,
}

/// The simulated market.
#[derive(Debug, Clone)]
pub struct Market {
    seed: u64,
    options: MarketOptions,
    instruments: InstrumentTable,
    prices: PriceBook,
    accounts: BTreeMap<String, Account>,
    next_perm_id: i64,
    next_exec_seq: u64,
    exec_prefix: u32,
    venues: StdRng,
}

impl Market {
    pub fn new(seed: u64, options: MarketOptions) -> Self {
        Self {
            seed,
            options,
            instruments: InstrumentTable::new(),
            prices: PriceBook::new(seed),
            accounts: BTreeMap::new(),
            next_perm_id: 1_000_000_000 + (noise::mix(seed, &[0x5045_524D]) % 100_000_000) as i64,
            next_exec_seq: noise::mix(seed, &[0x4558_4543]) & 0x0fff_ffff,
            exec_prefix: noise::mix(seed, &[0x5052_4546]) as u32,
            venues: noise::stream(seed, 0x5645_4E55, 0),
        }
    }

    pub fn options(&self) -> &MarketOptions {
        &self.options
    }

    /// Change TWS's "Master API client ID" setting.
    pub fn set_master_client_id(&mut self, master: Option<i32>) {
        self.options.master_client_id = master;
    }

    /// Open `account` (idempotent) with the configured starting cash.
    pub fn open_account(&mut self, account: &str, now: DateTime<Utc>) {
        let (cash, tz) = (self.options.starting_cash, self.options.time_zone);
        self.accounts.entry(account.to_owned()).or_insert_with(|| Account {
            orders: OrderBook::default(),
            executions: ExecutionStore::default(),
            portfolio: Portfolio::new(account, cash, tz, now),
        });
    }

    pub fn accounts(&self) -> Vec<&str> {
        self.accounts.keys().map(String::as_str).collect()
    }

    /// The account named `account`, `""` meaning the first one.
    fn account_name(&self, account: &str) -> Result<String, MarketError> {
        if account.is_empty() {
            return self
                .accounts
                .keys()
                .next()
                .cloned()
                .ok_or_else(|| MarketError::OrderRejected("No account is open".into()));
        }
        self.accounts
            .keys()
            .find(|a| a.eq_ignore_ascii_case(account))
            .cloned()
            .ok_or_else(|| MarketError::OrderRejected(format!("Account {account} is not managed by this gateway")))
    }

    // ---- instruments --------------------------------------------------------------------

    /// Every instrument of the table at `now`.
    pub fn instruments(&self, now: DateTime<Utc>) -> Vec<Instrument> {
        self.instruments.all(now)
    }

    /// reqContractDetails.
    pub fn contract_details(&self, q: &ContractQuery, now: DateTime<Utc>) -> Result<Vec<ContractDetails>, MarketError> {
        Ok(self.instruments.lookup(q, now)?.into_iter().map(|i| ContractDetails::new(i, &q.exchange, now)).collect())
    }

    /// The one instrument `q` names (orders, market data): 200 if none or ambiguous.
    pub fn resolve(&self, q: &ContractQuery, now: DateTime<Utc>) -> Result<Instrument, MarketError> {
        self.instruments.resolve(q, now)
    }

    /// The instrument a control-API name means (`AAPL`, `ES`, `EUR.USD`, a conId).
    pub fn instrument(&self, name: &str, now: DateTime<Utc>) -> Result<Instrument, MarketError> {
        self.instruments.by_name(name, now)
    }

    /// reqMatchingSymbols.
    pub fn matching_symbols(&self, pattern: &str, now: DateTime<Utc>) -> Vec<ContractDescription> {
        self.instruments.matching_symbols(pattern, now)
    }

    fn by_con_id(&self, con_id: i32, now: DateTime<Utc>) -> Result<Instrument, MarketError> {
        self.instruments.by_con_id(con_id, now).ok_or(MarketError::NoSecurityDefinition)
    }

    // ---- prices -------------------------------------------------------------------------

    /// Advance `con_id`'s walk one step at `now`.
    pub fn step(&mut self, con_id: i32, now: DateTime<Utc>) -> Result<Quote, MarketError> {
        let inst = self.by_con_id(con_id, now)?;
        Ok(self.prices.step(&inst, now))
    }

    /// Move `con_id` to `price` at once (rounded to its tick); then [`Market::poll`].
    pub fn set_price(&mut self, con_id: i32, price: f64, now: DateTime<Utc>) -> Result<Quote, MarketError> {
        let inst = self.by_con_id(con_id, now)?;
        self.prices.set_price(&inst, price, now)
    }

    /// `POST /sim/price {"symbol", "price"}`: [`Market::set_price`] by name.
    pub fn set_symbol_price(&mut self, symbol: &str, price: f64, now: DateTime<Utc>) -> Result<Quote, MarketError> {
        let inst = self.instruments.by_name(symbol, now)?;
        self.prices.set_price(&inst, price, now)
    }

    /// The book of `con_id` (starting its walk if this is its first use).
    pub fn quote(&mut self, con_id: i32, now: DateTime<Utc>) -> Result<Quote, MarketError> {
        let inst = self.by_con_id(con_id, now)?;
        Ok(self.prices.ensure(&inst, now).quote().clone())
    }

    fn path(&mut self, con_id: i32, now: DateTime<Utc>) -> Result<PricePath<'_>, MarketError> {
        let inst = self.by_con_id(con_id, now)?;
        self.prices.ensure(&inst, now);
        Ok(PricePath::new(self.seed, self.prices.walk(con_id).expect("ensured")))
    }

    /// Ticks for a market-data round: the default set (unless `mdoff`) and the generic ticks
    /// of `generic_tick_list` (321 if one is not legal for the sec type).
    pub fn ticks(
        &mut self,
        con_id: i32,
        generic_tick_list: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Tick>, MarketError> {
        let seed = self.seed;
        let path = self.path(con_id, now)?;
        let generic = GenericTicks::parse(generic_tick_list, path.instrument().sec_type)?;
        Ok(ticks::ticks(&path, seed, &generic, now))
    }

    /// reqTickByTickData: the current value for `kind` (`Last`, `AllLast`, `BidAsk`, `MidPoint`).
    pub fn tick_by_tick(&mut self, con_id: i32, kind: &str, now: DateTime<Utc>) -> Result<TickByTick, MarketError> {
        let venue = match self.by_con_id(con_id, now)?.sec_type {
            SecType::Stk => "NASDAQ",
            SecType::Fut => "CME",
            _ => "IDEALPRO",
        };
        ticks::tick_by_tick(&self.path(con_id, now)?, kind, venue)
    }

    // ---- bars ---------------------------------------------------------------------------

    /// reqHistoricalData (keepUpToDate or not: the initial answer).
    pub fn historical_data(
        &mut self,
        con_id: i32,
        req: &HistoricalRequest,
        now: DateTime<Utc>,
    ) -> Result<HistoricalAnswer, MarketError> {
        let tz = self.options.time_zone;
        let inst = self.by_con_id(con_id, now)?;
        let query = bars::validate(&inst, req, tz, now)?;
        bars::historical(&self.path(con_id, now)?, &query)
    }

    /// The keepUpToDate subscription for `req` (after [`Market::historical_data`]).
    pub fn bar_updates(
        &mut self,
        con_id: i32,
        req: &HistoricalRequest,
        now: DateTime<Utc>,
    ) -> Result<BarUpdates, MarketError> {
        let inst = self.by_con_id(con_id, now)?;
        let query = bars::validate(
            &inst,
            &HistoricalRequest { keep_up_to_date: true, ..req.clone() },
            self.options.time_zone,
            now,
        )?;
        Ok(BarUpdates::new(con_id, query))
    }

    /// The bar in progress for a keepUpToDate subscription (`None` outside the session).
    pub fn bar_update(&mut self, updates: &BarUpdates, now: DateTime<Utc>) -> Option<Bar> {
        updates.current(&self.path(updates.con_id, now).ok()?, now)
    }

    /// reqHeadTimestamp.
    pub fn head_timestamp(
        &self,
        con_id: i32,
        what_to_show: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, MarketError> {
        bars::head_timestamp(&self.by_con_id(con_id, now)?, what_to_show)
    }

    /// reqRealTimeBars: the subscription; bars come from [`Market::poll_real_time_bars`].
    pub fn real_time_bars(
        &mut self,
        con_id: i32,
        what_to_show: &str,
        use_rth: bool,
        now: DateTime<Utc>,
    ) -> Result<RealTimeBars, MarketError> {
        self.path(con_id, now)?;
        RealTimeBars::new(con_id, what_to_show, use_rth, now)
    }

    /// The 5-second bars completed since the subscription's last poll.
    pub fn poll_real_time_bars(&mut self, bars: &mut RealTimeBars, now: DateTime<Utc>) -> Vec<Bar> {
        match self.path(bars.con_id, now) {
            Ok(path) => bars.poll(&path, now),
            Err(_) => Vec::new(),
        }
    }

    // ---- portfolio ----------------------------------------------------------------------

    fn marks(prices: &PriceBook) -> impl Fn(i32) -> Option<Mark> + '_ {
        move |con_id| {
            prices.quote(con_id).map(|q| Mark { price: if q.has_trades { q.last } else { q.mid() }, close: q.close })
        }
    }

    /// The account's portfolio, rolled to `now`'s day.
    fn portfolio_at(&mut self, account: &str, now: DateTime<Utc>) -> Result<&Portfolio, MarketError> {
        let name = self.account_name(account)?;
        let tz = self.options.time_zone;
        let marks = Self::marks(&self.prices);
        let acct = self.accounts.get_mut(&name).expect("named account exists");
        acct.portfolio.roll_day(tz, now, &marks);
        Ok(&acct.portfolio)
    }

    /// reqPositions rows (including positions closed today, at 0).
    pub fn positions(&mut self, account: &str, now: DateTime<Utc>) -> Result<Vec<Position>, MarketError> {
        Ok(self.portfolio_at(account, now)?.positions().cloned().collect())
    }

    /// reqAccountUpdates: updatePortfolio rows.
    pub fn portfolio(&mut self, account: &str, now: DateTime<Utc>) -> Result<Vec<PortfolioItem>, MarketError> {
        self.portfolio_at(account, now)?;
        let acct = &self.accounts[&self.account_name(account)?];
        Ok(acct.portfolio.portfolio_items(&Self::marks(&self.prices)))
    }

    /// reqAccountUpdates: updateAccountValue rows.
    pub fn account_values(&mut self, account: &str, now: DateTime<Utc>) -> Result<Vec<AccountValue>, MarketError> {
        self.portfolio_at(account, now)?;
        let acct = &self.accounts[&self.account_name(account)?];
        Ok(acct.portfolio.account_values(&Self::marks(&self.prices)))
    }

    /// reqAccountSummary(group "All", tags): rows for every account.
    pub fn account_summary(&mut self, tags: &str, now: DateTime<Utc>) -> Vec<AccountValue> {
        let names: Vec<String> = self.accounts.keys().cloned().collect();
        let mut out = Vec::new();
        for name in names {
            if self.portfolio_at(&name, now).is_ok() {
                out.extend(self.accounts[&name].portfolio.summary(tags, &Self::marks(&self.prices)));
            }
        }
        out
    }

    /// reqPnL.
    pub fn pnl(&mut self, account: &str, now: DateTime<Utc>) -> Result<Pnl, MarketError> {
        self.portfolio_at(account, now)?;
        let acct = &self.accounts[&self.account_name(account)?];
        Ok(acct.portfolio.pnl(&Self::marks(&self.prices)))
    }

    /// reqPnLSingle; `None` when the account never held `con_id`.
    pub fn pnl_single(
        &mut self,
        account: &str,
        con_id: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<PnlSingle>, MarketError> {
        self.portfolio_at(account, now)?;
        let acct = &self.accounts[&self.account_name(account)?];
        Ok(acct.portfolio.pnl_single(con_id, &Self::marks(&self.prices)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn market(seed: u64) -> Market {
        let mut m = Market::new(seed, MarketOptions::default());
        m.open_account("DU1", now());
        m
    }

    #[test]
    fn facade_resolves_quotes_and_ticks() {
        let mut m = market(3);
        let details = m.contract_details(&ContractQuery::stock("MSFT"), now()).unwrap();
        assert_eq!(details[0].instrument.con_id, 272_093);
        assert_eq!(m.contract_details(&ContractQuery::stock("ZZZZ"), now()).unwrap_err().code(), 200);
        let q = m.quote(272_093, now()).unwrap();
        assert!(q.bid < q.ask);
        let ticks = m.ticks(272_093, "233", now()).unwrap();
        assert!(ticks.iter().any(|t| t.tick_type() == 48));
        assert_eq!(m.ticks(272_093, "12345", now()).unwrap_err().code(), 321);
        assert_eq!(m.set_symbol_price("NOPE", 1.0, now()).unwrap_err().code(), 200);
        assert_eq!(m.set_symbol_price("MSFT", 415.0, now()).unwrap().last, 415.0);
        assert_eq!(m.matching_symbols("MSF", now())[0].symbol, "MSFT");
        assert_eq!(m.step(1, now()).unwrap_err().code(), 200);
        assert!(matches!(m.tick_by_tick(272_093, "BidAsk", now()).unwrap(), TickByTick::BidAsk { .. }));
    }

    #[test]
    fn same_seed_same_walk_and_same_bars_through_the_facade() {
        let run = |seed| {
            let mut m = market(seed);
            let walk: Vec<f64> =
                (0..300).map(|i| m.step(265_598, now() + chrono::Duration::seconds(i)).unwrap().last).collect();
            let req = HistoricalRequest {
                duration: "1 D".into(),
                bar_size: "5 mins".into(),
                what_to_show: "TRADES".into(),
                use_rth: true,
                ..Default::default()
            };
            let bars = m.historical_data(265_598, &req, now() + chrono::Duration::seconds(300)).unwrap();
            (walk, bars)
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9).0, run(10).0);
    }

    #[test]
    fn keep_up_to_date_and_real_time_bars_through_the_facade() {
        let mut m = market(4);
        let req = HistoricalRequest {
            duration: "1 D".into(),
            bar_size: "1 min".into(),
            what_to_show: "MIDPOINT".into(),
            use_rth: true,
            keep_up_to_date: true,
            ..Default::default()
        };
        assert!(matches!(m.historical_data(265_598, &req, now()).unwrap(), HistoricalAnswer::Bars(_)));
        let updates = m.bar_updates(265_598, &req, now()).unwrap();
        let mut rt = m.real_time_bars(265_598, "TRADES", false, now()).unwrap();
        for i in 0..11 {
            m.step(265_598, now() + chrono::Duration::seconds(i)).unwrap();
        }
        let bar = m.bar_update(&updates, now() + chrono::Duration::seconds(10)).unwrap();
        assert_eq!(bar.time, BarTime::Time(now()));
        assert_eq!(m.poll_real_time_bars(&mut rt, now() + chrono::Duration::seconds(11)).len(), 2);
        assert_eq!(m.head_timestamp(265_598, "TRADES", now()).unwrap().format("%Y%m%d").to_string(), "19801212");
    }

    #[test]
    fn accounts_and_master_client_id() {
        let mut m = market(5);
        m.open_account("DU2", now());
        m.open_account("DU1", now());
        assert_eq!(m.accounts(), ["DU1", "DU2"]);
        assert_eq!(m.positions("du2", now()).unwrap().len(), 0);
        assert_eq!(m.positions("DU9", now()).unwrap_err().code(), 201);
        assert_eq!(m.account_summary("NetLiquidation", now()).len(), 2);
        m.set_master_client_id(Some(9));
        assert_eq!(m.options().master_client_id, Some(9));
    }
}
