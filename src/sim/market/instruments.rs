//! The built-in instrument table, and contract resolution as TWS does it for
//! `reqContractDetails`, `placeOrder` and `reqMatchingSymbols`.
//!
//! Facts implemented (sources):
//! - Resolution (`reqContractDetails`): a conId alone identifies the contract; otherwise
//!   symbol (or localSymbol) plus the other given fields, empty fields matching anything;
//!   `SMART` matches any stock listing; `lastTradeDateOrContractMonth` may be a month
//!   (`yyyymm`) or a date. Several matches are all returned by `reqContractDetails`; an order
//!   needs exactly one, else 200 "…is ambiguous" (IB error table, code 200).
//! - `reqMatchingSymbols`: "The input can be either the first few letters of the ticker
//!   symbol, or for longer strings, a character sequence matching a word in the security name
//!   … Up to 16 matching results are returned", each with the derivative sec types that exist
//!   (IBKR Campus, Contracts → Stock Symbol Search). The simulator returns stocks/ETFs and the
//!   ES index, not the forex pair (the search is documented as a stock search).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::error::MarketError;
use super::sessions::Schedule;
use super::table::{self, es_future, es_futures, ES_INDEX_CON_ID};

/// Security types the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SecType {
    Stk,
    Fut,
    Cash,
    Ind,
}

impl SecType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stk => "STK",
            Self::Fut => "FUT",
            Self::Cash => "CASH",
            Self::Ind => "IND",
        }
    }
}

/// One tradable contract and what the simulated market needs to quote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instrument {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: SecType,
    /// Listing exchange (`NASDAQ`, `NYSE`, `ARCA`, `CME`, `IDEALPRO`).
    pub primary_exchange: String,
    /// Exchanges an order may name (`SMART` first for stocks).
    pub valid_exchanges: &'static [&'static str],
    pub currency: String,
    pub local_symbol: String,
    pub trading_class: String,
    /// Contract multiplier (1 for stocks and forex).
    pub multiplier: f64,
    /// Last trade date (futures).
    pub last_trade_date: Option<NaiveDate>,
    pub long_name: String,
    pub industry: String,
    pub category: String,
    pub subcategory: String,
    /// `COMMON`, `ETF`, or empty.
    pub stock_type: String,
    pub min_tick: f64,
    pub price_magnifier: i32,
    pub schedule: Schedule,
    /// Where the random walk starts.
    pub base_price: f64,
    /// Daily volatility of the walk (fraction of price, one standard deviation).
    pub daily_vol: f64,
    /// Average daily volume in shares or contracts.
    pub avg_volume: f64,
    /// Earliest historical data (`reqHeadTimestamp`).
    pub head_timestamp: DateTime<Utc>,
    /// Dividends per share over the past and next 12 months (generic tick 456).
    pub dividend: f64,
    pub isin: String,
    /// Underlying (futures): conId, symbol, secType.
    pub underlying: Option<(i32, String, SecType)>,
}

impl Instrument {
    /// Whether an order or request naming `exchange` can reach this instrument.
    pub fn trades_on(&self, exchange: &str) -> bool {
        exchange.is_empty()
            || self.valid_exchanges.iter().any(|e| e.eq_ignore_ascii_case(exchange))
            || (exchange.eq_ignore_ascii_case("GLOBEX") && self.primary_exchange == "CME")
    }

    /// Round `price` to this instrument's tick grid.
    pub fn round_to_tick(&self, price: f64) -> f64 {
        let ticks = (price / self.min_tick).round();
        // Re-derive from integer ticks and trim float noise to the tick's decimals.
        let decimals = decimals_of(self.min_tick);
        let p = ticks * self.min_tick;
        let scale = 10f64.powi(decimals);
        (p * scale).round() / scale
    }

    /// Whether `price` lies on the tick grid (within float tolerance).
    pub fn on_tick(&self, price: f64) -> bool {
        let ticks = price / self.min_tick;
        (ticks - ticks.round()).abs() < 1e-6
    }

    /// The `lastTradeDateOrContractMonth` TWS reports (`yyyymmdd`), empty for stocks.
    pub fn last_trade_date_str(&self) -> String {
        self.last_trade_date.map(|d| d.format("%Y%m%d").to_string()).unwrap_or_default()
    }
}

