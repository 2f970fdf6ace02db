//! Quiesce before a reset window.
//!
//! An order sent seconds before IB's scheduled reset may be accepted by the gateway and then
//! sit through the reset with its execution reports delayed ("during a reset period, there may
//! be an interruption in the ability to log in or manage orders … execution reports and
//! simulated orders will be delayed", IB's TWS API docs, *Error Handling / System Message
//! Codes*). So new orders are refused for `lead` before a window opens
//! (`guard.quiesce_before_reset`, default 30 s) with the text "reset window starts in 28 s".
//!
//! This module decides only the question "does the next window start within `lead` of `now`?"
//! ([`ResetCalendar::quiesce_at`]). Inside a window the answer is `None`: the window's own
//! refusal applies there. The seconds are whole and rounded up, so the text never promises
//! more time than there is (27.2 s left reads "28 s"; 0.3 s reads "1 s").

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ResetCalendar, Window};

/// The default lead: refuse new orders 30 s before a window.
pub const DEFAULT_QUIESCE_LEAD: Duration = Duration::from_secs(30);

/// How long before a window new orders are refused (`guard.quiesce_before_reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuiesceConfig {
    /// The lead; zero disables quiescing.
    pub lead: Duration,
}

impl Default for QuiesceConfig {
    fn default() -> Self {
        Self { lead: DEFAULT_QUIESCE_LEAD }
    }
}

/// The next window opens within the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiesce {
    /// The window about to open.
    pub window: Window,
    /// How long until it opens (always more than zero).
    pub starts_in: Duration,
}

impl Quiesce {
    /// [`Quiesce::starts_in`] in whole seconds, rounded up.
    pub fn seconds(&self) -> u64 {
        let whole = self.starts_in.as_secs();
        if self.starts_in.subsec_nanos() > 0 {
            whole + 1
        } else {
            whole
        }
    }
}

impl fmt::Display for Quiesce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reset window starts in {} s", self.seconds())
    }
}

impl ResetCalendar {
    /// Whether the next window opens within `config.lead` of `now` (inclusive), and which.
    /// `None` inside a window, when no window is that close, and when the lead is zero.
    pub fn quiesce_at(&self, now: DateTime<Utc>, config: QuiesceConfig) -> Option<Quiesce> {
        if config.lead.is_zero() || self.window_at(now).is_some() {
            return None;
        }
        let window = self.next_window_after(now)?;
        let starts_in = (window.start - now).to_std().ok()?;
        (starts_in <= config.lead).then_some(Quiesce { window, starts_in })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{PresetCatalog, WindowSpec};
    use chrono::{NaiveTime, TimeDelta, TimeZone};
    use chrono_tz::America::New_York;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn na() -> ResetCalendar {
        PresetCatalog::builtin().get("ib-north-america").unwrap().calendar()
    }

    #[test]
    fn refuses_with_the_seconds_left_rounded_up() {
        // Wednesday 2026-06-17 00:15 EDT = 04:15 UTC.
        let start = utc(2026, 6, 17, 4, 15, 0);
        let cal = na();
        let at = |before: TimeDelta| cal.quiesce_at(start - before, QuiesceConfig::default());
        assert_eq!(at(TimeDelta::seconds(28)).unwrap().to_string(), "reset window starts in 28 s");
        assert_eq!(at(TimeDelta::milliseconds(27_200)).unwrap().to_string(), "reset window starts in 28 s");
        assert_eq!(at(TimeDelta::milliseconds(300)).unwrap().to_string(), "reset window starts in 1 s");
        // Exactly the lead away: refused; a nanosecond more: not yet.
        assert_eq!(at(TimeDelta::seconds(30)).unwrap().seconds(), 30);
        assert_eq!(at(TimeDelta::seconds(30) + TimeDelta::nanoseconds(1)), None);
        let q = at(TimeDelta::seconds(10)).unwrap();
        assert_eq!(q.window.start, start);
        assert_eq!(q.starts_in, Duration::from_secs(10));
    }

    #[test]
    fn inside_a_window_the_window_refusal_applies_instead() {
        let start = utc(2026, 6, 17, 4, 15, 0);
        assert_eq!(na().quiesce_at(start, QuiesceConfig::default()), None);
        assert_eq!(na().quiesce_at(start + TimeDelta::minutes(89), QuiesceConfig::default()), None);
    }

    #[test]
    fn zero_lead_never_quiesces_and_a_longer_lead_starts_earlier() {
        let start = utc(2026, 6, 17, 4, 15, 0);
        assert_eq!(na().quiesce_at(start - TimeDelta::seconds(1), QuiesceConfig { lead: Duration::ZERO }), None);
        let long = QuiesceConfig { lead: Duration::from_secs(120) };
        assert_eq!(
            na().quiesce_at(start - TimeDelta::seconds(90), long).unwrap().to_string(),
            "reset window starts in 90 s"
        );
        assert_eq!(na().quiesce_at(start - TimeDelta::seconds(90), QuiesceConfig::default()), None);
    }

    #[test]
    fn quiesces_before_the_weekend_window_and_across_midnight() {
        // Friday 2026-06-19 23:00 EDT = Saturday 03:00 UTC.
        let weekend = utc(2026, 6, 20, 3, 0, 0);
        let q = na().quiesce_at(weekend - TimeDelta::seconds(5), QuiesceConfig::default()).unwrap();
        assert_eq!(q.window.end, utc(2026, 6, 20, 7, 0, 0));
        assert_eq!(q.to_string(), "reset window starts in 5 s");
        // A 00:00 window quiesced from 23:59:45 the day before.
        let midnight = ResetCalendar::new(vec![WindowSpec::daily(
            NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            Duration::from_secs(60),
            New_York,
        )]);
        let q = midnight.quiesce_at(utc(2026, 6, 17, 3, 59, 45), QuiesceConfig::default()).unwrap();
        assert_eq!(q.to_string(), "reset window starts in 15 s");
        assert_eq!(ResetCalendar::empty().quiesce_at(utc(2026, 6, 17, 3, 59, 45), QuiesceConfig::default()), None);
    }
}
