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