fn decimals_of(tick: f64) -> i32 {
    (0..10).find(|d| ((tick * 10f64.powi(*d)).round() - tick * 10f64.powi(*d)).abs() < 1e-9).unwrap_or(10)
}

/// A contract as the client describes it; empty fields and `con_id == 0` match anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContractQuery {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: String,
    pub last_trade_date_or_contract_month: String,
    pub multiplier: String,
    pub exchange: String,
    pub primary_exchange: String,
    pub currency: String,
    pub local_symbol: String,
    pub trading_class: String,
}

impl ContractQuery {
    /// A stock on SMART in USD, the way engines usually ask for one.
    pub fn stock(symbol: &str) -> Self {
        Self {
            symbol: symbol.into(),
            sec_type: "STK".into(),
            exchange: "SMART".into(),
            currency: "USD".into(),
            ..Self::default()
        }
    }

    pub fn con_id(con_id: i32) -> Self {
        Self { con_id, ..Self::default() }
    }
}

/// One `reqMatchingSymbols` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractDescription {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: SecType,
    pub primary_exchange: String,
    pub currency: String,
    pub description: String,
    pub derivative_sec_types: Vec<&'static str>,
}

/// IB's cap on `reqMatchingSymbols` results.
pub const MATCHING_SYMBOLS_CAP: usize = 16;

/// The instruments the simulated market quotes.
#[derive(Debug, Clone)]
pub struct InstrumentTable {
    fixed: Vec<Instrument>,
}

impl Default for InstrumentTable {
    fn default() -> Self {
        Self::new()
    }
}

impl InstrumentTable {
    pub fn new() -> Self {
        Self { fixed: table::builtin() }
    }

    /// Every instrument quoted at `now` (the futures depend on the date).
    pub fn all(&self, now: DateTime<Utc>) -> Vec<Instrument> {
        let mut all = self.fixed.clone();
        all.extend(es_futures(now));
        all
    }

    /// The instrument with `con_id`, if the table has it at `now` (or ever had: an expired
    /// ES conId still resolves so its positions keep a contract).
    pub fn by_con_id(&self, con_id: i32, now: DateTime<Utc>) -> Option<Instrument> {
        if let Some(i) = self.fixed.iter().find(|i| i.con_id == con_id) {
            return Some(i.clone());
        }
        let yyyymm = con_id - 600_000_000;
        let (year, month) = (yyyymm / 100, (yyyymm % 100) as u32);
        if (2000..2100).contains(&year) && matches!(month, 3 | 6 | 9 | 12) {
            return Some(es_future(year, month));
        }
        let _ = now;
        None
    }

    /// The instrument a control-API name means: a symbol (`ES` = the front month), a local
    /// symbol (`EUR.USD`, `ESH6`) or a conId.
    pub fn by_name(&self, name: &str, now: DateTime<Utc>) -> Result<Instrument, MarketError> {
        let all = self.all(now);
        let found = all
            .iter()
            .find(|i| i.symbol.eq_ignore_ascii_case(name) || i.local_symbol.eq_ignore_ascii_case(name))
            .cloned()
            .or_else(|| name.parse::<i32>().ok().and_then(|id| self.by_con_id(id, now)));
        found.ok_or_else(|| MarketError::UnknownInstrument(name.to_owned()))
    }

    /// All instruments matching `q`, as `reqContractDetails` returns them.
    pub fn lookup(&self, q: &ContractQuery, now: DateTime<Utc>) -> Result<Vec<Instrument>, MarketError> {
        if q.con_id > 0 {
            return self
                .by_con_id(q.con_id, now)
                .filter(|i| i.trades_on(&q.exchange))
                .map(|i| vec![i])
                .ok_or(MarketError::NoSecurityDefinition);
        }
        if q.symbol.is_empty() && q.local_symbol.is_empty() {
            return Err(MarketError::NoSecurityDefinition);
        }
        let eq = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
        let found: Vec<Instrument> = self
            .all(now)
            .into_iter()
            .filter(|i| eq(&q.symbol, &i.symbol))
            .filter(|i| eq(&q.local_symbol, &i.local_symbol))
            .filter(|i| eq(&q.sec_type, i.sec_type.as_str()))
            .filter(|i| eq(&q.currency, &i.currency))
            .filter(|i| eq(&q.trading_class, &i.trading_class))
            .filter(|i| i.trades_on(&q.exchange))
            .filter(|i| {
                q.primary_exchange.is_empty()
                    || q.primary_exchange.eq_ignore_ascii_case(&i.primary_exchange)
                    || (q.primary_exchange.eq_ignore_ascii_case("ISLAND") && i.primary_exchange == "NASDAQ")
            })
            .filter(|i| {
                q.last_trade_date_or_contract_month.is_empty()
                    || i.last_trade_date_str().starts_with(q.last_trade_date_or_contract_month.as_str())
            })
            .filter(|i| q.multiplier.is_empty() || q.multiplier.parse::<f64>().is_ok_and(|m| m == i.multiplier))
            .collect();
        if found.is_empty() {
            Err(MarketError::NoSecurityDefinition)
        } else {
            Ok(found)
        }
    }

