//! One account's money: positions, cash, realized P&L, and what `reqPositions`,
//! `reqAccountUpdates`, `reqAccountSummary`, `reqPnL` and `reqPnLSingle` report from them.
//!
//! Facts implemented (sources: IBKR Campus "Account & Portfolio Data", scraped copy
//! `johnnyicon/tws-api:docs/tws_api_docs/13_account_portfolio_data.md`; IB's Python
//! `account_summary_tags.py`):
//! - Average cost includes commissions ("RealizedPnL … (execution price + commissions to open
//!   the positions) – (execution price + commissions to close the position)"), per unit and
//!   times the multiplier (an ES position's averageCost is price·50 + commission). Realized
//!   P&L of a closing fill is therefore (exit·mult − avgCost)·qty − closing commission, and it
//!   is what the fill's commission report carries.
//! - Cash: stock and forex fills move cash by their value and commission; futures fills only
//!   by commission and, on closing, realized P&L (futures are marked to market, not paid for).
//!   Forex is held as a position valued in USD, not as a EUR cash balance (a simplification).
//! - `NetLiquidation` = cash + stock and forex market value + futures unrealized P&L ("Total
//!   cash value + stock value + options value + bond value"). `GrossPositionValue` = Σ |stock
//!   value|. Margin follows Reg T for stocks (initial 50 %, maintenance 25 % long / 30 % short),
//!   USD 16 000 / 14 500 per ES contract and 3 % / 2.5 % for forex (round figures).
//!   `AvailableFunds` = EWL − initial, `ExcessLiquidity` = EWL − maintenance, `BuyingPower` =
//!   available funds × 4 ("Standard Margin Account: … – Initial Margin *4"), `Cushion` = excess
//!   liquidity / net liquidation, `Leverage` = GPV / NetLiquidation. Settlement is not modelled
//!   (`SettledCash` = `TotalCashValue`).
//! - `reqAccountUpdates` keys come with a currency: `USD`, plus `BASE` for the ledger keys
//!   (`CashBalance`, `TotalCashBalance`, `NetLiquidationByCurrency`, `RealizedPnL`,
//!   `UnrealizedPnL`, `StockMarketValue`, `FuturesPNL`, `ExchangeRate`…); `-S` (securities
//!   segment) variants of the margin keys; `AccountCode`, `AccountType`, `AccountReady` and
//!   `Currency` as TWS sends them. Realized P&L "is reset to 0 once per day".
//! - `reqAccountSummary` tags are the `AccountSummaryTags` list (Python's `ReqTEquity` /
//!   `ReqTMargin` spellings answered as asked); `$LEDGER` relays the cash-balance tags in the
//!   base currency (currency `BASE`), `$LEDGER:USD` in USD, `$LEDGER:ALL` both.
//! - `updatePortfolio`: contract, position, marketPrice, marketValue, averageCost,
//!   unrealizedPNL, realizedPNL, accountName. `pnl(dailyPnL, unrealizedPnL, realizedPnL)`,
//!   `pnlSingle(pos, dailyPnL, unrealizedPnL, realizedPnL, value)`. Daily P&L is measured from
//!   the previous close at the start of the gateway's day (IB resets on a configurable
//!   schedule; the simulator uses the gateway's local midnight).
//! - Marks: last trade price (mid for forex).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::instruments::{Instrument, SecType};
use super::sessions::local_date;

/// A price for valuing a position: the mark and the previous close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub price: f64,
    pub close: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    pub instrument: Instrument,
    pub position: f64,
    /// Per unit, times the multiplier, commissions included.
    pub avg_cost: f64,
    /// Per unit, raw price, no commission (futures cash accounting).
    pub avg_price: f64,
    pub realized_today: f64,
    day: NaiveDate,
    day_open_position: f64,
    day_open_price: f64,
    day_cash_flow: f64,
}

impl Position {
    fn multiplier(&self) -> f64 {
        self.instrument.multiplier
    }

    pub fn market_value(&self, mark: f64) -> f64 {
        self.position * mark * self.multiplier()
    }

    pub fn unrealized(&self, mark: f64) -> f64 {
        self.market_value(mark) - self.position * self.avg_cost
    }

    /// Today's P&L: value now plus today's trade cash flows minus the value at the day start.
    pub fn daily(&self, mark: f64) -> f64 {
        self.market_value(mark) + self.day_cash_flow - self.day_open_position * self.day_open_price * self.multiplier()
    }
}

