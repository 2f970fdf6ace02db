//! IB's scheduled reset windows.
//!
//! IB Gateway / TWS restarts itself every night, and IB runs weekly maintenance over the
//! weekend. Inside such a window the supervisor makes no reconnect attempts and raises no
//! alarms. This module answers two questions for a given instant: *am I inside a window
//! (and until when)?* ([`ResetCalendar::window_at`]) and *when is the next one?*
//! ([`ResetCalendar::next_window_after`]). Everything is pure: the caller passes `now`.
//!
//! # Semantics
//!
//! A [`WindowSpec`] describes a window that starts at the local wall-clock time `start` on
//! every local date (or only on local dates falling on `weekday`) in the time zone `tz`,
//! and lasts `duration` of *real, elapsed* time — so a one-hour window that spans a DST
//! transition still lasts exactly one hour, even though the wall clock moved by zero or two
//! hours meanwhile.
//!
//! Local start times that do not map to exactly one instant are resolved as follows:
//!
//! - **Nonexistent** (spring-forward gap, e.g. 02:30 on 2026-03-08 in New York): the window
//!   starts at the instant the gap ends, i.e. the transition instant, when the wall clock
//!   jumps to the end of the gap (03:00 local in that example). The window still lasts its
//!   full `duration` from there.
//! - **Ambiguous** (fall-back overlap, e.g. 02:30 on 2026-04-05 in Sydney): the window starts
//!   at the *earlier* of the two occurrences.
//!
//! Windows that overlap or touch (one ends exactly where the next starts) are reported as
//! one merged [`Window`] spanning all of them. Windows are half-open: `start <= t < end`.
//!
//! # Limits
//!
//! A window's duration is capped at [`MAX_WINDOW_DURATION`] (7 days), and merged chains are
//! followed for at most about [`MAX_MERGED_SPAN`] (8 days). A calendar whose windows chain
//! for longer than that (e.g. a daily window lasting 24 hours, which never ends) is a
//! configuration mistake that the settings layer should reject; here it yields windows
//! that are cut at the edge of the search horizon instead of looping forever.
//!
//! # Parts
//!
//! - [`presets`]: IB's published reset schedules per region as data
//!   (`config/reset-presets.json`), expanded to [`WindowSpec`]s and combined with a daily
//!   `reset_time` and extra windows into a [`ResetCalendar`].
//! - [`quiesce`]: "the next window starts within `lead`", the refusal text new orders get in
//!   the seconds before a window.

pub mod presets;
pub mod quiesce;

pub use presets::{PresetCatalog, PresetError, PresetNext, PresetWindow, PresetWindows, ScheduleConfig};
pub use quiesce::{Quiesce, QuiesceConfig, DEFAULT_QUIESCE_LEAD};

use std::time::Duration;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The longest duration a single window may have; longer durations are capped to this.
pub const MAX_WINDOW_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How far chains of overlapping or touching windows are followed when merging them.
pub const MAX_MERGED_SPAN: Duration = Duration::from_secs(8 * 24 * 3600);

/// One recurring reset window: local wall-clock start, real duration, time zone, and
/// optionally the one weekday it recurs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// The local weekday the window starts on; `None` means every day.
    pub weekday: Option<Weekday>,
    /// The local wall-clock time the window starts at (see the module docs for DST gaps and
    /// overlaps).
    pub start: NaiveTime,
    /// How long the window lasts, in real elapsed time (capped at [`MAX_WINDOW_DURATION`]).
    pub duration: Duration,
    /// The time zone `start` and `weekday` are read in.
    pub tz: Tz,
}

impl WindowSpec {
    /// A window recurring every day at local `start` in `tz`.
    pub fn daily(start: NaiveTime, duration: Duration, tz: Tz) -> Self {
        Self { weekday: None, start, duration, tz }
    }

    /// A window recurring every week on local `weekday` at local `start` in `tz`.
    pub fn weekly(weekday: Weekday, start: NaiveTime, duration: Duration, tz: Tz) -> Self {
        Self { weekday: Some(weekday), start, duration, tz }
    }

