//! Uptime per account per day, derived from the recorded `state_changed` rows: the
//! [`timeline`] of availabilities, the figures of a day (up, degraded, down, reset, unknown,
//! outages, attempts), [`daily_uptime`] (the pure arithmetic of `GET /uptime`) and [`uptime_in`],
//! which reads the days already rolled up (`rollups.rs`) and computes the rest from raw events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{named_params, Connection};
use serde::Serialize;

use super::error::PersistenceError;
use super::rollups::{read_rollups, rolled_through};
use super::rows::{select, timestamp, Column};
use super::schema::has_schema;

/// What a span of time counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Connected: usable.
    Up,
    /// Disconnected, connecting or degraded (IB upstream lost): not usable.
    Down,
    /// Inside a scheduled reset window: not usable, not an outage.
    Reset,
    /// Not observed: before the first record, while the supervisor was stopped, or across a gap
    /// in the records (a crash, events that were lost).
    Unknown,
}

impl Availability {
    /// By a [`ConnectionState`](crate::ConnectionState) name.
    pub fn of_state(name: &str) -> Availability {
        Slot::of_state(name).availability()
    }
}

/// [`Availability`] with degraded told apart from down: what the daily figures count and the
/// dashboard's timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// Connected: usable.
    Up,
    /// The gateway connected, IB's upstream lost: down.
    Degraded,
    /// Disconnected or connecting: down.
    Down,
    /// Inside a scheduled reset window.
    Reset,
    /// Not observed.
    Unknown,
}

impl Slot {
    /// By a [`ConnectionState`](crate::ConnectionState) name.
    pub fn of_state(name: &str) -> Slot {
        match name {
            "connected" => Slot::Up,
            "degraded" => Slot::Degraded,
            "disconnected" | "connecting" => Slot::Down,
            "reset_window" => Slot::Reset,
            _ => Slot::Unknown,
        }
    }

    fn of(a: Availability) -> Slot {
        match a {
            Availability::Up => Slot::Up,
            Availability::Down => Slot::Down,
            Availability::Reset => Slot::Reset,
            Availability::Unknown => Slot::Unknown,
        }
    }

    fn availability(self) -> Availability {
        match self {
            Slot::Up => Availability::Up,
            Slot::Degraded | Slot::Down => Availability::Down,
            Slot::Reset => Availability::Reset,
            Slot::Unknown => Availability::Unknown,
        }
    }

    /// Degraded or down.
    pub fn is_down(self) -> bool {
        matches!(self, Slot::Degraded | Slot::Down)
    }
}

/// One recorded state change (a `state_changed` row).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// The state left.
    pub from: String,
    /// Since when the state left had held (the event's `from.since`).
    pub from_since: Option<DateTime<Utc>>,
    /// The state entered at `at`.
    pub to: String,
}

/// A timeline: from each point on, the account was in that availability until the next point.
/// Before the first point it is unknown; the last point lasts until "now".
pub type Timeline = Vec<(DateTime<Utc>, Availability)>;

/// The timeline of one account's state changes (in time order). A change whose `from` is not the
/// previous change's `to` marks a discontinuity (a restart, lost records): from the previous
/// change to `from_since` counts as unknown, then `from` from `from_since` on. The first change
/// also tells, through `from_since`, how long the state before it held.
pub fn timeline(changes: &[StateChange]) -> Timeline {
    points(changes).into_iter().map(|(at, slot)| (at, slot.availability())).collect()
}

/// [`timeline`] with degraded told apart.
pub(super) fn points(changes: &[StateChange]) -> Vec<(DateTime<Utc>, Slot)> {
    let mut points = Vec::with_capacity(changes.len() + 1);
    let mut prev: Option<&StateChange> = None;
    for change in changes {
        let continuous = prev.is_some_and(|p| p.to == change.from);
        if !continuous {
            match (prev, change.from_since) {
                (None, Some(since)) if since <= change.at => points.push((since, Slot::of_state(&change.from))),
                (Some(p), Some(since)) if since > p.at && since <= change.at => {
                    points.push((p.at, Slot::Unknown));
                    points.push((since, Slot::of_state(&change.from)));
                }
                _ => {}
            }
        }
        points.push((change.at, Slot::of_state(&change.to)));
        prev = Some(change);
    }
    points
}

