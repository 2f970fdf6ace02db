//! The built-in instruments: a dozen US stocks and ETFs, the two nearest ES futures and
//! EUR.USD, with IB's identifiers and realistic figures.
//!
//! Facts implemented (sources):
//! - conIds are IB's real ones where confirmed in public code using live gateways: AAPL 265598,
//!   TSLA 76792991 (NASDAQ), NVDA 4815747 (NASDAQ), AMD 4391 (NASDAQ), SPY 756733 (ARCA),
//!   QQQ 320227571 (NASDAQ), IWM 9579970 (ARCA), EUR.USD 12087792 (IDEALPRO). MSFT 272093,
//!   AMZN 3691937, GOOGL 208813719, META 107113386, JPM 1520593 and the ES index 11004968 are
//!   IB's as commonly quoted but not cross-checked here. ES futures get stable invented conIds
//!   `600_000_000 + yyyymm` of their expiry (IB assigns a new conId to every expiry).
//! - NASDAQ stocks carry trading class / market name `NMS`; NYSE and ARCA listings use the
//!   symbol. Stocks and ETFs are `STK` routed via `SMART` with a real primary exchange.
//! - ES: multiplier 50, min tick 0.25, quarterly expiries (H, M, U, Z) on the third Friday,
//!   local symbol `ES` + month code + last digit of the year (e.g. `ESH6`), exchange `CME`
//!   (`GLOBEX` accepted as the legacy name), underlying `ES` `IND`.
//! - EUR.USD: symbol `EUR`, currency `USD`, secType `CASH`, exchange `IDEALPRO`, local symbol
//!   `EUR.USD`, min tick 0.00005.
//!
//! Prices (`base_price`, volatility, volume) are realistic round figures, not quotes.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

use super::instruments::{Instrument, SecType};
use super::sessions::Schedule;

fn utc_date(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("valid date")
}

const STOCK_EXCHANGES: &[&str] = &[
    "SMART", "AMEX", "NYSE", "CBOE", "PHLX", "ISE", "CHX", "ARCA", "ISLAND", "DRCTEDGE", "BEX", "BATS", "EDGEA", "BYX",
    "IEX", "EDGX", "PEARL", "MEMX",
];

#[allow(clippy::too_many_arguments)]
fn stock(
    con_id: i32,
    symbol: &str,
    primary: &str,
    long_name: &str,
    (industry, category, subcategory): (&str, &str, &str),
    etf: bool,
    (base_price, daily_vol, avg_volume): (f64, f64, f64),
    head: DateTime<Utc>,
    dividend: f64,
    isin: &str,
) -> Instrument {
    Instrument {
        con_id,
        symbol: symbol.into(),
        sec_type: SecType::Stk,
        primary_exchange: primary.into(),
        valid_exchanges: STOCK_EXCHANGES,
        currency: "USD".into(),
        local_symbol: symbol.into(),
        trading_class: if primary == "NASDAQ" { "NMS".into() } else { symbol.into() },
        multiplier: 1.0,
        last_trade_date: None,
        long_name: long_name.into(),
        industry: industry.into(),
        category: category.into(),
        subcategory: subcategory.into(),
        stock_type: if etf { "ETF".into() } else { "COMMON".into() },
        min_tick: 0.01,
        price_magnifier: 1,
        schedule: Schedule::UsEquity,
        base_price,
        daily_vol,
        avg_volume,
        head_timestamp: head,
        dividend,
        isin: isin.into(),
        underlying: None,
    }
}

/// IB's conId for the ES index (the futures' underlying).
pub const ES_INDEX_CON_ID: i32 = 11_004_968;

/// The third Friday of `year`-`month`.
fn third_friday(year: i32, month: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
    let to_friday = (Weekday::Fri.num_days_from_monday() + 7 - first.weekday().num_days_from_monday()) % 7;
    first + Duration::days(i64::from(to_friday) + 14)
}

