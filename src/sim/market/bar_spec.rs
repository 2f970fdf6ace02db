//! What a `reqHistoricalData` / `reqRealTimeBars` request asks for, parsed and validated the
//! way TWS does, with TWS's error codes.
//!
//! Facts implemented (sources: IBKR Campus "Market Data: Historical", scraped copy
//! `johnnyicon/tws-api:docs/tws_api_docs/20_market_data_historical.md`, unless noted):
//! - Bar sizes: secs 1, 5, 10, 15, 30; mins 1, 2, 3, 5, 10, 15, 20, 30; hours 1, 2, 3, 4, 8;
//!   1 day; 1 week; 1 month. Spelled as TWS lists them in its 321 error ("1 secs, 5 secs, …,
//!   1 min, 2 mins, …, 1 hour, 2 hours, …, 1 day, 1W, 1M", `wboayue/rust-ibapi#245`);
//!   `1 week` / `1 month` (the older documented spellings) are accepted too. `1 sec` is
//!   refused since April 2023 (`ib-ruby/ib-api#32`).
//! - Duration units S, D, W, M, Y. Max duration per unit: 86400 S, 365 D, 52 W, 12 M, 68 Y
//!   ("Max Duration Per Bar Size"); `1 secs` bars only with S up to 2000 S. Longer than 365
//!   days must be in years: 321 "Historical data requests for durations longer than 365 days
//!   must be made in years." (`ib-api-reloaded/ib_async#229`); the S/W/M limits reuse that
//!   wording (TWS's exact text for them is not known).
//! - Step sizes, smallest bar per duration unit: S → 1 secs, D → 5 secs, W → 10 secs, M →
//!   30 secs, Y → 1 min ("Step Sizes"); a smaller bar is answered 162 "…:invalid step: N"
//!   (N the bar's seconds; `wrighter/ib-scripts#1`, 1 D of 1 secs → "invalid step: 1"). The
//!   table's upper bounds are not enforced: the same page requests "1 M" of "1 day" bars.
//! - More than [`MAX_BARS`] bars: 162 "Time length exceed max." (TWS refuses over-large
//!   queries this way; the cap itself is the simulator's). Generating bars costs about
//!   20 µs each in a debug build (6 M of 1-min RTH bars, 51 420 bars: ≈1.1 s), so the
//!   gateway should not hold a lock other sessions wait on for the largest requests.
//! - End date/time: empty = now; `yyyymmdd hh:mm:ss` in the gateway's zone (deprecated);
//!   `yyyymmdd hh:mm:ss TZ`; `yyyymmdd-hh:mm:ss` in UTC; a time without date = today.
//!   Anything else: 10314 with TWS's text (`atreyuxtrading/atreyu-backtrader-api#6`).
//! - `whatToShow`: TRADES, MIDPOINT, BID, ASK, BID_ASK, ADJUSTED_LAST, HISTORICAL_VOLATILITY,
//!   OPTION_IMPLIED_VOLATILITY, FEE_RATE, REBATE_RATE, YIELD_BID, YIELD_ASK, YIELD_BID_ASK,
//!   YIELD_LAST, SCHEDULE, AGGTRADES. keepUpToDate only with TRADES, MIDPOINT, BID, ASK, bars
//!   of 5 secs or more, and an empty end ("Keep Up To Date"). Real-time bars: 5-second bars of
//!   TRADES, MIDPOINT, BID or ASK ("5 Second Bars").

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::error::MarketError;

/// Cap on bars one request may return.
pub const MAX_BARS: u64 = 100_000;

/// A historical bar size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarSize {
    Secs(u32),
    Mins(u32),
    Hours(u32),
    Day,
    Week,
    Month,
}

const LEGAL_BAR_SIZES: &str = "1 secs, 5 secs, 10 secs, 15 secs, 30 secs, 1 min, 2 mins, 3 mins, 5 mins, 10 mins, \
                               15 mins, 20 mins, 30 mins, 1 hour, 2 hours, 3 hours, 4 hours, 8 hours, 1 day, 1W, 1M";

impl BarSize {
    /// Every bar size TWS accepts, smallest first.
    pub const ALL: [BarSize; 21] = [
        Self::Secs(1),
        Self::Secs(5),
        Self::Secs(10),
        Self::Secs(15),
        Self::Secs(30),
        Self::Mins(1),
        Self::Mins(2),
        Self::Mins(3),
        Self::Mins(5),
        Self::Mins(10),
        Self::Mins(15),
        Self::Mins(20),
        Self::Mins(30),
        Self::Hours(1),
        Self::Hours(2),
        Self::Hours(3),
        Self::Hours(4),
        Self::Hours(8),
        Self::Day,
        Self::Week,
        Self::Month,
    ];

