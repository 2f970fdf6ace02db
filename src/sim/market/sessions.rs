//! Trading calendars: when each instrument trades, in TWS's own terms.
//!
//! Facts implemented (sources):
//! - US stocks and ETFs: trading hours 04:00–20:00 and liquid (regular) hours 09:30–16:00
//!   US/Eastern, Monday to Friday. The contract details of a US stock carry
//!   `timeZoneId = "US/Eastern"`. (IB contract details as returned for SMART US stocks; RTH
//!   09:30–16:00 ET is the exchange session.)
//! - CME equity-index futures (ES): Globex session 17:00 (previous day) – 16:00 US/Central,
//!   Sunday evening to Friday, the trade date being the day the session ends; regular hours
//!   08:30–15:00 US/Central; `timeZoneId = "US/Central"`.
//! - IDEALPRO forex: 17:15 (previous day) – 17:00 US/Eastern, Sunday evening to Friday.
//! - `tradingHours` / `liquidHours` format for TWS ≥ 970 (ContractDetails class reference,
//!   IBKR Campus `twsapi-ref/#contractdetails-ref`: "Format for TWS versions until 969:
//!   20090507:0700-1830"; from 970 each session is `yyyymmdd:HHMM-yyyymmdd:HHMM`, sessions
//!   separated by `;`, a day without one as `yyyymmdd:CLOSED`). The string covers the current
//!   day and the following ones; the simulator lists seven calendar days.
//!
//! Simplifications (documented so nobody relies on them): exchange holidays and early closes
//! are not modelled; the simulated market matches orders around the clock (sessions decide DAY
//! expiry, `useRTH` filtering of bars, the day rollover of open/high/low/close, and these
//! strings — not whether a fill may happen).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Which calendar an instrument follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Schedule {
    /// US stocks and ETFs (NASDAQ, NYSE, ARCA).
    UsEquity,
    /// CME Globex equity-index futures.
    CmeEquityIndex,
    /// IDEALPRO spot forex.
    IdealPro,
}

/// One session, `[start, end)`, of trade date `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Session {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }
}

/// Which hours: the whole trading session, or the liquid (regular) hours `useRTH` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    Trading,
    Liquid,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid wall-clock time")
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `date` at `time` in `tz`, as UTC (the earlier instant on an ambiguous DST hour).
fn at(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // A wall-clock time skipped by DST: take the instant one hour later.
        chrono::LocalResult::None => at(tz, date, time + Duration::hours(1)),
    }
}

impl Schedule {
    /// The zone trading hours are expressed in.
    pub fn tz(self) -> Tz {
        match self {
            Self::UsEquity | Self::IdealPro => chrono_tz::America::New_York,
            Self::CmeEquityIndex => chrono_tz::America::Chicago,
        }
    }

    /// The `timeZoneId` TWS reports in contract details.
    pub fn tz_id(self) -> &'static str {
        match self {
            Self::UsEquity | Self::IdealPro => "US/Eastern",
            Self::CmeEquityIndex => "US/Central",
        }
    }

    /// The session of trade date `date`, if the instrument trades that day.
    pub fn session(self, date: NaiveDate, hours: Hours) -> Option<Session> {
        if !is_weekday(date) {
            return None;
        }
        let tz = self.tz();
        let prev = date.pred_opt()?;
        let (start, end) = match (self, hours) {
            (Self::UsEquity, Hours::Trading) => (at(tz, date, hm(4, 0)), at(tz, date, hm(20, 0))),
            (Self::UsEquity, Hours::Liquid) => (at(tz, date, hm(9, 30)), at(tz, date, hm(16, 0))),
            (Self::CmeEquityIndex, Hours::Trading) => (at(tz, prev, hm(17, 0)), at(tz, date, hm(16, 0))),
            (Self::CmeEquityIndex, Hours::Liquid) => (at(tz, date, hm(8, 30)), at(tz, date, hm(15, 0))),
            (Self::IdealPro, _) => (at(tz, prev, hm(17, 15)), at(tz, date, hm(17, 0))),
        };
        Some(Session { date, start, end })
    }

    /// The trade date `t` belongs to: the date of the session containing `t`, else the date
    /// of the next session (so the weekend belongs to Monday).
    pub fn trade_date(self, t: DateTime<Utc>) -> NaiveDate {
        self.session_at_or_after(t, Hours::Trading).date
    }

    /// The session containing `t`, or the first one starting after it.
    pub fn session_at_or_after(self, t: DateTime<Utc>, hours: Hours) -> Session {
        let local = t.with_timezone(&self.tz()).date_naive();
        // A session ends at most a day after its start, so scanning from yesterday is enough.
        let mut d = local.pred_opt().unwrap_or(local);
        loop {
            if let Some(s) = self.session(d, hours) {
                if t < s.end {
                    return s;
                }
            }
            d = d.succ_opt().expect("dates within chrono's range");
        }
    }

    /// The session containing `t`, if any.
    pub fn session_at(self, t: DateTime<Utc>, hours: Hours) -> Option<Session> {
        Some(self.session_at_or_after(t, hours)).filter(|s| s.contains(t))
    }

    /// Sessions overlapping `[from, to)`, oldest first.
    pub fn sessions_between(self, from: DateTime<Utc>, to: DateTime<Utc>, hours: Hours) -> Vec<Session> {
        let mut out = Vec::new();
        if from >= to {
            return out;
        }
        let mut s = self.session_at_or_after(from, hours);
        while s.start < to {
            out.push(s);
            s = self.session_at_or_after(s.end, hours);
        }
        out
    }

    /// The last session starting before `t` (the one containing `t`, or the latest finished).
    pub fn session_before(self, t: DateTime<Utc>, hours: Hours) -> Session {
        let mut d = t.with_timezone(&self.tz()).date_naive().succ_opt().expect("in range");
        loop {
            if let Some(s) = self.session(d, hours) {
                if s.start < t {
                    return s;
                }
            }
            d = d.pred_opt().expect("dates within chrono's range");
        }
    }

    /// `tradingHours` / `liquidHours` as TWS ≥ 970 formats them, for seven calendar days from
    /// the local date of `now`.
    pub fn hours_string(self, now: DateTime<Utc>, hours: Hours) -> String {
        let tz = self.tz();
        let today = now.with_timezone(&tz).date_naive();
        let fmt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y%m%d:%H%M").to_string();
        let mut entries: Vec<(NaiveDate, String)> = Vec::new();
        // Sessions of trade dates up to a day past the window can start inside it.
        for offset in 0..8 {
            let d = today + Duration::days(offset);
            if let Some(s) = self.session(d, hours) {
                let start_day = s.start.with_timezone(&tz).date_naive();
                if start_day < today + Duration::days(7) {
                    entries.push((start_day, format!("{}-{}", fmt(s.start), fmt(s.end))));
                }
            }
        }
        for offset in 0..7 {
            let d = today + Duration::days(offset);
            if !entries.iter().any(|(start_day, _)| *start_day == d) {
                entries.push((d, format!("{}:CLOSED", d.format("%Y%m%d"))));
            }
        }
        entries.sort_by_key(|e| e.0);
        entries.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(";")
    }
}