/// The ES contract expiring in `year`-`month` (a quarterly month).
pub fn es_future(year: i32, month: u32) -> Instrument {
    let expiry = third_friday(year, month);
    let code = match month {
        3 => 'H',
        6 => 'M',
        9 => 'U',
        _ => 'Z',
    };
    Instrument {
        con_id: 600_000_000 + year * 100 + month as i32,
        symbol: "ES".into(),
        sec_type: SecType::Fut,
        primary_exchange: "CME".into(),
        valid_exchanges: &["CME"],
        currency: "USD".into(),
        local_symbol: format!("ES{code}{}", year % 10),
        trading_class: "ES".into(),
        multiplier: 50.0,
        last_trade_date: Some(expiry),
        long_name: "E-mini S&P 500".into(),
        industry: String::new(),
        category: String::new(),
        subcategory: String::new(),
        stock_type: String::new(),
        min_tick: 0.25,
        price_magnifier: 1,
        schedule: Schedule::CmeEquityIndex,
        base_price: 5800.0,
        daily_vol: 0.011,
        avg_volume: 1_500_000.0,
        // IB serves futures history up to two years back from expiry.
        head_timestamp: Utc.from_utc_datetime(&(expiry - Duration::days(730)).and_hms_opt(23, 0, 0).expect("valid")),
        dividend: 0.0,
        isin: String::new(),
        underlying: Some((ES_INDEX_CON_ID, "ES".into(), SecType::Ind)),
    }
}

/// The two nearest ES expiries still trading at `now` (trading stops 09:30 ET = 14:30 UTC in
/// winter on the expiry date; the simulator uses 13:30 UTC all year).
pub fn es_futures(now: DateTime<Utc>) -> [Instrument; 2] {
    let mut year = now.year();
    let mut month = (now.month() - 1) / 3 * 3 + 3;
    let mut out = Vec::with_capacity(2);
    while out.len() < 2 {
        let expiry = third_friday(year, month);
        if Utc.from_utc_datetime(&expiry.and_hms_opt(13, 30, 0).expect("valid")) > now {
            out.push(es_future(year, month));
        }
        month += 3;
        if month > 12 {
            month = 3;
            year += 1;
        }
    }
    [out.remove(0), out.remove(0)]
}

