//! Daily rollups: per account, per local day of a time zone (UTC and the trading zone), the
//! figures of [`uptime`](super::uptime) kept in `daily_rollups`, so a year of history answers from
//! a few hundred rows, and survives the pruning of the raw events (`retention.rs`).
//!
//! The writer thread rolls a day up once it is over, from the raw rows (the same arithmetic as a
//! live `/uptime`, so the two cannot disagree), a few days per step between event transactions.
//! `rollup_progress` records, per zone, the last day rolled up; an event that lands late for a
//! day already rolled up moves it back (in the event's own transaction), and the day is rolled
//! again. A zone seen for the first time (a new file, an upgraded one, a changed `timezone`) is
//! rolled up from the first day still in `connection_events`.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{named_params, Connection, OptionalExtension, TransactionBehavior};

use super::error::PersistenceError;
use super::rows::{conn_path, read_error, select};
use super::uptime::{day_bounds, local_day, raw_days, Figures};

/// Whether the file has the rollup tables (a file of an older release opened read-only has not).
fn has_rollups(conn: &Connection) -> Result<bool, PersistenceError> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'rollup_progress'", [], |r| {
            r.get(0)
        })
        .map_err(read_error(conn))?;
    Ok(n > 0)
}

/// The last day of `zone` rolled up, if any.
pub(super) fn rolled_through(conn: &Connection, zone: Tz) -> Result<Option<NaiveDate>, PersistenceError> {
    if !has_rollups(conn)? {
        return Ok(None);
    }
    let day: Option<String> = conn
        .query_row("SELECT rolled_through FROM rollup_progress WHERE zone = ?1", [zone.name()], |r| r.get(0))
        .optional()
        .map_err(read_error(conn))?;
    Ok(day.and_then(|d| d.parse().ok()))
}

/// The rolled-up figures of `zone` from `first` through `last`, by account and day.
pub(super) fn read_rollups(
    conn: &Connection,
    zone: Tz,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<BTreeMap<(String, NaiveDate), Figures>, PersistenceError> {
    let rows = select(
        conn,
        "SELECT account, day, covered_ms, up_ms, degraded_ms, down_ms, reset_ms, unknown_ms, outages, \
         longest_outage_ms, attempts FROM daily_rollups WHERE zone = :zone AND day >= :first AND day <= :last",
        named_params! { ":zone": zone.name(), ":first": first.to_string(), ":last": last.to_string() },
        "daily_rollups",
        |c| {
            let day: String = c.get("day")?;
            let day = day.parse::<NaiveDate>().map_err(|_| c.malformed("day", day.clone()))?;
            let figures = Figures {
                covered_ms: c.get("covered_ms")?,
                up_ms: c.get("up_ms")?,
                degraded_ms: c.get("degraded_ms")?,
                down_ms: c.get("down_ms")?,
                reset_ms: c.get("reset_ms")?,
                unknown_ms: c.get("unknown_ms")?,
                outages: c.get("outages")?,
                longest_outage_ms: c.get("longest_outage_ms")?,
                attempts: c.get("attempts")?,
            };
            Ok(((c.get::<String>("account")?, day), figures))
        },
    )?;
    Ok(rows.into_iter().collect())
}

/// What one [`roll_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rolled {
    /// Days rolled up.
    pub(super) days: u32,
    /// Whether more finished days wait.
    pub(super) more: bool,
}

/// Roll up at most `max_days` finished days of `zone` (the days before today at `now`), in one
/// short transaction.
pub(super) fn roll_step(
    conn: &mut Connection,
    zone: Tz,
    now: DateTime<Utc>,
    max_days: u32,
) -> Result<Rolled, PersistenceError> {
    let path = conn_path(conn);
    let failed =
        |source| PersistenceError::Maintenance { path: path.clone(), what: "rolling up the daily uptime", source };
    roll(conn, zone, now, max_days, &failed)
}