    /// The window this spec opens on the local date `date`, or `None` if the spec does not
    /// recur on that date's weekday or its duration is zero.
    pub fn window_on(&self, date: NaiveDate) -> Option<Window> {
        if self.weekday.is_some_and(|weekday| weekday != date.weekday()) {
            return None;
        }
        let duration = self.effective_duration()?;
        let start = resolve_local(self.tz, date.and_time(self.start));
        Some(Window { start, end: start + duration })
    }

    /// The duration as a chrono delta, capped at [`MAX_WINDOW_DURATION`]; `None` when zero.
    fn effective_duration(&self) -> Option<TimeDelta> {
        let capped = self.duration.min(MAX_WINDOW_DURATION);
        if capped.is_zero() {
            return None;
        }
        TimeDelta::from_std(capped).ok()
    }
}

/// A concrete window: the half-open span `start <= t < end`, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// The first instant inside the window.
    pub start: DateTime<Utc>,
    /// The first instant after the window.
    pub end: DateTime<Utc>,
}

impl Window {
    /// Whether `t` lies inside the window (`start <= t < end`).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// The window's length in real time.
    pub fn duration(&self) -> Duration {
        (self.end - self.start).to_std().unwrap_or_default()
    }
}

/// The set of IB's scheduled reset windows the supervisor honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetCalendar {
    specs: Vec<WindowSpec>,
}

impl ResetCalendar {
    /// A calendar made of `specs`. Specs with a zero duration never open a window.
    pub fn new(specs: Vec<WindowSpec>) -> Self {
        Self { specs }
    }

    /// A calendar without any window: [`window_at`](Self::window_at) and
    /// [`next_window_after`](Self::next_window_after) always answer `None`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The specs this calendar was built from.
    pub fn specs(&self) -> &[WindowSpec] {
        &self.specs
    }

    /// Whether the calendar has no spec at all.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The window containing `now` (`start <= now < end`), if any.
    ///
    /// Windows that overlap or touch are merged: the answer spans from the earliest start to
    /// the latest end reachable through overlapping or adjacent windows. Windows opened on
    /// earlier local days (e.g. a 23:45 window lasting an hour, asked at 00:30 the next day)
    /// are found too.
    pub fn window_at(&self, now: DateTime<Utc>) -> Option<Window> {
        let to = now + delta(MAX_MERGED_SPAN);
        self.merged_spans(self.lookback_from(now), to).into_iter().find(|span| span.contains(now))
    }

    /// The next window whose start is strictly after `now`, merged forward with the windows
    /// it overlaps or touches.
    ///
    /// Windows that merge into the span containing `now` belong to that span (see
    /// [`window_at`](Self::window_at)) and are not "next": the answer always starts after the
    /// end of the current span, if there is one. Asked exactly at a window's start, the
    /// answer is the following window, not that one.
    pub fn next_window_after(&self, now: DateTime<Utc>) -> Option<Window> {
        // A weekly window recurs within 7 days; add a day of slack, plus room to merge.
        let to = now + delta(MAX_MERGED_SPAN) + TimeDelta::days(8);
        self.merged_spans(self.lookback_from(now), to).into_iter().find(|span| span.start > now)
    }

    /// Where to start looking for windows that may contain (or chain into) `now`.
    fn lookback_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let longest = self.specs.iter().filter_map(WindowSpec::effective_duration).max().unwrap_or_default();
        now - longest - delta(MAX_MERGED_SPAN)
    }

    /// Every window starting in `[from, to)`, sorted by start and merged into disjoint,
    /// non-touching spans.
    fn merged_spans(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
        let mut windows: Vec<Window> =
            self.specs.iter().flat_map(|spec| windows_starting_between(spec, from, to)).collect();
        windows.sort_by_key(|window| window.start);

        let mut spans: Vec<Window> = Vec::with_capacity(windows.len());
        for window in windows {
            match spans.last_mut() {
                Some(last) if window.start <= last.end => last.end = last.end.max(window.end),
                _ => spans.push(window),
            }
        }
        spans
    }
}