/// One `updateAccountValue` / `accountSummary` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountValue {
    pub key: String,
    pub value: String,
    pub currency: String,
    pub account: String,
}

/// One `updatePortfolio` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortfolioItem {
    pub instrument: Instrument,
    pub position: f64,
    pub market_price: f64,
    pub market_value: f64,
    pub average_cost: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pnl {
    pub daily_pnl: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PnlSingle {
    pub position: f64,
    pub daily_pnl: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub value: f64,
}

/// The account figures every report derives from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    pub cash: f64,
    pub stock_value: f64,
    pub forex_value: f64,
    pub futures_pnl: f64,
    pub net_liquidation: f64,
    pub gross_position_value: f64,
    pub equity_with_loan: f64,
    pub init_margin: f64,
    pub maint_margin: f64,
    pub available_funds: f64,
    pub excess_liquidity: f64,
    pub buying_power: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
}

const SUMMARY_TAGS: [&str; 29] = [
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "AccruedCash",
    "BuyingPower",
    "EquityWithLoanValue",
    "PreviousDayEquityWithLoanValue",
    "GrossPositionValue",
    "RegTEquity",
    "RegTMargin",
    "SMA",
    "InitMarginReq",
    "MaintMarginReq",
    "AvailableFunds",
    "ExcessLiquidity",
    "Cushion",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "LookAheadNextChange",
    "LookAheadInitMarginReq",
    "LookAheadMaintMarginReq",
    "LookAheadAvailableFunds",
    "LookAheadExcessLiquidity",
    "HighestSeverity",
    "DayTradesRemaining",
    "Leverage",
];

const LEDGER_TAGS: [&str; 12] = [
    "CashBalance",
    "TotalCashBalance",
    "AccruedCash",
    "StockMarketValue",
    "OptionMarketValue",
    "FutureOptionValue",
    "FuturesPNL",
    "NetLiquidationByCurrency",
    "UnrealizedPnL",
    "RealizedPnL",
    "ExchangeRate",
    "FundValue",
];

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// One account.
#[derive(Debug, Clone)]
pub struct Portfolio {
    pub account: String,
    cash: f64,
    realized_today: f64,
    day: NaiveDate,
    day_open_equity: f64,
    positions: BTreeMap<i32, Position>,
}

impl Portfolio {
    pub fn new(account: &str, starting_cash: f64, tz: Tz, now: DateTime<Utc>) -> Self {
        Self {
            account: account.to_owned(),
            cash: starting_cash,
            realized_today: 0.0,
            day: local_date(tz, now),
            day_open_equity: starting_cash,
            positions: BTreeMap::new(),
        }
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Start a new day at `now` if the gateway's date changed: realized P&L resets, daily
    /// P&L is measured from each instrument's previous close, flat positions are dropped.
    pub fn roll_day(&mut self, tz: Tz, now: DateTime<Utc>, marks: &dyn Fn(i32) -> Option<Mark>) {
        let today = local_date(tz, now);
        if today == self.day {
            return;
        }
        self.day_open_equity = self.figures(marks).equity_with_loan;
        self.day = today;
        self.realized_today = 0.0;
        self.positions.retain(|_, p| p.position != 0.0);
        for p in self.positions.values_mut() {
            p.day = today;
            p.realized_today = 0.0;
            p.day_open_position = p.position;
            p.day_open_price = marks(p.instrument.con_id).map(|m| m.close).unwrap_or(p.avg_price);
            p.day_cash_flow = 0.0;
        }
    }

    /// Book a fill: `sign` +1 buy / -1 sell. Returns the realized P&L when it closed any of
    /// the position.
    pub fn apply_fill(
        &mut self,
        instrument: &Instrument,
        sign: f64,
        qty: f64,
        price: f64,
        commission: f64,
    ) -> Option<f64> {
        let day = self.day;
        let p = self.positions.entry(instrument.con_id).or_insert_with(|| Position {
            instrument: instrument.clone(),
            position: 0.0,
            avg_cost: 0.0,
            avg_price: 0.0,
            realized_today: 0.0,
            day,
            day_open_position: 0.0,
            day_open_price: price,
            day_cash_flow: 0.0,
        });
        let m = instrument.multiplier;
        let pos0 = p.position;
        let closing = if pos0 != 0.0 && pos0.signum() != sign { qty.min(pos0.abs()) } else { 0.0 };
        let opening = qty - closing;
        let comm_close = commission * closing / qty;
        let comm_open = commission - comm_close;
        let mut realized = None;
        if closing > 0.0 {
            let r = pos0.signum() * (price * m - p.avg_cost) * closing - comm_close;
            if instrument.sec_type == SecType::Fut {
                self.cash += pos0.signum() * (price - p.avg_price) * m * closing;
            }
            p.realized_today += r;
            self.realized_today += r;
            realized = Some(r);
        }
        let remaining = pos0.abs() - closing;
        if opening > 0.0 {
            let unit_cost = price * m + sign * comm_open / opening;
            p.avg_cost = (remaining * p.avg_cost + opening * unit_cost) / (remaining + opening);
            p.avg_price = (remaining * p.avg_price + opening * price) / (remaining + opening);
        }
        p.position = pos0 + sign * qty;
        if p.position.abs() < 1e-9 {
            p.position = 0.0;
            p.avg_cost = 0.0;
            p.avg_price = 0.0;
        }
        p.day_cash_flow += -sign * qty * price * m - commission;
        if instrument.sec_type == SecType::Fut {
            self.cash -= commission;
        } else {
            self.cash -= sign * qty * price * m + commission;
        }
        realized
    }

    /// Positions, including those closed today (position 0), by conId.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values()
    }