fn roll(
    conn: &mut Connection,
    zone: Tz,
    now: DateTime<Utc>,
    max_days: u32,
    failed: &dyn Fn(rusqlite::Error) -> PersistenceError,
) -> Result<Rolled, PersistenceError> {
    let today = local_day(zone, now);
    let Some(target) = today.pred_opt() else { return Ok(Rolled { days: 0, more: false }) };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    let progress: Option<String> = tx
        .query_row("SELECT rolled_through FROM rollup_progress WHERE zone = ?1", [zone.name()], |r| r.get(0))
        .optional()
        .map_err(failed)?;
    let rolled = match progress.and_then(|d| d.parse::<NaiveDate>().ok()) {
        Some(day) => day,
        None => {
            // A zone seen for the first time: from the first day still in the raw events.
            let earliest: Option<String> = tx
                .query_row(
                    "SELECT min(m) FROM (SELECT min(at) AS m FROM connection_events WHERE kind = 'state_changed' \
                 UNION ALL SELECT min(at) FROM connection_events WHERE kind = 'attempt_started')",
                    [],
                    |r| r.get(0),
                )
                .map_err(failed)?;
            let earliest = earliest.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc));
            match earliest {
                Some(at) => local_day(zone, at).pred_opt().unwrap_or(target).min(target),
                None => target,
            }
        }
    };
    if rolled >= target {
        set_progress(&tx, zone, rolled).map_err(failed)?;
        tx.commit().map_err(failed)?;
        return Ok(Rolled { days: 0, more: false });
    }
    let first = rolled.succ_opt().unwrap_or(target);
    let last = first.checked_add_days(Days::new(u64::from(max_days.max(1)) - 1)).unwrap_or(target).min(target);
    let computed = raw_days(&tx, zone, first, last, now)?;
    let write = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<()> {
        tx.execute(
            "DELETE FROM daily_rollups WHERE zone = ?1 AND day >= ?2 AND day <= ?3",
            [zone.name(), &first.to_string(), &last.to_string()],
        )?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO daily_rollups (account, zone, day, covered_ms, up_ms, degraded_ms, down_ms, reset_ms, \
             unknown_ms, outages, longest_outage_ms, attempts) VALUES (:account, :zone, :day, :covered, :up, \
             :degraded, :down, :reset, :unknown, :outages, :longest, :attempts)",
            )?;
            for (account, days) in &computed {
                for (day, f) in days.iter().filter(|(_, f)| f.observed()) {
                    insert.execute(named_params! {
                        ":account": account, ":zone": zone.name(), ":day": day.to_string(),
                        ":covered": f.covered_ms, ":up": f.up_ms, ":degraded": f.degraded_ms, ":down": f.down_ms,
                        ":reset": f.reset_ms, ":unknown": f.unknown_ms, ":outages": f.outages,
                        ":longest": f.longest_outage_ms, ":attempts": f.attempts,
                    })?;
                }
            }
        }
        set_progress(tx, zone, last)
    };
    write(&tx).map_err(failed)?;
    tx.commit().map_err(failed)?;
    let days = (last - first).num_days() as u32 + 1;
    Ok(Rolled { days, more: last < target })
}

fn set_progress(conn: &Connection, zone: Tz, day: NaiveDate) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO rollup_progress (zone, rolled_through) VALUES (?1, ?2) \
         ON CONFLICT (zone) DO UPDATE SET rolled_through = excluded.rolled_through",
        [zone.name(), &day.to_string()],
    )?;
    Ok(())
}

/// The first instant not rolled up in `zone` (the start of the day after the last one rolled
/// up), if any: raw events before it are in the rollups.
pub(super) fn rolled_until(conn: &Connection, zone: Tz) -> Result<Option<DateTime<Utc>>, PersistenceError> {
    Ok(rolled_through(conn, zone)?.map(|day| day_bounds(zone, day).1))
}