/// The figures of one span of time (a day, or the part of today so far), in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Figures {
    pub(super) covered_ms: i64,
    pub(super) up_ms: i64,
    /// Part of `down_ms`.
    pub(super) degraded_ms: i64,
    pub(super) down_ms: i64,
    pub(super) reset_ms: i64,
    pub(super) unknown_ms: i64,
    /// Stretches of downtime that began in the span.
    pub(super) outages: u32,
    /// The longest stretch of downtime within the span.
    pub(super) longest_outage_ms: i64,
    /// Reconnect attempts started in the span.
    pub(super) attempts: u32,
}

impl Figures {
    /// Nothing observed over `covered_ms`.
    pub(super) fn unknown(covered_ms: i64) -> Figures {
        Figures { covered_ms, unknown_ms: covered_ms, ..Figures::default() }
    }

    /// Whether the span holds anything but unobserved time.
    pub(super) fn observed(&self) -> bool {
        self.unknown_ms < self.covered_ms || self.attempts > 0
    }
}

/// The figures of `[start, end)` from a sorted timeline (unknown before its first point, its
/// last point lasting past `end`).
pub(super) fn figures(points: &[(DateTime<Utc>, Slot)], start: DateTime<Utc>, end: DateTime<Utc>) -> Figures {
    let mut f = Figures { covered_ms: (end - start).num_milliseconds().max(0), ..Figures::default() };
    let mut run = 0_i64;
    let mut previous = Slot::Unknown;
    let first = points.first().map_or(end, |(at, _)| *at);
    let segments = std::iter::once((start.min(first), first, Slot::Unknown)).chain(
        points.iter().enumerate().map(|(i, (at, slot))| (*at, points.get(i + 1).map_or(end.max(*at), |p| p.0), *slot)),
    );
    for (from, to, slot) in segments {
        let (a, b) = (from.max(start), to.min(end));
        let len = if b > a { (b - a).num_milliseconds() } else { 0 };
        match slot {
            Slot::Up => f.up_ms += len,
            Slot::Degraded => {
                f.degraded_ms += len;
                f.down_ms += len;
            }
            Slot::Down => f.down_ms += len,
            Slot::Reset => f.reset_ms += len,
            Slot::Unknown => f.unknown_ms += len,
        }
        if slot.is_down() {
            if !previous.is_down() && from >= start && from < end {
                f.outages += 1;
            }
            run += len;
        } else {
            f.longest_outage_ms = f.longest_outage_ms.max(run);
            run = 0;
        }
        previous = slot;
    }
    f.longest_outage_ms = f.longest_outage_ms.max(run);
    f
}

/// Uptime of one account on one day (UTC, or the local day of a time zone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyUptime {
    /// The account.
    pub account: String,
    /// The day.
    pub day: NaiveDate,
    /// Seconds of the day covered: the whole day (86 400; 82 800 or 90 000 on a DST change in a
    /// local zone), or up to now for today.
    pub covered_secs: f64,
    /// Seconds usable.
    pub up_secs: f64,
    /// Seconds disconnected, connecting or degraded.
    pub down_secs: f64,
    /// Of `down_secs`: degraded (the gateway connected, IB's upstream lost).
    pub degraded_secs: f64,
    /// Inside scheduled reset windows: reported apart, not downtime.
    pub reset_secs: f64,
    /// Seconds not observed (before the first record, while stopped, across a gap).
    pub unknown_secs: f64,
    /// Shares of `covered_secs`, in percent (rounded to 0.001); the four add up to 100.
    pub up_pct: f64,
    /// See `up_pct`.
    pub down_pct: f64,
    /// See `up_pct`.
    pub reset_pct: f64,
    /// See `up_pct`.
    pub unknown_pct: f64,
    /// `up / (up + down)` in percent: availability outside reset windows and unobserved time
    /// (`None` when neither was observed that day).
    pub availability_pct: Option<f64>,
    /// Stretches of downtime that began this day.
    pub outages: u32,
    /// The longest stretch of downtime within this day, in seconds (an outage across midnight
    /// counts on both days, in the count of the day it began).
    pub longest_outage_secs: f64,
    /// Reconnect attempts started this day.
    pub reconnect_attempts: u32,
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        0.0
    } else {
        (part / whole * 100_000.0).round() / 1000.0
    }
}

