//! How the dashboard says times, durations, the outage, the trading switch and the next reset
//! window: pure functions of the status and `now`, shared by the page and its tests. The
//! durations read as the page's script writes them while it ticks ("3 m 12 s", "4 h 12 m").

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::calendar::ResetCalendar;
use ibkr_supervisor_actors::Refusal;

/// `secs` as the page's script writes it: "12 s", "3 m 12 s", "4 h 12 m", "2 d 3 h".
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, x) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} m")
    } else if m > 0 {
        format!("{m} m {x} s")
    } else {
        format!("{x} s")
    }
}

/// Seconds from `from` to `to` (0 when `to` is earlier).
pub fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

/// "19:04:29 EST": a time of day in the trading zone.
pub fn clock(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M:%S %Z").to_string()
}

/// "23:45 EST".
pub fn hour_minute(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%H:%M %Z").to_string()
}

/// "Tue 01 Dec 19:04 EST": a time within the last days.
pub fn day_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%a %d %b %H:%M %Z").to_string()
}

/// "01 Dec 19:04:29 EST": when an event happened.
pub fn stamp(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%d %b %H:%M:%S %Z").to_string()
}

/// Why orders are refused, in a few words: "disconnected", "reconnecting (attempt 3)",
/// "IB upstream lost (1100)", "scheduled reset until 00:30 EST", …
pub fn refusal(reason: &Refusal, zone: Tz) -> String {
    match reason {
        Refusal::Disconnected { .. } => "disconnected".to_owned(),
        Refusal::Reconnecting { attempt, .. } => format!("reconnecting (attempt {attempt})"),
        Refusal::UpstreamLost { code, .. } => format!("IB upstream lost ({code})"),
        Refusal::ResetWindow { until } => format!("scheduled reset until {}", hour_minute(*until, zone)),
        Refusal::ResetSoon { starts_at, starts_in_s } => {
            format!("reset window starts in {starts_in_s} s ({})", hour_minute(*starts_at, zone))
        }
        Refusal::DataLost { farm, since } => {
            format!("market data farm {farm} broken since {}", hour_minute(*since, zone))
        }
        Refusal::Meltdown { .. } => "supervisor meltdown".to_owned(),
        Refusal::PausedByOperator { .. } => "paused by operator".to_owned(),
        Refusal::NotAnswering { error } => format!("gateway not answering ({error})"),
        Refusal::ShuttingDown => "supervisor shutting down".to_owned(),
        Refusal::UnknownAccount { .. } => "unknown account".to_owned(),
    }
}

/// The next scheduled reset window: "next reset 23:45 EST, in 4 h 12 m" (and whether one is
/// scheduled at all); inside a window, when it ends.
pub fn next_reset(calendar: &ResetCalendar, now: DateTime<Utc>, zone: Tz) -> NextReset {
    if let Some(current) = calendar.window_at(now) {
        return NextReset::Inside { until: current.end, zone };
    }
    match calendar.next_window_after(now) {
        Some(next) => NextReset::At { start: next.start, end: next.end, zone },
        None => NextReset::None,
    }
}

/// See [`next_reset`].
#[derive(Debug, Clone, PartialEq)]
pub enum NextReset {
    /// No window is configured.
    None,
    /// The next window.
    At {
        /// Its start.
        start: DateTime<Utc>,
        /// Its end.
        end: DateTime<Utc>,
        /// The zone the times are shown in.
        zone: Tz,
    },
    /// Inside a window until `until`.
    Inside {
        /// Its end.
        until: DateTime<Utc>,
        /// The zone the times are shown in.
        zone: Tz,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use ibkr_supervisor_actors::calendar::WindowSpec;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations_read_like_the_script_writes_them() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(192), "3 m 12 s");
        assert_eq!(duration(4 * 3600 + 12 * 60 + 5), "4 h 12 m");
        assert_eq!(duration(2 * 86_400 + 3 * 3600), "2 d 3 h");
        assert_eq!(duration(-5), "0 s", "a clock that stepped back is not a negative duration");
    }

    #[test]
    fn times_are_in_the_trading_zone() {
        let t = utc("2026-12-02T00:04:29Z");
        assert_eq!(clock(t, New_York), "19:04:29 EST");
        assert_eq!(hour_minute(t, New_York), "19:04 EST");
        assert_eq!(day_time(t, New_York), "Tue 01 Dec 19:04 EST");
        assert_eq!(stamp(t, New_York), "01 Dec 19:04:29 EST");
    }

    #[test]
    fn the_next_reset_is_the_nightly_window_or_the_end_of_the_current_one() {
        let hm = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let calendar =
            ResetCalendar::new(vec![WindowSpec::daily(hm(23, 45), std::time::Duration::from_secs(3600), New_York)]);
        // 19:33 EST: the window opens at 23:45 EST (04:45 UTC), in 4 h 12 m.
        let now = utc("2026-12-02T00:33:00Z");
        let NextReset::At { start, end, zone } = next_reset(&calendar, now, New_York) else { panic!() };
        assert_eq!(
            (hour_minute(start, zone), duration(secs_between(now, start))),
            ("23:45 EST".into(), "4 h 12 m".into())
        );
        assert_eq!(end - start, chrono::Duration::hours(1));
        let inside = utc("2026-12-02T05:00:00Z");
        assert_eq!(
            next_reset(&calendar, inside, New_York),
            NextReset::Inside { until: utc("2026-12-02T05:45:00Z"), zone: New_York }
        );
        assert_eq!(next_reset(&ResetCalendar::empty(), now, New_York), NextReset::None);
    }

    #[test]
    fn refusals_are_said_in_a_few_words() {
        let t = utc("2026-12-02T05:00:00Z");
        assert_eq!(
            refusal(&Refusal::Disconnected { since: t, last_error: Some("refused".into()) }, New_York),
            "disconnected"
        );
        assert_eq!(refusal(&Refusal::Reconnecting { since: t, attempt: 3 }, New_York), "reconnecting (attempt 3)");
        assert_eq!(refusal(&Refusal::ResetWindow { until: t }, New_York), "scheduled reset until 00:00 EST");
    }
}