    pub fn position(&self, con_id: i32) -> Option<&Position> {
        self.positions.get(&con_id)
    }

    pub fn figures(&self, marks: &dyn Fn(i32) -> Option<Mark>) -> Figures {
        let (mut stock_value, mut forex_value, mut futures_pnl, mut gross) = (0.0, 0.0, 0.0, 0.0);
        let (mut init, mut maint, mut unrealized) = (0.0, 0.0, 0.0);
        for p in self.positions.values().filter(|p| p.position != 0.0) {
            let mark = marks(p.instrument.con_id).map(|m| m.price).unwrap_or(p.avg_price);
            let value = p.market_value(mark);
            unrealized += p.unrealized(mark);
            match p.instrument.sec_type {
                SecType::Fut => {
                    futures_pnl += (mark - p.avg_price) * p.position * p.instrument.multiplier;
                    init += 16_000.0 * p.position.abs();
                    maint += 14_500.0 * p.position.abs();
                }
                SecType::Cash => {
                    forex_value += value;
                    init += 0.03 * value.abs();
                    maint += 0.025 * value.abs();
                }
                _ => {
                    stock_value += value;
                    gross += value.abs();
                    init += 0.5 * value.abs();
                    maint += if p.position > 0.0 { 0.25 } else { 0.30 } * value.abs();
                }
            }
        }
        let net = self.cash + stock_value + forex_value + futures_pnl;
        let available = net - init;
        Figures {
            cash: self.cash,
            stock_value,
            forex_value,
            futures_pnl,
            net_liquidation: net,
            gross_position_value: gross,
            equity_with_loan: net,
            init_margin: init,
            maint_margin: maint,
            available_funds: available,
            excess_liquidity: net - maint,
            buying_power: (available * 4.0).max(0.0),
            unrealized_pnl: unrealized,
            realized_pnl: self.realized_today,
        }
    }

    fn tag_value(&self, tag: &str, f: &Figures) -> Option<(String, &'static str)> {
        let usd = |v: f64| Some((money(v), "USD"));
        let cushion = if f.net_liquidation != 0.0 { f.excess_liquidity / f.net_liquidation } else { 0.0 };
        let leverage = if f.net_liquidation != 0.0 { f.gross_position_value / f.net_liquidation } else { 0.0 };
        match tag {
            "AccountType" => Some(("INDIVIDUAL".into(), "")),
            "NetLiquidation" => usd(f.net_liquidation),
            "TotalCashValue" | "SettledCash" => usd(f.cash),
            "AccruedCash" => usd(0.0),
            "BuyingPower" => usd(f.buying_power),
            "EquityWithLoanValue" | "RegTEquity" | "ReqTEquity" => usd(f.equity_with_loan),
            "PreviousDayEquityWithLoanValue" => usd(self.day_open_equity),
            "GrossPositionValue" => usd(f.gross_position_value),
            "RegTMargin" | "ReqTMargin" | "InitMarginReq" | "FullInitMarginReq" | "LookAheadInitMarginReq" => {
                usd(f.init_margin)
            }
            "SMA" => usd(f.available_funds.max(0.0)),
            "MaintMarginReq" | "FullMaintMarginReq" | "LookAheadMaintMarginReq" => usd(f.maint_margin),
            "AvailableFunds" | "FullAvailableFunds" | "LookAheadAvailableFunds" => usd(f.available_funds),
            "ExcessLiquidity" | "FullExcessLiquidity" | "LookAheadExcessLiquidity" => usd(f.excess_liquidity),
            "Cushion" => Some((format!("{cushion:.6}"), "")),
            "LookAheadNextChange" | "HighestSeverity" => Some(("0".into(), "")),
            "DayTradesRemaining" => Some(("-1".into(), "")),
            "Leverage" => Some((format!("{leverage:.4}"), "")),
            _ => None,
        }
    }