    pub fn parse(s: &str) -> Result<Self, MarketError> {
        let s = s.trim();
        Self::ALL.into_iter().find(|b| b.as_str() == s || b.alias() == Some(s)).ok_or_else(|| MarketError::Validation {
            token: "bK",
            cause: format!("Historical data bar size setting is invalid. Legal ones are: {LEGAL_BAR_SIZES}"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secs(1) => "1 secs",
            Self::Secs(5) => "5 secs",
            Self::Secs(10) => "10 secs",
            Self::Secs(15) => "15 secs",
            Self::Secs(_) => "30 secs",
            Self::Mins(1) => "1 min",
            Self::Mins(2) => "2 mins",
            Self::Mins(3) => "3 mins",
            Self::Mins(5) => "5 mins",
            Self::Mins(10) => "10 mins",
            Self::Mins(15) => "15 mins",
            Self::Mins(20) => "20 mins",
            Self::Mins(_) => "30 mins",
            Self::Hours(1) => "1 hour",
            Self::Hours(2) => "2 hours",
            Self::Hours(3) => "3 hours",
            Self::Hours(4) => "4 hours",
            Self::Hours(_) => "8 hours",
            Self::Day => "1 day",
            Self::Week => "1W",
            Self::Month => "1M",
        }
    }

    fn alias(self) -> Option<&'static str> {
        match self {
            Self::Week => Some("1 week"),
            Self::Month => Some("1 month"),
            _ => None,
        }
    }

    /// Length in seconds (nominal for day, week and month bars).
    pub fn seconds(self) -> i64 {
        match self {
            Self::Secs(n) => i64::from(n),
            Self::Mins(n) => 60 * i64::from(n),
            Self::Hours(n) => 3600 * i64::from(n),
            Self::Day => 86_400,
            Self::Week => 7 * 86_400,
            Self::Month => 30 * 86_400,
        }
    }

    /// Bars shorter than a day are time-stamped; day and longer bars carry a date only.
    pub fn is_intraday(self) -> bool {
        self.seconds() < 86_400
    }
}

/// A duration unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    S,
    D,
    W,
    M,
    Y,
}

/// A duration string such as `"60 S"` or `"2 W"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec {
    pub count: u32,
    pub unit: DurationUnit,
}

impl DurationSpec {
    pub fn parse(s: &str) -> Result<Self, MarketError> {
        let bad = || {
            MarketError::Validation {
            token: "bH",
            // TWS's exact wording for a malformed duration is not known; this names the rule.
            cause: format!("Historical data duration string '{s}' is invalid. The format is an integer, a space and one of S, D, W, M, Y."),
        }
        };
        let mut parts = s.split_whitespace();
        let (Some(n), Some(u), None) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        let count: u32 = n.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let unit = match u {
            "S" => DurationUnit::S,
            "D" => DurationUnit::D,
            "W" => DurationUnit::W,
            "M" => DurationUnit::M,
            "Y" => DurationUnit::Y,
            _ => return Err(bad()),
        };
        let longer = |what: &str, next: &str| MarketError::Validation {
            token: "bH",
            cause: format!("Historical data requests for durations longer than {what} must be made in {next}."),
        };
        match unit {
            DurationUnit::S if count > 86_400 => Err(longer("86400 seconds", "days")),
            DurationUnit::D if count > 365 => Err(longer("365 days", "years")),
            DurationUnit::W if count > 52 => Err(longer("52 weeks", "years")),
            DurationUnit::M if count > 12 => Err(longer("12 months", "years")),
            DurationUnit::Y if count > 68 => Err(MarketError::HistoricalService("Time length exceed max.".into())),
            _ => Ok(Self { count, unit }),
        }
    }

    /// Rough length in seconds, for estimating the number of bars.
    pub fn approx_seconds(self) -> i64 {
        let n = i64::from(self.count);
        match self.unit {
            DurationUnit::S => n,
            DurationUnit::D => n * 86_400,
            DurationUnit::W => n * 7 * 86_400,
            DurationUnit::M => n * 31 * 86_400,
            DurationUnit::Y => n * 366 * 86_400,
        }
    }