/// Midnight (00:00) of `t`'s local date in `tz`, as UTC: where "today" starts for a gateway
/// running in that zone.
pub fn local_midnight(tz: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
    at(tz, t.with_timezone(&tz).date_naive(), hm(0, 0))
}

/// `t`'s calendar date in `tz`.
pub fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn us_equity_rth_is_930_to_1600_eastern_across_dst() {
        let winter = Schedule::UsEquity.session(NaiveDate::from_ymd_opt(2026, 1, 14).unwrap(), Hours::Liquid).unwrap();
        assert_eq!(winter.start, utc("2026-01-14T14:30:00Z"));
        assert_eq!(winter.end, utc("2026-01-14T21:00:00Z"));
        let summer = Schedule::UsEquity.session(NaiveDate::from_ymd_opt(2026, 7, 14).unwrap(), Hours::Liquid).unwrap();
        assert_eq!(summer.start, utc("2026-07-14T13:30:00Z"));
        assert!(Schedule::UsEquity.session(NaiveDate::from_ymd_opt(2026, 1, 17).unwrap(), Hours::Liquid).is_none());
    }

    #[test]
    fn cme_session_starts_the_evening_before_and_weekend_belongs_to_monday() {
        // Saturday noon: the next session is Monday's, which opens Sunday 17:00 CT.
        let s = Schedule::CmeEquityIndex.session_at_or_after(utc("2026-01-17T18:00:00Z"), Hours::Trading);
        assert_eq!(s.date, NaiveDate::from_ymd_opt(2026, 1, 19).unwrap());
        assert_eq!(s.start, utc("2026-01-18T23:00:00Z"));
        assert_eq!(s.end, utc("2026-01-19T22:00:00Z"));
        assert_eq!(Schedule::CmeEquityIndex.trade_date(utc("2026-01-19T23:30:00Z")), s.date.succ_opt().unwrap());
    }

    #[test]
    fn hours_string_has_tws_970_format_with_closed_days() {
        // Wednesday 2026-01-14.
        let s = Schedule::UsEquity.hours_string(utc("2026-01-14T15:00:00Z"), Hours::Liquid);
        let parts: Vec<&str> = s.split(';').collect();
        assert_eq!(parts.len(), 7, "{s}");
        assert_eq!(parts[0], "20260114:0930-20260114:1600");
        assert_eq!(parts[3], "20260117:CLOSED");
        assert_eq!(parts[5], "20260119:0930-20260119:1600");
        let cme = Schedule::CmeEquityIndex.hours_string(utc("2026-01-14T15:00:00Z"), Hours::Trading);
        assert!(cme.starts_with("20260113:1700-20260114:1600;20260114:1700-20260115:1600;"), "{cme}");
        assert!(cme.contains("20260117:CLOSED;20260118:1700-20260119:1600"), "{cme}");
    }

    #[test]
    fn sessions_between_and_local_midnight() {
        let v = Schedule::UsEquity.sessions_between(
            utc("2026-01-16T20:00:00Z"),
            utc("2026-01-20T15:00:00Z"),
            Hours::Liquid,
        );
        let dates: Vec<String> = v.iter().map(|s| s.date.to_string()).collect();
        assert_eq!(dates, ["2026-01-16", "2026-01-19", "2026-01-20"]);
        assert_eq!(
            local_midnight(chrono_tz::America::New_York, utc("2026-01-15T04:30:00Z")),
            utc("2026-01-15T05:00:00Z") - Duration::days(1)
        );
        let before = Schedule::UsEquity.session_before(utc("2026-01-17T12:00:00Z"), Hours::Liquid);
        assert_eq!(before.date, NaiveDate::from_ymd_opt(2026, 1, 16).unwrap());
    }
}