    fn ledger_value(&self, tag: &str, f: &Figures) -> Option<String> {
        Some(money(match tag {
            "CashBalance" | "TotalCashBalance" => f.cash,
            "StockMarketValue" => f.stock_value,
            "FuturesPNL" => f.futures_pnl,
            "NetLiquidationByCurrency" => f.net_liquidation,
            "UnrealizedPnL" => f.unrealized_pnl,
            "RealizedPnL" => f.realized_pnl,
            "ExchangeRate" => return Some("1.00".into()),
            "AccruedCash" | "OptionMarketValue" | "FutureOptionValue" | "FundValue" => 0.0,
            _ => return None,
        }))
    }

    fn row(&self, key: &str, value: String, currency: &str) -> AccountValue {
        AccountValue { key: key.to_owned(), value, currency: currency.to_owned(), account: self.account.clone() }
    }

    /// Everything `reqAccountUpdates` sends as `updateAccountValue`.
    pub fn account_values(&self, marks: &dyn Fn(i32) -> Option<Mark>) -> Vec<AccountValue> {
        let f = self.figures(marks);
        let mut out = vec![
            self.row("AccountCode", self.account.clone(), ""),
            self.row("AccountReady", "true".into(), ""),
            self.row("AccountType", "INDIVIDUAL".into(), ""),
            self.row("Currency", "BASE".into(), "BASE"),
            self.row("Currency", "USD".into(), "USD"),
            self.row("RealCurrency", "BASE".into(), "BASE"),
            self.row("RealCurrency", "USD".into(), "USD"),
        ];
        for tag in SUMMARY_TAGS.iter().filter(|t| !matches!(**t, "AccountType")) {
            if let Some((v, cur)) = self.tag_value(tag, &f) {
                out.push(self.row(tag, v.clone(), cur));
                if cur == "USD" && !tag.starts_with("LookAhead") && !tag.starts_with("Previous") {
                    out.push(self.row(&format!("{tag}-S"), v, cur));
                }
            }
        }
        for tag in LEDGER_TAGS {
            if let Some(v) = self.ledger_value(tag, &f) {
                out.push(self.row(tag, v.clone(), "BASE"));
                out.push(self.row(tag, v, "USD"));
            }
        }
        out
    }