impl DailyUptime {
    pub(super) fn from_figures(account: &str, day: NaiveDate, f: &Figures) -> DailyUptime {
        let secs = |ms: i64| ms as f64 / 1000.0;
        let (covered, up, down, reset, unknown) =
            (secs(f.covered_ms), secs(f.up_ms), secs(f.down_ms), secs(f.reset_ms), secs(f.unknown_ms));
        DailyUptime {
            account: account.to_owned(),
            day,
            covered_secs: covered,
            up_secs: up,
            down_secs: down,
            degraded_secs: secs(f.degraded_ms),
            reset_secs: reset,
            unknown_secs: unknown,
            up_pct: pct(up, covered),
            down_pct: pct(down, covered),
            reset_pct: pct(reset, covered),
            unknown_pct: pct(unknown, covered),
            availability_pct: (up + down > 0.0).then(|| pct(up, up + down)),
            outages: f.outages,
            longest_outage_secs: secs(f.longest_outage_ms),
            reconnect_attempts: f.attempts,
        }
    }
}

/// Where `day` begins and ends in `zone`, in UTC (a local midnight that does not exist, in a
/// zone that moves its clocks at midnight, is the first local time of the day that does).
pub fn day_bounds(zone: Tz, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |day: NaiveDate| {
        (0..24 * 4)
            .find_map(|quarter| {
                let local =
                    day.and_hms_opt(0, 0, 0).expect("midnight exists") + chrono::Duration::minutes(15 * quarter);
                zone.from_local_datetime(&local).earliest()
            })
            .map_or_else(|| day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(), |t| t.with_timezone(&Utc))
    };
    (start(day), start(day.succ_opt().unwrap_or(day)))
}