    /// The single instrument `q` names, as an order or a market-data request needs it.
    pub fn resolve(&self, q: &ContractQuery, now: DateTime<Utc>) -> Result<Instrument, MarketError> {
        let mut found = self.lookup(q, now)?;
        if found.len() > 1 {
            let symbol = if q.symbol.is_empty() { q.local_symbol.clone() } else { q.symbol.clone() };
            return Err(MarketError::AmbiguousContract { symbol });
        }
        Ok(found.remove(0))
    }

    /// `reqMatchingSymbols(pattern)`: symbol prefix matches (exact match first), then
    /// security-name word matches, at most [`MATCHING_SYMBOLS_CAP`].
    pub fn matching_symbols(&self, pattern: &str, now: DateTime<Utc>) -> Vec<ContractDescription> {
        let p = pattern.trim().to_ascii_uppercase();
        if p.is_empty() {
            return Vec::new();
        }
        let mut candidates: Vec<ContractDescription> = self
            .fixed
            .iter()
            .filter(|i| i.sec_type == SecType::Stk)
            .map(|i| ContractDescription {
                con_id: i.con_id,
                symbol: i.symbol.clone(),
                sec_type: i.sec_type,
                primary_exchange: i.primary_exchange.clone(),
                currency: i.currency.clone(),
                description: i.long_name.clone(),
                derivative_sec_types: vec!["CFD", "OPT", "IOPT", "WAR", "BAG"],
            })
            .collect();
        let es = &es_futures(now)[0];
        candidates.push(ContractDescription {
            con_id: ES_INDEX_CON_ID,
            symbol: "ES".into(),
            sec_type: SecType::Ind,
            primary_exchange: "CME".into(),
            currency: "USD".into(),
            description: es.long_name.clone(),
            derivative_sec_types: vec!["FUT", "FOP"],
        });
        let rank = |c: &ContractDescription| -> Option<u8> {
            if c.symbol == p {
                Some(0)
            } else if c.symbol.starts_with(&p) {
                Some(1)
            } else if p.len() >= 2
                && c.description.to_ascii_uppercase().split([' ', '-', '.']).any(|w| w.starts_with(&p))
            {
                Some(2)
            } else {
                None
            }
        };
        let mut ranked: Vec<(u8, ContractDescription)> =
            candidates.drain(..).filter_map(|c| rank(&c).map(|r| (r, c))).collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.symbol.cmp(&b.1.symbol)));
        ranked.into_iter().map(|(_, c)| c).take(MATCHING_SYMBOLS_CAP).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc_date(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc_date(2026, 1, 14, 15, 0)
    }

    #[test]
    fn stock_lookup_by_symbol_and_smart_and_by_con_id() {
        let t = InstrumentTable::new();
        let aapl = t.resolve(&ContractQuery::stock("AAPL"), now()).unwrap();
        assert_eq!(
            (aapl.con_id, aapl.primary_exchange.as_str(), aapl.trading_class.as_str()),
            (265_598, "NASDAQ", "NMS")
        );
        assert_eq!(t.resolve(&ContractQuery::con_id(265_598), now()).unwrap().symbol, "AAPL");
        // Lower case symbol, exchange named as a venue, primary exchange given.
        let q = ContractQuery {
            symbol: "jpm".into(),
            exchange: "NYSE".into(),
            primary_exchange: "NYSE".into(),
            ..Default::default()
        };
        assert_eq!(t.resolve(&q, now()).unwrap().con_id, 1_520_593);
    }

    #[test]
    fn unknown_or_mismatched_contract_is_error_200() {
        let t = InstrumentTable::new();
        for q in [
            ContractQuery::stock("NOPE"),
            ContractQuery { currency: "EUR".into(), ..ContractQuery::stock("AAPL") },
            ContractQuery { exchange: "IDEALPRO".into(), ..ContractQuery::stock("AAPL") },
            ContractQuery::con_id(1),
            ContractQuery::default(),
        ] {
            let e = t.lookup(&q, now()).unwrap_err();
            assert_eq!(
                (e.code(), e.to_string().as_str()),
                (200, "No security definition has been found for the request"),
                "{q:?}"
            );
        }
    }

    #[test]
    fn futures_front_month_ambiguity_and_forex() {
        let t = InstrumentTable::new();
        let es =
            ContractQuery { symbol: "ES".into(), sec_type: "FUT".into(), exchange: "CME".into(), ..Default::default() };
        let both = t.lookup(&es, now()).unwrap();
        assert_eq!(both.iter().map(|i| i.local_symbol.as_str()).collect::<Vec<_>>(), ["ESH6", "ESM6"]);
        assert_eq!(both[0].last_trade_date, NaiveDate::from_ymd_opt(2026, 3, 20));
        assert_eq!(both[0].multiplier, 50.0);
        let e = t.resolve(&es, now()).unwrap_err();
        assert_eq!((e.code(), e.to_string()), (200, "The contract description specified for ES is ambiguous.".into()));
        let front =
            ContractQuery { last_trade_date_or_contract_month: "202603".into(), exchange: "GLOBEX".into(), ..es };
        assert_eq!(t.resolve(&front, now()).unwrap().con_id, 600_202_603);
        assert_eq!(t.by_con_id(600_202_603, now()).unwrap().local_symbol, "ESH6");
        let fx = ContractQuery {
            symbol: "EUR".into(),
            sec_type: "CASH".into(),
            currency: "USD".into(),
            exchange: "IDEALPRO".into(),
            ..Default::default()
        };
        assert_eq!(t.resolve(&fx, now()).unwrap().con_id, 12_087_792);
        assert_eq!(t.by_name("eur.usd", now()).unwrap().con_id, 12_087_792);
        // After the March expiry the front month rolls to June.
        assert_eq!(es_futures(utc_date(2026, 3, 20, 14, 0))[0].local_symbol, "ESM6");
    }

    #[test]
    fn matching_symbols_prefix_then_name_capped_at_16() {
        let t = InstrumentTable::new();
        let m = t.matching_symbols("am", now());
        assert_eq!(m.iter().map(|c| c.symbol.as_str()).collect::<Vec<_>>(), ["AMD", "AMZN"]);
        // A word of the security name matches too: "MICRO" finds ADVANCED MICRO DEVICES and MICROSOFT.
        let m = t.matching_symbols("micro", now());
        assert_eq!(m.iter().map(|c| c.symbol.as_str()).collect::<Vec<_>>(), ["AMD", "MSFT"]);
        let m = t.matching_symbols("amazon", now());
        assert_eq!(m[0].symbol, "AMZN");
        assert!(m[0].derivative_sec_types.contains(&"OPT"));
        let exact = t.matching_symbols("ES", now());
        assert_eq!(
            (exact[0].symbol.as_str(), exact[0].sec_type, exact[0].derivative_sec_types.clone()),
            ("ES", SecType::Ind, vec!["FUT", "FOP"])
        );
        assert!(t.matching_symbols("", now()).is_empty());
        assert!(t.matching_symbols("a", now()).len() <= MATCHING_SYMBOLS_CAP);
    }

    #[test]
    fn tick_rounding() {
        let t = InstrumentTable::new();
        let es = t.by_name("ES", now()).unwrap();
        assert_eq!(es.round_to_tick(5800.13), 5800.25);
        assert!(es.on_tick(5800.75) && !es.on_tick(5800.1));
        let fx = t.by_name("EUR.USD", now()).unwrap();
        assert_eq!(fx.round_to_tick(1.080_07), 1.08005);
    }
}