/// The fixed part of the table: stocks, ETFs and the forex pair.
pub fn builtin() -> Vec<Instrument> {
    let t = ("Technology", "Computers", "Computers");
    let semis = ("Technology", "Semiconductors", "Electronic Compo-Semicon");
    let internet = ("Communications", "Internet", "Internet Content-Entmnt");
    let etf = ("", "", "");
    vec![
        stock(
            265_598,
            "AAPL",
            "NASDAQ",
            "APPLE INC",
            t,
            false,
            (230.0, 0.016, 55e6),
            utc_date(1980, 12, 12, 14, 30),
            1.0,
            "US0378331005",
        ),
        stock(
            272_093,
            "MSFT",
            "NASDAQ",
            "MICROSOFT CORP",
            ("Technology", "Software", "Applications Software"),
            false,
            (420.0, 0.014, 22e6),
            utc_date(1986, 3, 13, 14, 30),
            3.3,
            "US5949181045",
        ),
        stock(
            3_691_937,
            "AMZN",
            "NASDAQ",
            "AMAZON.COM INC",
            ("Communications", "Internet", "E-Commerce/Products"),
            false,
            (190.0, 0.019, 45e6),
            utc_date(1997, 5, 15, 13, 30),
            0.0,
            "US0231351067",
        ),
        stock(
            208_813_719,
            "GOOGL",
            "NASDAQ",
            "ALPHABET INC-CL A",
            ("Communications", "Internet", "Web Portals/ISP"),
            false,
            (170.0, 0.018, 28e6),
            utc_date(2004, 8, 19, 13, 30),
            0.8,
            "US02079K3059",
        ),
        stock(
            107_113_386,
            "META",
            "NASDAQ",
            "META PLATFORMS INC-CLASS A",
            internet,
            false,
            (580.0, 0.022, 14e6),
            utc_date(2012, 5, 18, 13, 30),
            2.0,
            "US30303M1027",
        ),
        stock(
            4_815_747,
            "NVDA",
            "NASDAQ",
            "NVIDIA CORP",
            semis,
            false,
            (130.0, 0.030, 250e6),
            utc_date(1999, 1, 22, 14, 30),
            0.04,
            "US67066G1040",
        ),
        stock(
            76_792_991,
            "TSLA",
            "NASDAQ",
            "TESLA INC",
            ("Consumer, Cyclical", "Auto Manufacturers", "Auto-Cars/Light Trucks"),
            false,
            (250.0, 0.035, 95e6),
            utc_date(2010, 6, 29, 13, 30),
            0.0,
            "US88160R1014",
        ),
        stock(
            4_391,
            "AMD",
            "NASDAQ",
            "ADVANCED MICRO DEVICES",
            semis,
            false,
            (150.0, 0.030, 45e6),
            utc_date(1980, 3, 17, 14, 30),
            0.0,
            "US0079031078",
        ),
        stock(
            1_520_593,
            "JPM",
            "NYSE",
            "JPMORGAN CHASE & CO",
            ("Financial", "Banks", "Money Center Banks"),
            false,
            (220.0, 0.013, 9e6),
            utc_date(1980, 3, 17, 14, 30),
            4.8,
            "US46625H1005",
        ),
        stock(
            756_733,
            "SPY",
            "ARCA",
            "SPDR S&P 500 ETF TRUST",
            etf,
            true,
            (570.0, 0.010, 60e6),
            utc_date(1993, 1, 29, 14, 30),
            6.9,
            "US78462F1030",
        ),
        stock(
            320_227_571,
            "QQQ",
            "NASDAQ",
            "INVESCO QQQ TRUST SERIES 1",
            etf,
            true,
            (490.0, 0.013, 35e6),
            utc_date(1999, 3, 10, 14, 30),
            2.8,
            "US46090E1038",
        ),
        stock(
            9_579_970,
            "IWM",
            "ARCA",
            "ISHARES RUSSELL 2000 ETF",
            etf,
            true,
            (220.0, 0.015, 30e6),
            utc_date(2000, 5, 26, 13, 30),
            2.5,
            "US4642876555",
        ),
        Instrument {
            con_id: 12_087_792,
            symbol: "EUR".into(),
            sec_type: SecType::Cash,
            primary_exchange: "IDEALPRO".into(),
            valid_exchanges: &["IDEALPRO"],
            currency: "USD".into(),
            local_symbol: "EUR.USD".into(),
            trading_class: "EUR.USD".into(),
            multiplier: 1.0,
            last_trade_date: None,
            long_name: "European Monetary Union Euro".into(),
            industry: String::new(),
            category: String::new(),
            subcategory: String::new(),
            stock_type: String::new(),
            min_tick: 0.00005,
            price_magnifier: 1,
            schedule: Schedule::IdealPro,
            base_price: 1.08,
            daily_vol: 0.005,
            avg_volume: 5e9,
            head_timestamp: utc_date(2005, 1, 3, 0, 0),
            dividend: 0.0,
            isin: String::new(),
            underlying: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn third_fridays() {
        assert_eq!(third_friday(2026, 3), NaiveDate::from_ymd_opt(2026, 3, 20).unwrap());
        assert_eq!(third_friday(2026, 5), NaiveDate::from_ymd_opt(2026, 5, 15).unwrap());
        assert_eq!(third_friday(2025, 12), NaiveDate::from_ymd_opt(2025, 12, 19).unwrap());
    }

    #[test]
    fn builtin_table_is_consistent() {
        let now = utc_date(2026, 1, 14, 15, 0);
        let mut all = builtin();
        all.extend(es_futures(now));
        let ids: HashSet<i32> = all.iter().map(|i| i.con_id).collect();
        assert_eq!(ids.len(), all.len(), "conIds are unique");
        assert_eq!(all.iter().filter(|i| i.sec_type == SecType::Stk).count(), 12);
        for i in &all {
            assert!(i.on_tick(i.base_price), "{} base price off its tick", i.symbol);
            assert!(i.head_timestamp < now && i.daily_vol > 0.0 && i.avg_volume > 0.0);
            if i.sec_type == SecType::Stk {
                assert_eq!(i.valid_exchanges[0], "SMART");
                assert!(["NASDAQ", "NYSE", "ARCA"].contains(&i.primary_exchange.as_str()));
                assert_eq!(i.currency, "USD");
            }
        }
        assert_eq!(builtin().iter().find(|i| i.symbol == "AAPL").unwrap().con_id, 265_598);
    }
}