/// The local day of `at` in `zone`.
pub fn local_day(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// Uptime per UTC day of `account`, from `first_day` through the day of `now` (today counts up to
/// `now`), given its [`timeline`]. Pure: the whole arithmetic of `GET /uptime`.
pub fn daily_uptime(
    account: &str,
    timeline: &[(DateTime<Utc>, Availability)],
    first_day: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<DailyUptime> {
    let mut points: Vec<(DateTime<Utc>, Slot)> = timeline.iter().map(|(at, a)| (*at, Slot::of(*a))).collect();
    points.sort_by_key(|(at, _)| *at);
    let mut days = Vec::new();
    let mut day = first_day;
    while day <= now.date_naive() {
        let (start, end) = day_bounds(Tz::UTC, day);
        let end = end.min(now);
        if end > start {
            days.push(DailyUptime::from_figures(account, day, &figures(&points, start, end)));
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    days
}

/// Most days [`uptime`] reports.
pub const MAX_UPTIME_DAYS: u32 = 3660;

/// Uptime per account per UTC day for the last `days` days (today included, up to `now`).
/// See [`uptime_in`].
pub fn uptime(conn: &Connection, days: u32, now: DateTime<Utc>) -> Result<Vec<DailyUptime>, PersistenceError> {
    uptime_in(conn, days, now, Tz::UTC)
}

/// Uptime per account per local day of `zone` for the last `days` days (today included, up to
/// `now`). The days the writer has rolled up come from `daily_rollups` (a few rows per day,
/// whatever happened that day); the others (today, and any not rolled up yet) are computed from
/// the `state_changed` and `attempt_started` rows. Accounts: those with a status row, a recorded
/// state change or a rollup in the range.
pub fn uptime_in(
    conn: &Connection,
    days: u32,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<Vec<DailyUptime>, PersistenceError> {
    let days = days.min(MAX_UPTIME_DAYS);
    if days == 0 || !has_schema(conn)? {
        return Ok(Vec::new());
    }
    let today = local_day(zone, now);
    let first_day = today.checked_sub_days(Days::new(u64::from(days) - 1)).unwrap_or(NaiveDate::MIN);
    let rolled =
        rolled_through(conn, zone)?.filter(|d| *d >= first_day).map(|d| d.min(today.pred_opt().unwrap_or(today)));
    let mut known: BTreeMap<(String, NaiveDate), Figures> = BTreeMap::new();
    let mut accounts: BTreeSet<String> = BTreeSet::new();
    let raw_from = match rolled {
        Some(last) if last >= first_day => {
            for ((account, day), f) in read_rollups(conn, zone, first_day, last)? {
                accounts.insert(account.clone());
                known.insert((account, day), f);
            }
            last.succ_opt().unwrap_or(last)
        }
        _ => first_day,
    };
    if raw_from <= today {
        for (account, list) in raw_days(conn, zone, raw_from, today, now)? {
            for (day, f) in list {
                known.insert((account.clone(), day), f);
            }
            accounts.insert(account);
        }
    }
    let mut report = Vec::new();
    for account in accounts {
        let mut day = first_day;
        while day <= today {
            let (start, end) = day_bounds(zone, day);
            let end = end.min(now);
            if end > start {
                let f = known
                    .get(&(account.clone(), day))
                    .copied()
                    .unwrap_or_else(|| Figures::unknown((end - start).num_milliseconds()));
                report.push(DailyUptime::from_figures(&account, day, &f));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    Ok(report)
}

/// The recorded state changes of each account from `start` through `end`, in time order, with
/// the last change before `start` first (it tells the state the span starts in). Accounts: those
/// with a recorded state change (others are added by the callers that need them).
pub(super) fn changes_between(
    conn: &Connection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<StateChange>>, PersistenceError> {
    let (start, end) = (timestamp(start), timestamp(end));
    let columns = "SELECT id, account, at, from_state, json_extract(detail, '$.from.since') AS from_since, \
                   to_state FROM connection_events";
    // The last change before the window tells the state the window starts in.
    let before = format!(
        "{columns} WHERE id IN (SELECT max(id) FROM connection_events \
         WHERE kind = 'state_changed' AND at < :start GROUP BY account)"
    );
    let within = format!("{columns} WHERE kind = 'state_changed' AND at >= :start AND at <= :end");
    let change = |column: &Column<'_>| {
        let change = StateChange {
            at: column.required_time("at")?,
            from: column.get::<Option<String>>("from_state")?.unwrap_or_default(),
            // Written by serde (not in the stored timestamp format); a malformed one is unknown.
            from_since: column
                .get::<Option<String>>("from_since")?
                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&Utc)),
            to: column.get::<Option<String>>("to_state")?.unwrap_or_default(),
        };
        Ok((column.get::<String>("account")?, column.get::<i64>("id")?, change))
    };
    let mut found = select(conn, &before, named_params! { ":start": start }, "connection_events", change)?;
    found.extend(select(conn, &within, named_params! { ":start": start, ":end": end }, "connection_events", change)?);
    let mut by_account: BTreeMap<String, Vec<(i64, StateChange)>> = BTreeMap::new();
    for (account, id, change) in found {
        by_account.entry(account).or_default().push((id, change));
    }
    let mut sorted = BTreeMap::new();
    for (account, mut changes) in by_account {
        changes.sort_by_key(|(id, change)| (change.at, *id));
        sorted.insert(account, changes.into_iter().map(|(_, c)| c).collect());
    }
    Ok(sorted)
}

/// The figures of every local day of `zone` from `first_day` through `last_day` (a day past
/// `now` ends at `now`), per account, from the raw rows. Accounts: those with a status row or a
/// recorded state change.
pub(super) fn raw_days(
    conn: &Connection,
    zone: Tz,
    first_day: NaiveDate,
    last_day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<(NaiveDate, Figures)>>, PersistenceError> {
    let window_start = day_bounds(zone, first_day).0;
    let window_end = day_bounds(zone, last_day).1.min(now);
    let (start, end) = (timestamp(window_start), timestamp(window_end));
    let mut by_account = changes_between(conn, window_start, window_end)?;
    let attempts = select(
        conn,
        "SELECT account, at FROM connection_events WHERE kind = 'attempt_started' AND at >= :start AND at < :end",
        named_params! { ":start": start, ":end": end },
        "connection_events",
        |column| Ok((column.get::<String>("account")?, column.required_time("at")?)),
    )?;
    let mut attempts_by: BTreeMap<(String, NaiveDate), u32> = BTreeMap::new();
    for (account, at) in attempts {
        *attempts_by.entry((account.clone(), local_day(zone, at))).or_default() += 1;
        by_account.entry(account).or_default();
    }
    let known = select(conn, "SELECT account FROM ibkr_status", [], "ibkr_status", |c| c.get::<String>("account"))?;
    for account in known {
        by_account.entry(account).or_default();
    }
    let mut report = BTreeMap::new();
    for (account, changes) in by_account {
        let mut line = points(&changes);
        line.sort_by_key(|(at, _)| *at);
        let mut list = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            let (start, end) = day_bounds(zone, day);
            let end = end.min(now);
            if end > start {
                let mut f = figures(&line, start, end);
                f.attempts = attempts_by.get(&(account.clone(), day)).copied().unwrap_or(0);
                list.push((day, f));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        report.insert(account, list);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::at;
    use crate::persistence::rows::{timestamp, write_rows, EventRow};
    use crate::persistence::schema::MIGRATIONS;
    use crate::status::{ConnectionState, EventKind, StatusEvent};
    use rusqlite_migration::Migrations;
    use Availability::{Down, Reset, Unknown, Up};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn change(t: &str, from: &str, since: Option<&str>, to: &str) -> StateChange {
        StateChange { at: at(t), from: from.into(), from_since: since.map(at), to: to.into() }
    }

    /// Connected 10:00-12:00, reset window 12:00-13:00, disconnected 13:00-14:00, connected from
    /// 14:00 through midnight until 03:00 the next day, then disconnected.
    fn scripted() -> Vec<StateChange> {
        vec![
            change("2026-03-09T10:00:00Z", "disconnected", Some("2026-03-09T10:00:00Z"), "connected"),
            change("2026-03-09T12:00:00Z", "connected", Some("2026-03-09T10:00:00Z"), "reset_window"),
            change("2026-03-09T13:00:00Z", "reset_window", Some("2026-03-09T12:00:00Z"), "disconnected"),
            change("2026-03-09T14:00:00Z", "disconnected", Some("2026-03-09T13:00:00Z"), "connected"),
            change("2026-03-10T03:00:00Z", "connected", Some("2026-03-09T14:00:00Z"), "disconnected"),
        ]
    }

    #[test]
    fn reset_window_time_is_reported_apart_and_today_counts_up_to_now() {
        let line = timeline(&scripted()[..4]);
        let days = daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-09T16:00:00Z"));
        assert_eq!(days.len(), 1);
        let d = &days[0];
        assert_eq!(d.covered_secs, 16.0 * 3600.0);
        assert_eq!((d.up_secs, d.down_secs, d.reset_secs, d.unknown_secs), (4.0 * 3600.0, 3600.0, 3600.0, 36_000.0));
        assert_eq!((d.up_pct, d.down_pct, d.reset_pct, d.unknown_pct), (25.0, 6.25, 6.25, 62.5));
        assert_eq!(d.availability_pct, Some(80.0), "reset and unknown time are not downtime");
    }

    #[test]
    fn a_day_boundary_splits_the_time_at_utc_midnight() {
        let line = timeline(&scripted());
        let days = daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-10T06:00:00Z"));
        assert_eq!(days.iter().map(|d| d.day).collect::<Vec<_>>(), [day("2026-03-09"), day("2026-03-10")]);
        let (first, second) = (&days[0], &days[1]);
        assert_eq!(first.covered_secs, 86_400.0);
        assert_eq!(first.up_secs, 12.0 * 3600.0, "10-12 and 14-24");
        assert_eq!((first.down_secs, first.reset_secs, first.unknown_secs), (3600.0, 3600.0, 36_000.0));
        assert_eq!(first.up_pct, 50.0);
        assert!(close(first.reset_pct, 4.167) && close(first.down_pct, 4.167) && close(first.unknown_pct, 41.667));
        assert_eq!((second.covered_secs, second.up_secs, second.down_secs), (6.0 * 3600.0, 3.0 * 3600.0, 3.0 * 3600.0));
        assert_eq!((second.up_pct, second.down_pct, second.reset_pct, second.unknown_pct), (50.0, 50.0, 0.0, 0.0));
        // A window that starts before the records: days without any are all unknown.
        let days = daily_uptime("Paper", &line, day("2026-03-08"), at("2026-03-08T12:00:00Z"));
        assert_eq!((days[0].unknown_pct, days[0].availability_pct), (100.0, None));
        // Midnight exactly: today has no time yet, so it is left out.
        assert_eq!(daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-10T00:00:00Z")).len(), 1);
    }

    #[test]
    fn a_discontinuity_counts_as_unknown_not_as_the_last_state() {
        // Connected at 10:00, the process stopped at 11:00 and came back at 15:00.
        let changes = [
            change("2026-03-09T10:00:00Z", "connecting", Some("2026-03-09T09:59:00Z"), "connected"),
            change("2026-03-09T11:00:00Z", "connected", Some("2026-03-09T10:00:00Z"), "stopped"),
            change("2026-03-09T15:00:05Z", "disconnected", Some("2026-03-09T15:00:00Z"), "connecting"),
            change("2026-03-09T15:00:10Z", "connecting", Some("2026-03-09T15:00:05Z"), "connected"),
        ];
        let line = timeline(&changes);
        assert_eq!(
            line,
            vec![
                (at("2026-03-09T09:59:00Z"), Down),
                (at("2026-03-09T10:00:00Z"), Up),
                (at("2026-03-09T11:00:00Z"), Unknown),
                (at("2026-03-09T11:00:00Z"), Unknown),
                (at("2026-03-09T15:00:00Z"), Down),
                (at("2026-03-09T15:00:05Z"), Down),
                (at("2026-03-09T15:00:10Z"), Up),
            ]
        );
        let d = &daily_uptime("Paper", &line, day("2026-03-09"), at("2026-03-09T16:00:00Z"))[0];
        assert_eq!(d.unknown_secs, (9.0 * 3600.0 + 59.0 * 60.0) + 4.0 * 3600.0);
        assert_eq!(d.down_secs, 60.0 + 10.0);
        assert_eq!(d.up_secs, 3600.0 + 3600.0 - 10.0);
        assert_eq!(Availability::of_state("degraded"), Down);
        assert_eq!(Availability::of_state("reset_window"), Reset);
    }

    #[test]
    fn uptime_is_derived_from_the_state_changed_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).unwrap();
        let (t, s) = (at, |name: &str, since: &str| match name {
            "connected" => ConnectionState::Connected { since: at(since), client_id: 1 },
            "reset_window" => {
                ConnectionState::ResetWindow { since: at(since), until: at("2026-03-09T13:00:00Z"), link: None }
            }
            _ => ConnectionState::Disconnected { since: at(since), last_error: None },
        });
        let rows: Vec<EventRow> = scripted()
            .iter()
            .map(|c| {
                let since = c.from_since.map(timestamp).unwrap();
                let kind = EventKind::StateChanged { from: s(&c.from, &since), to: s(&c.to, &timestamp(c.at)) };
                EventRow::from_event(&StatusEvent::new("Paper", c.at, kind))
            })
            .collect();
        write_rows(&mut conn, rows.iter(), std::iter::empty(), |_| Ok(())).unwrap();
        let report = uptime(&conn, 2, t("2026-03-10T06:00:00Z")).unwrap();
        assert_eq!(report.len(), 2);
        assert_eq!((report[0].up_pct, report[1].up_pct, report[1].down_pct), (50.0, 50.0, 50.0));
        // A window starting after the first changes: the state it starts in comes from before.
        let report = uptime(&conn, 1, t("2026-03-10T06:00:00Z")).unwrap();
        assert_eq!((report.len(), report[0].unknown_pct, report[0].up_pct), (1, 0.0, 50.0));
        assert!(uptime(&conn, 0, t("2026-03-10T06:00:00Z")).unwrap().is_empty());
    }
}