    /// Whether `bar` may be used with this duration (the step-size rule), as TWS answers it.
    pub fn check_bar(self, bar: BarSize) -> Result<(), MarketError> {
        let min = match self.unit {
            DurationUnit::S => 1,
            DurationUnit::D => 5,
            DurationUnit::W => 10,
            DurationUnit::M => 30,
            DurationUnit::Y => 60,
        };
        if bar.seconds() < min {
            return Err(MarketError::HistoricalService(format!("invalid step: {}", bar.seconds())));
        }
        if bar == BarSize::Secs(1) && (self.unit != DurationUnit::S || self.count > 2000) {
            return Err(MarketError::HistoricalService("invalid step: 1".into()));
        }
        Ok(())
    }
}

/// `whatToShow` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatToShow {
    Trades,
    Midpoint,
    Bid,
    Ask,
    BidAsk,
    AdjustedLast,
    HistoricalVolatility,
    OptionImpliedVolatility,
    FeeRate,
    RebateRate,
    YieldBid,
    YieldAsk,
    YieldBidAsk,
    YieldLast,
    Schedule,
    AggTrades,
}

impl WhatToShow {
    const ALL: [(WhatToShow, &'static str); 16] = [
        (Self::Trades, "TRADES"),
        (Self::Midpoint, "MIDPOINT"),
        (Self::Bid, "BID"),
        (Self::Ask, "ASK"),
        (Self::BidAsk, "BID_ASK"),
        (Self::AdjustedLast, "ADJUSTED_LAST"),
        (Self::HistoricalVolatility, "HISTORICAL_VOLATILITY"),
        (Self::OptionImpliedVolatility, "OPTION_IMPLIED_VOLATILITY"),
        (Self::FeeRate, "FEE_RATE"),
        (Self::RebateRate, "REBATE_RATE"),
        (Self::YieldBid, "YIELD_BID"),
        (Self::YieldAsk, "YIELD_ASK"),
        (Self::YieldBidAsk, "YIELD_BID_ASK"),
        (Self::YieldLast, "YIELD_LAST"),
        (Self::Schedule, "SCHEDULE"),
        (Self::AggTrades, "AGGTRADES"),
    ];

    pub fn parse(s: &str) -> Result<Self, MarketError> {
        Self::ALL.iter().find(|(_, name)| name.eq_ignore_ascii_case(s.trim())).map(|(w, _)| *w).ok_or_else(|| {
            MarketError::Validation {
                token: "bW",
                // TWS's exact wording is not known; this lists what it accepts.
                cause: format!(
                    "Historical data type '{s}' is invalid. Valid values are: {}",
                    Self::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(w, _)| *w == self).map(|(_, n)| *n).expect("every variant is listed")
    }

    /// Whether keepUpToDate and real-time bars accept this type.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Trades | Self::Midpoint | Self::Bid | Self::Ask)
    }
}

/// IB time-zone names clients put after an end date/time, mapped to IANA zones.
fn zone(name: &str) -> Option<Tz> {
    let alias = match name {
        "EST" | "EDT" | "EST5EDT" => "America/New_York",
        "CST" | "CDT" | "CST6CDT" => "America/Chicago",
        "MST" | "MDT" => "America/Denver",
        "PST" | "PDT" => "America/Los_Angeles",
        "GMT" | "UTC" | "Z" => "UTC",
        "MET" | "CET" => "Europe/Berlin",
        other => other,
    };
    alias.parse().ok()
}

/// Parse a historical request's end date/time; `local` is the gateway's zone.
pub fn parse_end(s: &str, local: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, MarketError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(now);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y%m%d-%H:%M:%S") {
        return Ok(Utc.from_utc_datetime(&t));
    }
    let mut parts = s.split_whitespace();
    let first = parts.next().ok_or(MarketError::EndDateTime)?;
    let (date, time) = match NaiveDate::parse_from_str(first, "%Y%m%d") {
        Ok(d) => (Some(d), parts.next().ok_or(MarketError::EndDateTime)?),
        Err(_) => (None, first),
    };
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S").map_err(|_| MarketError::EndDateTime)?;
    let tz = match (parts.next(), parts.next()) {
        (None, _) => local,
        (Some(z), None) => zone(z).ok_or(MarketError::EndDateTime)?,
        _ => return Err(MarketError::EndDateTime),
    };
    let date = date.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(MarketError::EndDateTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_bar_size_parses_and_others_get_tws_321() {
        for b in BarSize::ALL {
            assert_eq!(BarSize::parse(b.as_str()).unwrap(), b);
        }
        assert_eq!(BarSize::parse("1 week").unwrap(), BarSize::Week);
        assert_eq!(BarSize::parse("1 month").unwrap(), BarSize::Month);
        for bad in ["1 sec", "7 mins", "1 hours", "2 days", ""] {
            let e = BarSize::parse(bad).unwrap_err();
            assert_eq!(e.code(), 321, "{bad}");
            assert_eq!(
                e.to_string(),
                "Error validating request.-'bK' : cause - Historical data bar size setting is invalid. Legal ones are: \
                 1 secs, 5 secs, 10 secs, 15 secs, 30 secs, 1 min, 2 mins, 3 mins, 5 mins, 10 mins, 15 mins, 20 mins, \
                 30 mins, 1 hour, 2 hours, 3 hours, 4 hours, 8 hours, 1 day, 1W, 1M"
            );
        }
    }

    #[test]
    fn durations_and_their_limits() {
        assert_eq!(DurationSpec::parse("60 S").unwrap(), DurationSpec { count: 60, unit: DurationUnit::S });
        assert_eq!(DurationSpec::parse("2 W").unwrap().unit, DurationUnit::W);
        for bad in ["60", "S 60", "0 D", "-1 D", "1 X", "1 d", "1.5 D", "1 D extra"] {
            assert_eq!(DurationSpec::parse(bad).unwrap_err().code(), 321, "{bad}");
        }
        let e = DurationSpec::parse("366 D").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error validating request.-'bH' : cause - Historical data requests for durations longer than 365 days must be made in years."
        );
        assert_eq!(DurationSpec::parse("86401 S").unwrap_err().code(), 321);
        assert_eq!(DurationSpec::parse("69 Y").unwrap_err().code(), 162);
    }

    #[test]
    fn step_sizes_refuse_too_small_bars_with_162() {
        let d = DurationSpec::parse("1 D").unwrap();
        let e = d.check_bar(BarSize::Secs(1)).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (162, "Historical Market Data Service error message:invalid step: 1".into())
        );
        assert!(d.check_bar(BarSize::Secs(5)).is_ok());
        assert!(DurationSpec::parse("1 Y").unwrap().check_bar(BarSize::Secs(30)).is_err());
        assert!(DurationSpec::parse("1 Y").unwrap().check_bar(BarSize::Mins(1)).is_ok());
        assert!(DurationSpec::parse("2000 S").unwrap().check_bar(BarSize::Secs(1)).is_ok());
        assert!(DurationSpec::parse("2001 S").unwrap().check_bar(BarSize::Secs(1)).is_err());
        assert!(DurationSpec::parse("1 M").unwrap().check_bar(BarSize::Day).is_ok());
    }

    #[test]
    fn end_date_time_formats() {
        let ny = chrono_tz::America::New_York;
        let now = Utc.with_ymd_and_hms(2026, 1, 14, 15, 0, 0).unwrap();
        let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        assert_eq!(parse_end("", ny, now).unwrap(), now);
        assert_eq!(parse_end("20260113-21:00:00", ny, now).unwrap(), at(2026, 1, 13, 21, 0));
        assert_eq!(parse_end("20260113 16:00:00 US/Eastern", ny, now).unwrap(), at(2026, 1, 13, 21, 0));
        assert_eq!(parse_end("20260113 16:00:00", ny, now).unwrap(), at(2026, 1, 13, 21, 0));
        assert_eq!(parse_end("20260113 16:00:00 UTC", ny, now).unwrap(), at(2026, 1, 13, 16, 0));
        assert_eq!(parse_end("09:00:00 EST", ny, now).unwrap(), at(2026, 1, 14, 14, 0));
        for bad in ["2026-01-13", "20260113", "20260113 25:00:00", "20260113 16:00:00 Mars/Base", "yesterday"] {
            let e = parse_end(bad, ny, now).unwrap_err();
            assert_eq!(e.code(), 10314, "{bad}");
        }
    }

    #[test]
    fn what_to_show_parses_case_insensitively() {
        assert_eq!(WhatToShow::parse("midpoint").unwrap(), WhatToShow::Midpoint);
        assert_eq!(WhatToShow::parse("BID_ASK").unwrap().as_str(), "BID_ASK");
        assert_eq!(WhatToShow::parse("LAST").unwrap_err().code(), 321);
        assert!(WhatToShow::Trades.is_live() && !WhatToShow::BidAsk.is_live());
    }
}