/// Inside an event transaction: a day of `zone` rolled up already gets a late event at `at`, so
/// it is rolled up again (with every day after it).
pub(super) fn unroll(conn: &Connection, zone: Tz, at: DateTime<Utc>) -> rusqlite::Result<()> {
    let before = local_day(zone, at).pred_opt().unwrap_or(NaiveDate::MIN);
    conn.execute(
        "UPDATE rollup_progress SET rolled_through = ?2 WHERE zone = ?1 AND rolled_through > ?2",
        [zone.name(), &before.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::{at, TempDir};
    use crate::persistence::retention::{prune_step, Retention};
    use crate::persistence::rows::{write_rows, EventRow};
    use crate::persistence::schema::open_database;
    use crate::persistence::uptime::uptime_in;
    use crate::persistence::DailyUptime;
    use crate::status::{ConnectionState, EventKind, StatusEvent};

    const NEW_YORK: Tz = Tz::America__New_York;

    fn state(name: &str, since: &str) -> ConnectionState {
        let since = at(since);
        match name {
            "connected" => ConnectionState::Connected { since, client_id: 1 },
            "connecting" => ConnectionState::Connecting { since, attempt: 1, client_id: 1 },
            "degraded" => ConnectionState::Degraded { since, client_id: 1, code: 1100, reason: "lost".into() },
            "reset_window" => {
                ConnectionState::ResetWindow { since, until: since + chrono::Duration::hours(1), link: None }
            }
            _ => ConnectionState::Disconnected { since, last_error: None },
        }
    }

    /// Paper, around the start of daylight saving time in New York (2026-03-08 02:00 EST becomes
    /// 03:00 EDT, at 07:00 UTC): outages across UTC midnight, a reset window, degraded across the
    /// DST jump, reconnect attempts.
    fn scripted() -> Vec<EventRow> {
        let mut since = "2026-03-07T09:00:00Z".to_owned();
        let mut from = "disconnected".to_owned();
        let mut rows = Vec::new();
        for (t, to) in [
            ("2026-03-07T10:00:00Z", "connecting"),
            ("2026-03-07T10:00:05Z", "connected"),
            ("2026-03-07T23:30:00Z", "disconnected"),
            ("2026-03-08T00:30:00Z", "connecting"),
            ("2026-03-08T01:00:00Z", "connected"),
            ("2026-03-08T04:45:00Z", "reset_window"),
            ("2026-03-08T05:45:00Z", "connected"),
            ("2026-03-08T06:30:00Z", "degraded"),
            ("2026-03-08T07:30:00Z", "connected"),
            ("2026-03-09T12:00:00Z", "disconnected"),
            ("2026-03-09T12:00:30Z", "connecting"),
            ("2026-03-09T12:01:00Z", "disconnected"),
            ("2026-03-09T12:04:30Z", "connecting"),
            ("2026-03-09T12:05:00Z", "connected"),
        ] {
            let kind = EventKind::StateChanged { from: state(&from, &since), to: state(to, t) };
            rows.push(EventRow::from_event(&StatusEvent::new("Paper", at(t), kind)));
            if to == "connecting" {
                let kind = EventKind::AttemptStarted { attempt: 1, client_id: 1 };
                rows.push(EventRow::from_event(&StatusEvent::new("Paper", at(t), kind)));
            }
            (since, from) = (t.to_owned(), to.to_owned());
        }
        rows
    }

    fn find<'a>(days: &'a [DailyUptime], day: &str) -> &'a DailyUptime {
        days.iter().find(|d| d.day.to_string() == day).unwrap_or_else(|| panic!("no {day} in {days:?}"))
    }

    fn roll_all(conn: &mut Connection, zone: Tz, now: DateTime<Utc>) -> u32 {
        let mut days = 0;
        loop {
            let rolled = roll_step(conn, zone, now, 2).unwrap();
            days += rolled.days;
            if !rolled.more {
                return days;
            }
        }
    }

    #[test]
    fn rollups_equal_the_raw_computation_across_midnight_and_a_dst_change() {
        let tmp = TempDir::new("rollups");
        let mut conn = open_database(&tmp.0.join("history.db")).unwrap();
        write_rows(&mut conn, scripted().iter(), std::iter::empty(), |_| Ok(())).unwrap();
        let now = at("2026-03-11T12:00:00Z");
        let raw_utc = uptime_in(&conn, 6, now, Tz::UTC).unwrap();
        let raw_ny = uptime_in(&conn, 6, now, NEW_YORK).unwrap();
        assert_eq!(rolled_through(&conn, Tz::UTC).unwrap(), None, "nothing rolled up yet: all from raw events");

        // Rolled up from the first day with events through yesterday, two days per step.
        assert_eq!(roll_all(&mut conn, Tz::UTC, now), 4, "07, 08, 09, 10 March");
        assert_eq!(roll_all(&mut conn, NEW_YORK, now), 4);
        assert_eq!(rolled_through(&conn, Tz::UTC).unwrap(), Some("2026-03-10".parse().unwrap()));
        assert_eq!(rolled_through(&conn, NEW_YORK).unwrap(), Some("2026-03-10".parse().unwrap()));
        let stored: i64 = conn.query_row("SELECT count(*) FROM daily_rollups", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 8, "one row per account, zone and observed day");
        // Pruned up to what is rolled up (the start of 11 March UTC, the earliest of both zones),
        // the rolled-up days answer the same; the last change before the cutoff stays, it tells
        // the state today starts in.
        let safe = rolled_until(&conn, Tz::UTC).unwrap().unwrap().min(rolled_until(&conn, NEW_YORK).unwrap().unwrap());
        assert_eq!(safe, at("2026-03-11T00:00:00Z"));
        let retention = Retention { raw: std::time::Duration::from_secs(1), audit: std::time::Duration::from_secs(1) };
        assert_eq!(prune_step(&mut conn, now, retention, safe, 10_000).unwrap(), 17, "all 18 rows but one");
        let left: Vec<String> =
            select(&conn, "SELECT at FROM connection_events", [], "connection_events", |c| c.get("at")).unwrap();
        assert_eq!(left, ["2026-03-09T12:05:00.000Z"]);
        assert_eq!(uptime_in(&conn, 6, now, Tz::UTC).unwrap(), raw_utc);
        assert_eq!(uptime_in(&conn, 6, now, NEW_YORK).unwrap(), raw_ny);

        // The figures, by hand. UTC 7 March: unknown until 09:00, down 09:00-10:00:05, up until
        // 23:30, then down into the next day.
        let d = find(&raw_utc, "2026-03-07");
        assert_eq!(
            (d.covered_secs, d.unknown_secs, d.up_secs),
            (86_400.0, 9.0 * 3600.0, 13.0 * 3600.0 + 29.0 * 60.0 + 55.0)
        );
        assert_eq!(
            (d.down_secs, d.outages, d.longest_outage_secs, d.reconnect_attempts),
            (3605.0 + 1800.0, 2, 3605.0, 1)
        );
        // UTC 8 March: the outage that began the day before is not counted again; degraded is down.
        let d = find(&raw_utc, "2026-03-08");
        assert_eq!((d.down_secs, d.degraded_secs, d.reset_secs), (7200.0, 3600.0, 3600.0));
        assert_eq!((d.outages, d.longest_outage_secs, d.reconnect_attempts), (1, 3600.0, 1));
        // New York 8 March is 23 hours long (05:00Z to 04:00Z next day).
        let d = find(&raw_ny, "2026-03-08");
        assert_eq!((d.covered_secs, d.up_secs, d.reset_secs), (82_800.0, 76_500.0, 2700.0));
        assert_eq!((d.down_secs, d.degraded_secs, d.outages, d.reconnect_attempts), (3600.0, 3600.0, 1, 0));
        // New York 7 March: the outage across UTC midnight is whole in the local day.
        let d = find(&raw_ny, "2026-03-07");
        assert_eq!(
            (d.covered_secs, d.unknown_secs, d.outages, d.longest_outage_secs),
            (86_400.0, 4.0 * 3600.0, 2, 5400.0)
        );
        assert_eq!((d.reset_secs, d.reconnect_attempts), (900.0, 2), "05:00 and 19:30 local");
        // 9 March: a failed attempt and a second one, one outage of five minutes.
        let d = find(&raw_utc, "2026-03-09");
        assert_eq!((d.outages, d.longest_outage_secs, d.reconnect_attempts, d.down_secs), (1, 300.0, 2, 300.0));
        // 10 March has no event at all: up the whole day, from the state before it.
        assert_eq!(find(&raw_utc, "2026-03-10").up_pct, 100.0);
        // Before the first record: unknown; today: up to now.
        assert_eq!(
            (find(&raw_utc, "2026-03-06").unknown_pct, find(&raw_utc, "2026-03-11").covered_secs),
            (100.0, 43_200.0)
        );
    }

    #[test]
    fn a_late_event_for_a_rolled_up_day_rolls_it_up_again() {
        let tmp = TempDir::new("late");
        let mut conn = open_database(&tmp.0.join("history.db")).unwrap();
        write_rows(&mut conn, scripted().iter(), std::iter::empty(), |_| Ok(())).unwrap();
        let now = at("2026-03-11T12:00:00Z");
        roll_all(&mut conn, Tz::UTC, now);
        assert_eq!(find(&uptime_in(&conn, 6, now, Tz::UTC).unwrap(), "2026-03-09").reconnect_attempts, 2);
        // An attempt of 9 March lands after the day was rolled up (the database was locked, say).
        let late = at("2026-03-09T20:00:00Z");
        let row = EventRow::from_event(&StatusEvent::new(
            "Paper",
            late,
            EventKind::AttemptStarted { attempt: 2, client_id: 1 },
        ));
        write_rows(&mut conn, [row].iter(), std::iter::empty(), |tx| unroll(tx, Tz::UTC, late)).unwrap();
        assert_eq!(rolled_through(&conn, Tz::UTC).unwrap(), Some("2026-03-08".parse().unwrap()));
        assert_eq!(roll_all(&mut conn, Tz::UTC, now), 2, "9 and 10 March again");
        assert_eq!(find(&uptime_in(&conn, 6, now, Tz::UTC).unwrap(), "2026-03-09").reconnect_attempts, 3);
    }
}