/// The windows of `spec` whose start lies in `[from, to)`.
fn windows_starting_between(spec: &WindowSpec, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Window> {
    // One local day of margin on each side covers any UTC offset and DST shift.
    let first = from.with_timezone(&spec.tz).date_naive() - Days::new(1);
    let last = to.with_timezone(&spec.tz).date_naive() + Days::new(1);
    first
        .iter_days()
        .take_while(|date| *date <= last)
        .filter_map(|date| spec.window_on(date))
        .filter(|window| from <= window.start && window.start < to)
        .collect()
}

/// The instant the local wall-clock time `local` denotes in `tz`, resolved as window starts
/// are (see the module docs): the earlier occurrence when it is ambiguous (fall-back
/// overlap), the end of the gap when it does not exist (spring-forward gap).
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    resolve_local(tz, local)
}

/// The instant a local wall-clock time denotes in `tz`: the earlier occurrence when it is
/// ambiguous, the end of the gap when it does not exist.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(earlier, later) => earlier.min(later).with_timezone(&Utc),
        chrono::LocalResult::None => gap_end(tz, local),
    }
}

/// The transition instant that ends the DST gap containing the nonexistent local time
/// `local`, i.e. the first instant whose local time is after `local`.
fn gap_end(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let offset_at = |t: DateTime<Utc>| {
        TimeDelta::seconds(i64::from(tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()))
    };
    let as_utc = local.and_utc();
    let before = offset_at(as_utc - TimeDelta::days(1));
    let after = offset_at(as_utc + TimeDelta::days(1));
    // Before the transition the clock reads `t + before`, after it `t + after`. With one
    // transition in between, the transition lies in (local - after, local - before]; search
    // that band (or a wide one, should the zone be stranger than that).
    let (mut lo, mut hi) = if after > before {
        (as_utc - after, as_utc - before)
    } else {
        (as_utc - TimeDelta::hours(16), as_utc + TimeDelta::hours(16))
    };
    let shows_later = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local() > local;
    // Invariant: !shows_later(lo) && shows_later(hi). Transitions fall on whole seconds.
    while hi - lo > TimeDelta::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if shows_later(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// A std duration as a chrono delta (callers only pass small constants).
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Australia::Sydney, Europe::Zurich};

    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
        Window { start, end }
    }

    #[test]
    fn new_york_late_window_follows_the_utc_offset_across_spring_forward() {
        let spec = WindowSpec::daily(hm(23, 45), HOUR, New_York);
        // Saturday before the transition: EST, UTC-5.
        assert_eq!(spec.window_on(date(2026, 3, 7)), Some(window(utc(2026, 3, 8, 4, 45), utc(2026, 3, 8, 5, 45))));
        // Transition day (02:00 -> 03:00 earlier that day): EDT, UTC-4.
        assert_eq!(spec.window_on(date(2026, 3, 8)), Some(window(utc(2026, 3, 9, 3, 45), utc(2026, 3, 9, 4, 45))));
    }

    #[test]
    fn new_york_late_window_follows_the_utc_offset_across_fall_back() {
        let spec = WindowSpec::daily(hm(23, 45), HOUR, New_York);
        assert_eq!(spec.window_on(date(2026, 10, 31)), Some(window(utc(2026, 11, 1, 3, 45), utc(2026, 11, 1, 4, 45))));
        assert_eq!(spec.window_on(date(2026, 11, 1)), Some(window(utc(2026, 11, 2, 4, 45), utc(2026, 11, 2, 5, 45))));
    }

    #[test]
    fn duration_is_real_elapsed_time_across_a_transition() {
        // 01:30 EST on 2026-03-08 is 06:30 UTC; one real hour later the clock shows 03:30 EDT.
        let spec = WindowSpec::daily(hm(1, 30), HOUR, New_York);
        let w = spec.window_on(date(2026, 3, 8)).unwrap();
        assert_eq!(w, window(utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)));
        assert_eq!(w.end.with_timezone(&New_York).time(), hm(3, 30));
        assert_eq!(w.duration(), HOUR);
    }

    #[test]
    fn nonexistent_new_york_start_begins_when_the_gap_ends() {
        // 02:30 does not exist on 2026-03-08; the gap ends at 03:00 EDT = 07:00 UTC.
        let spec = WindowSpec::daily(hm(2, 30), HOUR, New_York);
        let w = spec.window_on(date(2026, 3, 8)).unwrap();
        assert_eq!(w, window(utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0)));
        assert_eq!(w.start.with_timezone(&New_York).time(), hm(3, 0));
    }

    #[test]
    fn ambiguous_new_york_start_uses_the_earlier_occurrence() {
        // 01:30 happens twice on 2026-11-01: EDT (05:30 UTC) then EST (06:30 UTC).
        let spec = WindowSpec::daily(hm(1, 30), HOUR, New_York);
        assert_eq!(spec.window_on(date(2026, 11, 1)), Some(window(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))));
    }

    #[test]
    fn nonexistent_sydney_start_begins_when_the_gap_ends() {
        // 2026-10-04: 02:00 AEST (UTC+10) jumps to 03:00 AEDT (UTC+11), at 16:00 UTC the day before.
        let spec = WindowSpec::daily(hm(2, 30), 30 * MINUTE, Sydney);
        let w = spec.window_on(date(2026, 10, 4)).unwrap();
        assert_eq!(w, window(utc(2026, 10, 3, 16, 0), utc(2026, 10, 3, 16, 30)));
        assert_eq!(w.start.with_timezone(&Sydney).time(), hm(3, 0));
        // The day after is an ordinary AEDT day.
        assert_eq!(spec.window_on(date(2026, 10, 5)), Some(window(utc(2026, 10, 4, 15, 30), utc(2026, 10, 4, 16, 0))));
        // And window_at agrees, including just before the gap ends.
        let calendar = ResetCalendar::new(vec![spec]);
        assert_eq!(calendar.window_at(utc(2026, 10, 3, 15, 59)), None);
        assert_eq!(calendar.window_at(utc(2026, 10, 3, 16, 0)), Some(w));
    }

    #[test]
    fn half_hour_gap_ends_at_the_transition() {
        // Lord Howe Island moves its clocks by 30 minutes: on 2026-10-04, 02:00 (UTC+10:30)
        // jumps to 02:30 (UTC+11), at 15:30 UTC the day before. 02:15 does not exist.
        let spec = WindowSpec::daily(hm(2, 15), HOUR, chrono_tz::Australia::Lord_Howe);
        let w = spec.window_on(date(2026, 10, 4)).unwrap();
        assert_eq!(w, window(utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16, 30)));
        assert_eq!(w.start.with_timezone(&chrono_tz::Australia::Lord_Howe).time(), hm(2, 30));
    }

    #[test]
    fn ambiguous_sydney_start_uses_the_earlier_occurrence() {
        // 2026-04-05: 03:00 AEDT (UTC+11) falls back to 02:00 AEST (UTC+10); 02:30 happens
        // at 15:30 UTC (AEDT) and again at 16:30 UTC (AEST); the earlier one is used.
        let spec = WindowSpec::daily(hm(2, 30), 30 * MINUTE, Sydney);
        let w = spec.window_on(date(2026, 4, 5)).unwrap();
        assert_eq!(w, window(utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 0)));
        let calendar = ResetCalendar::new(vec![spec]);
        assert_eq!(calendar.window_at(utc(2026, 4, 4, 15, 45)), Some(w));
        // The second 02:30 (AEST) is not a window.
        assert_eq!(calendar.window_at(utc(2026, 4, 4, 16, 45)), None);
        // The next day is an ordinary AEST day.
        assert_eq!(
            calendar.next_window_after(utc(2026, 4, 4, 16, 45)),
            Some(window(utc(2026, 4, 5, 16, 30), utc(2026, 4, 5, 17, 0)))
        );
    }

    #[test]
    fn window_is_half_open() {
        let calendar = ResetCalendar::new(vec![WindowSpec::daily(hm(23, 45), HOUR, New_York)]);
        let w = window(utc(2026, 6, 16, 3, 45), utc(2026, 6, 16, 4, 45));
        assert_eq!(calendar.window_at(w.start - TimeDelta::seconds(1)), None);
        assert_eq!(calendar.window_at(w.start), Some(w));
        assert_eq!(calendar.window_at(w.end - TimeDelta::nanoseconds(1)), Some(w));
        assert_eq!(calendar.window_at(w.end), None);
    }

    #[test]
    fn window_crossing_midnight_is_found_from_the_next_local_day() {
        // 23:45 New York for 1 h, asked at 00:30 local the next day (04:30 UTC in summer).
        let calendar = ResetCalendar::new(vec![WindowSpec::daily(hm(23, 45), HOUR, New_York)]);
        let now = utc(2026, 6, 16, 4, 30);
        assert_eq!(now.with_timezone(&New_York).time(), hm(0, 30));
        assert_eq!(calendar.window_at(now), Some(window(utc(2026, 6, 16, 3, 45), utc(2026, 6, 16, 4, 45))));
    }

    #[test]
    fn long_window_from_several_days_ago_is_found() {
        // Weekly maintenance: Friday 23:00 Zurich for 50 hours.
        let calendar = ResetCalendar::new(vec![WindowSpec::weekly(Weekday::Fri, hm(23, 0), 50 * HOUR, Zurich)]);
        let start = utc(2026, 6, 19, 21, 0); // Friday 23:00 CEST
        let expected = window(start, start + TimeDelta::hours(50));
        assert_eq!(calendar.window_at(utc(2026, 6, 21, 20, 0)), Some(expected));
        assert_eq!(calendar.window_at(expected.end), None);
    }

    #[test]
    fn weekly_window_only_matches_its_weekday() {
        let spec = WindowSpec::weekly(Weekday::Sun, hm(1, 0), 2 * HOUR, New_York);
        let calendar = ResetCalendar::new(vec![spec.clone()]);
        // 2026-06-14 is a Sunday; the neighbouring days have no window.
        assert_eq!(date(2026, 6, 14).weekday(), Weekday::Sun);
        for day in 8..=20 {
            let d = date(2026, 6, day);
            let expected_window = d.weekday() == Weekday::Sun;
            assert_eq!(spec.window_on(d).is_some(), expected_window, "{d}");
            // 01:30 EDT on each local day.
            let now = utc(2026, 6, day, 5, 30);
            assert_eq!(calendar.window_at(now).is_some(), expected_window, "{d}");
        }
        assert_eq!(
            calendar.window_at(utc(2026, 6, 14, 5, 30)),
            Some(window(utc(2026, 6, 14, 5, 0), utc(2026, 6, 14, 7, 0)))
        );
        // From a Monday, the next window is the following Sunday.
        assert_eq!(
            calendar.next_window_after(utc(2026, 6, 15, 12, 0)),
            Some(window(utc(2026, 6, 21, 5, 0), utc(2026, 6, 21, 7, 0)))
        );
    }

    #[test]
    fn weekday_is_the_local_weekday_not_the_utc_one() {
        // Sunday 23:00 New York is Monday 03:00 UTC.
        let calendar = ResetCalendar::new(vec![WindowSpec::weekly(Weekday::Sun, hm(23, 0), HOUR, New_York)]);
        assert_eq!(
            calendar.window_at(utc(2026, 6, 15, 3, 30)),
            Some(window(utc(2026, 6, 15, 3, 0), utc(2026, 6, 15, 4, 0)))
        );
        assert_eq!(calendar.window_at(utc(2026, 6, 14, 3, 30)), None);
    }

    #[test]
    fn overlapping_and_touching_windows_merge() {
        let calendar = ResetCalendar::new(vec![
            WindowSpec::daily(hm(23, 0), 90 * MINUTE, New_York), // 23:00-00:30
            WindowSpec::daily(hm(0, 0), HOUR, New_York),         // 00:00-01:00 (overlaps)
            WindowSpec::daily(hm(1, 0), 30 * MINUTE, New_York),  // 01:00-01:30 (touches)
            WindowSpec::daily(hm(1, 31), MINUTE, New_York),      // 01:31-01:32 (separate)
        ]);
        // Summer: EDT, UTC-4. Local 2026-06-15 23:00 = 2026-06-16 03:00 UTC.
        let merged = window(utc(2026, 6, 16, 3, 0), utc(2026, 6, 16, 5, 30));
        for probe in [utc(2026, 6, 16, 3, 0), utc(2026, 6, 16, 4, 15), utc(2026, 6, 16, 5, 0), utc(2026, 6, 16, 5, 29)]
        {
            assert_eq!(calendar.window_at(probe), Some(merged), "{probe}");
        }
        assert_eq!(calendar.window_at(utc(2026, 6, 16, 5, 30)), None);
        assert_eq!(
            calendar.window_at(utc(2026, 6, 16, 5, 31)),
            Some(window(utc(2026, 6, 16, 5, 31), utc(2026, 6, 16, 5, 32)))
        );
        // From inside the merged span, the next window is the separate one, not a merged part.
        assert_eq!(
            calendar.next_window_after(utc(2026, 6, 16, 3, 30)),
            Some(window(utc(2026, 6, 16, 5, 31), utc(2026, 6, 16, 5, 32)))
        );
        // Before the merged span, the next window is the whole merged span.
        assert_eq!(calendar.next_window_after(utc(2026, 6, 16, 2, 0)), Some(merged));
    }

    #[test]
    fn next_window_after_is_strictly_after() {
        let calendar = ResetCalendar::new(vec![WindowSpec::daily(hm(23, 45), HOUR, New_York)]);
        let today = window(utc(2026, 6, 16, 3, 45), utc(2026, 6, 16, 4, 45));
        let tomorrow = window(utc(2026, 6, 17, 3, 45), utc(2026, 6, 17, 4, 45));
        assert_eq!(calendar.next_window_after(today.start - TimeDelta::seconds(1)), Some(today));
        assert_eq!(calendar.next_window_after(today.start), Some(tomorrow));
        assert_eq!(calendar.next_window_after(today.end), Some(tomorrow));
    }

    #[test]
    fn next_window_after_crosses_dst() {
        let calendar = ResetCalendar::new(vec![WindowSpec::daily(hm(23, 45), HOUR, New_York)]);
        // After Saturday's window (EST), the next one is Sunday's (EDT).
        assert_eq!(
            calendar.next_window_after(utc(2026, 3, 8, 6, 0)),
            Some(window(utc(2026, 3, 9, 3, 45), utc(2026, 3, 9, 4, 45)))
        );
    }

    #[test]
    fn empty_and_zero_duration_calendars_have_no_window() {
        let now = utc(2026, 6, 16, 4, 0);
        assert_eq!(ResetCalendar::empty().window_at(now), None);
        assert_eq!(ResetCalendar::empty().next_window_after(now), None);
        let zero = ResetCalendar::new(vec![WindowSpec::daily(hm(0, 0), Duration::ZERO, New_York)]);
        assert_eq!(zero.window_at(now), None);
        assert_eq!(zero.next_window_after(now), None);
    }

    #[test]
    fn never_ending_chain_is_cut_instead_of_looping() {
        // A daily window lasting a whole day never ends; the answer is bounded, not a hang.
        let calendar = ResetCalendar::new(vec![WindowSpec::daily(hm(0, 0), 24 * HOUR, Zurich)]);
        let now = utc(2026, 6, 16, 12, 0);
        let w = calendar.window_at(now).unwrap();
        assert!(w.contains(now));
        assert!(w.end >= now + delta(MAX_MERGED_SPAN) - TimeDelta::days(1));
    }
}