    /// `reqAccountSummary(group, tags)` rows for this account.
    pub fn summary(&self, tags: &str, marks: &dyn Fn(i32) -> Option<Mark>) -> Vec<AccountValue> {
        let f = self.figures(marks);
        let mut out = Vec::new();
        for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let ledger = match tag {
                "$LEDGER" => Some(&["BASE"][..]),
                "$LEDGER:ALL" => Some(&["BASE", "USD"][..]),
                t if t.eq_ignore_ascii_case("$LEDGER:USD") => Some(&["USD"][..]),
                _ => None,
            };
            if let Some(currencies) = ledger {
                for cur in currencies {
                    for t in LEDGER_TAGS {
                        if let Some(v) = self.ledger_value(t, &f) {
                            out.push(self.row(t, v, cur));
                        }
                    }
                }
            } else if let Some((v, cur)) = self.tag_value(tag, &f) {
                out.push(self.row(tag, v, cur));
            }
        }
        out
    }

    /// `updatePortfolio` rows: every position, including those closed today.
    pub fn portfolio_items(&self, marks: &dyn Fn(i32) -> Option<Mark>) -> Vec<PortfolioItem> {
        self.positions
            .values()
            .map(|p| {
                let mark = marks(p.instrument.con_id).map(|m| m.price).unwrap_or(p.avg_price);
                PortfolioItem {
                    instrument: p.instrument.clone(),
                    position: p.position,
                    market_price: mark,
                    market_value: p.market_value(mark),
                    average_cost: p.avg_cost,
                    unrealized_pnl: p.unrealized(mark),
                    realized_pnl: p.realized_today,
                    account: self.account.clone(),
                }
            })
            .collect()
    }

    /// `reqPnL`.
    pub fn pnl(&self, marks: &dyn Fn(i32) -> Option<Mark>) -> Pnl {
        let mut daily = 0.0;
        let mut unrealized = 0.0;
        for p in self.positions.values() {
            let mark = marks(p.instrument.con_id).map(|m| m.price).unwrap_or(p.avg_price);
            daily += p.daily(mark);
            unrealized += p.unrealized(mark);
        }
        Pnl { daily_pnl: daily, unrealized_pnl: unrealized, realized_pnl: self.realized_today }
    }

    /// `reqPnLSingle(conId)`; `None` when the account never held it.
    pub fn pnl_single(&self, con_id: i32, marks: &dyn Fn(i32) -> Option<Mark>) -> Option<PnlSingle> {
        let p = self.positions.get(&con_id)?;
        let mark = marks(con_id).map(|m| m.price).unwrap_or(p.avg_price);
        Some(PnlSingle {
            position: p.position,
            daily_pnl: p.daily(mark),
            unrealized_pnl: p.unrealized(mark),
            realized_pnl: p.realized_today,
            value: p.market_value(mark),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::instruments::InstrumentTable;
    use chrono::TimeZone;

    const NY: Tz = chrono_tz::America::New_York;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 16, 0, 0).unwrap()
    }

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn round_trip_moves_position_avg_cost_cash_and_realized_pnl() {
        let aapl = InstrumentTable::new().by_name("AAPL", now()).unwrap();
        let mut pf = Portfolio::new("DU1", 1_000_000.0, NY, now());
        assert_eq!(pf.apply_fill(&aapl, 1.0, 100.0, 200.0, 1.0), None);
        let p = pf.position(aapl.con_id).unwrap();
        assert!(
            approx(p.position, 100.0) && approx(p.avg_cost, 200.01),
            "avg cost includes commission: {}",
            p.avg_cost
        );
        assert!(approx(pf.cash(), 1_000_000.0 - 20_000.0 - 1.0));
        let realized = pf.apply_fill(&aapl, -1.0, 100.0, 210.0, 1.0).unwrap();
        assert!(approx(realized, 100.0 * (210.0 - 200.01) - 1.0), "{realized}");
        assert!(approx(pf.cash(), 1_000_000.0 - 20_001.0 + 21_000.0 - 1.0));
        assert!(approx(pf.cash() - 1_000_000.0, realized), "cash change equals realized P&L");
        let p = pf.position(aapl.con_id).unwrap();
        assert_eq!((p.position, p.avg_cost), (0.0, 0.0));
        let marks = |_| Some(Mark { price: 210.0, close: 205.0 });
        let pnl = pf.pnl(&marks);
        assert!(
            approx(pnl.realized_pnl, realized) && approx(pnl.unrealized_pnl, 0.0) && approx(pnl.daily_pnl, realized)
        );
    }

    #[test]
    fn going_short_and_flipping() {
        let aapl = InstrumentTable::new().by_name("AAPL", now()).unwrap();
        let mut pf = Portfolio::new("DU1", 100_000.0, NY, now());
        pf.apply_fill(&aapl, -1.0, 50.0, 100.0, 1.0);
        let p = pf.position(aapl.con_id).unwrap();
        assert!(approx(p.position, -50.0) && approx(p.avg_cost, 100.0 - 1.0 / 50.0));
        // Buy 80: covers 50 (realized), opens 30 long.
        let r = pf.apply_fill(&aapl, 1.0, 80.0, 90.0, 1.6).unwrap();
        assert!(approx(r, 50.0 * (99.98 - 90.0) - 1.0), "{r}");
        let p = pf.position(aapl.con_id).unwrap();
        assert!(approx(p.position, 30.0) && approx(p.avg_cost, 90.0 + 0.6 / 30.0), "{p:?}");
    }

    #[test]
    fn account_values_are_consistent() {
        let t = InstrumentTable::new();
        let aapl = t.by_name("AAPL", now()).unwrap();
        let es = t.by_name("ES", now()).unwrap();
        let mut pf = Portfolio::new("DU1", 1_000_000.0, NY, now());
        pf.apply_fill(&aapl, 1.0, 100.0, 200.0, 1.0);
        pf.apply_fill(&es, 1.0, 2.0, 5000.0, 4.5);
        let marks = move |id| {
            Some(if id == aapl.con_id {
                Mark { price: 205.0, close: 199.0 }
            } else {
                Mark { price: 5010.0, close: 4990.0 }
            })
        };
        let f = pf.figures(&marks);
        assert!(approx(f.cash, 1_000_000.0 - 20_001.0 - 4.5));
        assert!(approx(f.stock_value, 20_500.0));
        assert!(approx(f.futures_pnl, 2.0 * 10.0 * 50.0));
        assert!(
            approx(f.net_liquidation, f.cash + f.stock_value + f.futures_pnl),
            "NetLiquidation = cash + market value"
        );
        assert!(approx(f.gross_position_value, 20_500.0));
        assert!(approx(f.available_funds, f.net_liquidation - f.init_margin));
        assert!(approx(f.buying_power, 4.0 * f.available_funds));
        let values = pf.account_values(&marks);
        let get = |k: &str, c: &str| values.iter().find(|v| v.key == k && v.currency == c).map(|v| v.value.clone());
        assert_eq!(get("NetLiquidation", "USD"), Some(format!("{:.2}", f.net_liquidation)));
        assert_eq!(get("NetLiquidation-S", "USD"), Some(format!("{:.2}", f.net_liquidation)));
        assert_eq!(get("TotalCashValue", "USD"), Some(format!("{:.2}", f.cash)));
        assert_eq!(get("CashBalance", "BASE"), get("CashBalance", "USD"));
        assert_eq!(get("Currency", "BASE").as_deref(), Some("BASE"));
        assert_eq!(get("AccountCode", "").as_deref(), Some("DU1"));
        let items = pf.portfolio_items(&marks);
        let a = items.iter().find(|i| i.instrument.con_id == aapl.con_id).unwrap();
        assert!(approx(a.market_value, 20_500.0) && approx(a.unrealized_pnl, 20_500.0 - 20_001.0));
        let s = pf.pnl_single(aapl.con_id, &marks).unwrap();
        assert!(approx(s.value, 20_500.0) && approx(s.position, 100.0));
    }

    #[test]
    fn summary_tags_and_ledger() {
        let pf = Portfolio::new("DU1", 250_000.0, NY, now());
        let none = |_| None;
        let rows = pf.summary("NetLiquidation,BuyingPower,ReqTEquity,Cushion,Nonsense", &none);
        let keys: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r.key.as_str(), r.value.as_str(), r.currency.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("NetLiquidation", "250000.00", "USD"),
                ("BuyingPower", "1000000.00", "USD"),
                ("ReqTEquity", "250000.00", "USD"),
                ("Cushion", "1.000000", "")
            ]
        );
        let ledger = pf.summary("$LEDGER", &none);
        assert!(
            ledger.iter().all(|r| r.currency == "BASE")
                && ledger.iter().any(|r| r.key == "CashBalance" && r.value == "250000.00")
        );
        assert_eq!(pf.summary("$LEDGER:ALL", &none).len(), 2 * ledger.len());
    }

    #[test]
    fn daily_pnl_resets_at_the_gateway_midnight() {
        let aapl = InstrumentTable::new().by_name("AAPL", now()).unwrap();
        let mut pf = Portfolio::new("DU1", 100_000.0, NY, now());
        pf.apply_fill(&aapl, 1.0, 10.0, 100.0, 1.0);
        pf.apply_fill(&aapl, -1.0, 5.0, 110.0, 1.0);
        let marks = |_| Some(Mark { price: 110.0, close: 108.0 });
        assert!(pf.pnl(&marks).realized_pnl > 0.0);
        let tomorrow = Utc.with_ymd_and_hms(2026, 1, 15, 15, 0, 0).unwrap();
        pf.roll_day(NY, tomorrow, &marks);
        let pnl = pf.pnl(&|_| Some(Mark { price: 112.0, close: 108.0 }));
        assert_eq!(pnl.realized_pnl, 0.0);
        assert!(approx(pnl.daily_pnl, 5.0 * (112.0 - 108.0)), "{pnl:?}");
    }
}
