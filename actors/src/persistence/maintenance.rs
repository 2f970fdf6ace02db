//! Maintenance on the writer thread, one small step at a time between event transactions: roll
//! finished days up (`rollups.rs`), then prune expired events (`retention.rs`), then give the
//! freed pages back (incremental vacuum). Pending writes always go first; a failing step is
//! logged (at most every [`LOG_EVERY`](super::LOG_EVERY)) and counted, and the pass is tried
//! again after [`MAINTENANCE_EVERY`]; it never changes the persistence health nor holds events.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::Connection;

use super::error::PersistenceError;
use super::retention::{prune_step, vacuum_step, Retention, PRUNE_ROWS_PER_STEP, VACUUM_PAGES_PER_STEP};
use super::rollups::{roll_step, rolled_until, unroll};
use super::rows::{timestamp, EventRow};
use super::writer::Shared;
use super::LOG_EVERY;
use crate::clock::SharedClock;

/// Time between maintenance passes once one has nothing left to do.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// Most days one roll-up step computes.
pub const ROLL_DAYS_PER_STEP: u32 = 7;

/// What the next step of a pass does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Roll(usize),
    Prune,
    Vacuum,
}

pub(super) struct Maintenance {
    zones: Vec<Tz>,
    retention: Retention,
    clock: SharedClock,
    /// `None`: a pass is under way (run steps as soon as no writes are pending).
    next_pass: Option<Instant>,
    phase: Phase,
    /// Per zone, the first instant not rolled up (as a stored timestamp), when known.
    rolled_until: Vec<Option<String>>,
    last_logged: Option<Instant>,
}

impl Maintenance {
    /// Rollups in UTC and `trading_zone`; the first pass starts at once.
    pub(super) fn new(trading_zone: Tz, retention: Retention, clock: SharedClock) -> Self {
        let mut zones = vec![Tz::UTC];
        if trading_zone != Tz::UTC {
            zones.push(trading_zone);
        }
        let n = zones.len();
        Maintenance {
            zones,
            retention,
            clock,
            next_pass: None,
            phase: Phase::Roll(0),
            rolled_until: vec![None; n],
            last_logged: None,
        }
    }

    /// How long the writer may wait for commands before a step is due.
    pub(super) fn wait(&self) -> Duration {
        self.next_pass.map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now()))
    }

    pub(super) fn due(&self) -> bool {
        self.wait().is_zero()
    }

    /// The zones whose rolled-up days the rows of a batch reach back into: each gets
    /// [`unroll`] in the batch's transaction.
    pub(super) fn late<'a>(&self, rows: impl Iterator<Item = &'a EventRow>) -> Vec<(Tz, DateTime<Utc>)> {
        let mut late: Vec<(Tz, DateTime<Utc>)> = Vec::new();
        for row in rows.filter(|r| r.kind == "state_changed" || r.kind == "attempt_started") {
            for (zone, until) in self.zones.iter().zip(&self.rolled_until) {
                if until.as_ref().is_some_and(|until| row.at < *until) {
                    let Ok(at) = DateTime::parse_from_rfc3339(&row.at) else { continue };
                    let at = at.with_timezone(&Utc);
                    match late.iter_mut().find(|(z, _)| z == zone) {
                        Some((_, earliest)) => *earliest = (*earliest).min(at),
                        None => late.push((*zone, at)),
                    }
                }
            }
        }
        late
    }

    /// Move the progress of every late zone back, inside the batch's transaction.
    pub(super) fn unroll(conn: &Connection, late: &[(Tz, DateTime<Utc>)]) -> rusqlite::Result<()> {
        late.iter().try_for_each(|(zone, at)| unroll(conn, *zone, *at))
    }

    /// After the batch committed: the late zones' progress moved back.
    pub(super) fn unrolled(&mut self, late: &[(Tz, DateTime<Utc>)]) {
        for (zone, _) in late {
            if let Some(i) = self.zones.iter().position(|z| z == zone) {
                self.rolled_until[i] = None;
            }
        }
        if !late.is_empty() && self.next_pass.is_some() {
            self.next_pass = Some(Instant::now());
        }
    }

    /// Forget the cached progress (the file was reopened: it may be a new one).
    pub(super) fn reopened(&mut self) {
        self.rolled_until.iter_mut().for_each(|u| *u = None);
        self.next_pass = None;
        self.phase = Phase::Roll(0);
    }

    /// Run one step of the pass.
    pub(super) fn step(&mut self, conn: &mut Connection, shared: &Shared) {
        let now = self.clock.now();
        let result = self.try_step(conn, now, shared);
        match result {
            Ok(true) => {}
            Ok(false) => {
                self.next_pass = Some(Instant::now() + MAINTENANCE_EVERY);
                self.phase = Phase::Roll(0);
                let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.0.maintenance_passes += 1;
            }
            Err(error) => self.failed(&error, shared),
        }
    }

    /// A step failed (or the file could not be opened for it): logged, counted, the pass tried
    /// again after [`MAINTENANCE_EVERY`].
    pub(super) fn failed(&mut self, error: &PersistenceError, shared: &Shared) {
        self.next_pass = Some(Instant::now() + MAINTENANCE_EVERY);
        self.phase = Phase::Roll(0);
        {
            let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.0.maintenance_failures += 1;
            stats.0.last_maintenance_failure = Some(error.to_string());
        }
        if self.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::warn!(%error, retry_in = ?MAINTENANCE_EVERY,
                "persistence: maintenance failed; supervision and event writes go on");
            self.last_logged = Some(Instant::now());
        }
    }

    /// One step; `Ok(false)` when the pass is complete.
    fn try_step(
        &mut self,
        conn: &mut Connection,
        now: DateTime<Utc>,
        shared: &Shared,
    ) -> Result<bool, PersistenceError> {
        let bump = |f: &dyn Fn(&mut super::PersistenceStats)| {
            let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut stats.0);
        };
        match self.phase {
            Phase::Roll(i) => {
                let zone = self.zones[i];
                let rolled = roll_step(conn, zone, now, ROLL_DAYS_PER_STEP)?;
                bump(&|s| s.rolled_days += u64::from(rolled.days));
                if !rolled.more {
                    self.rolled_until[i] = rolled_until(conn, zone)?.map(timestamp);
                    self.phase = if i + 1 < self.zones.len() { Phase::Roll(i + 1) } else { Phase::Prune };
                }
                Ok(true)
            }
            Phase::Prune => {
                // Only what every zone has rolled up may go.
                let safe = self.rolled_until.iter().try_fold(DateTime::<Utc>::MAX_UTC, |min, until| {
                    let until = until.as_ref()?;
                    let until = DateTime::parse_from_rfc3339(until).ok()?.with_timezone(&Utc);
                    Some(min.min(until))
                });
                let deleted = match safe {
                    Some(safe) => prune_step(conn, now, self.retention, safe, PRUNE_ROWS_PER_STEP)?,
                    None => 0,
                };
                bump(&|s| s.pruned_events += deleted);
                if deleted < u64::from(PRUNE_ROWS_PER_STEP) {
                    self.phase = Phase::Vacuum;
                }
                Ok(true)
            }
            Phase::Vacuum => {
                let free = vacuum_step(conn, VACUUM_PAGES_PER_STEP)?;
                let freed = free.min(u64::from(VACUUM_PAGES_PER_STEP));
                bump(&|s| s.vacuumed_pages += freed);
                Ok(free > u64::from(VACUUM_PAGES_PER_STEP))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Days;
    use ractor::{Actor, OutputPort};

    use super::*;
    use crate::clock::OffsetClock;
    use crate::persistence::fixtures::{at, settings, TempDir};
    use crate::persistence::rows::write_rows;
    use crate::persistence::schema::{auto_vacuum, open_database};
    use crate::persistence::{paused_accounts, stats, uptime, PersistenceActor, PersistenceArgs};
    use crate::settings::DatabaseSettings;
    use crate::status::{ConnectionState, EventKind, StatusBoard, StatusEvent};

    /// A year (365 days to `now`) of two accounts reconnecting every two hours: per cycle the
    /// lost, state changes, attempt and three farm notices, about 8 rows as the gateway writes
    /// them. Plus audit events: a pause on day 10, a settings change on day 20, a persistence
    /// gap on day 50, a meltdown on day 100.
    fn a_year(now: DateTime<Utc>) -> Vec<EventRow> {
        let first = now.date_naive().checked_sub_days(Days::new(365)).unwrap();
        let mut rows = Vec::new();
        fn push(rows: &mut Vec<EventRow>, account: &str, t: DateTime<Utc>, kind: EventKind) {
            rows.push(EventRow::from_event(&StatusEvent::new(account, t, kind)));
        }
        for d in 0..365_u64 {
            let midnight = first.checked_add_days(Days::new(d)).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
            for (i, account) in ["Paper", "Live"].into_iter().enumerate() {
                for cycle in 0..12 {
                    let lost = midnight + chrono::Duration::minutes(cycle * 120 + 7 * i as i64);
                    let (retry, back) = (lost + chrono::Duration::seconds(2), lost + chrono::Duration::seconds(3));
                    let connected_since = lost - chrono::Duration::minutes(118);
                    let up = ConnectionState::Connected { since: connected_since, client_id: 1 };
                    let down = ConnectionState::Disconnected { since: lost, last_error: Some("eof".into()) };
                    let trying = ConnectionState::Connecting { since: retry, attempt: 1, client_id: 1 };
                    push(
                        &mut rows,
                        account,
                        lost,
                        EventKind::Lost { reason: "connection closed by the gateway".into() },
                    );
                    push(&mut rows, account, lost, EventKind::StateChanged { from: up, to: down.clone() });
                    push(&mut rows, account, retry, EventKind::AttemptStarted { attempt: 1, client_id: 1 });
                    push(&mut rows, account, retry, EventKind::StateChanged { from: down, to: trying.clone() });
                    let connected = ConnectionState::Connected { since: back, client_id: 1 };
                    push(&mut rows, account, back, EventKind::StateChanged { from: trying, to: connected });
                    for farm in ["usfarm", "ushmds", "secdefil"] {
                        let message = format!("Market data farm connection is OK:{farm}");
                        push(&mut rows, account, back, EventKind::Notice { code: 2104, message });
                    }
                }
            }
            let noon = midnight + chrono::Duration::hours(12);
            match d {
                10 => push(&mut rows, "Paper", noon, EventKind::TradingSwitched { active: false }),
                50 => rows.push(EventRow::gap(&super::super::rows::Gap {
                    dropped: 7,
                    first_at: noon,
                    last_at: noon,
                    limit: 10,
                })),
                100 => push(
                    &mut rows,
                    "*",
                    noon,
                    EventKind::Meltdown { actor: "gateway-Paper".into(), reason: "5 restarts in 60s".into() },
                ),
                _ => {}
            }
            if d == 20 {
                let mut row = EventRow::from_event(&StatusEvent::new(
                    "*",
                    noon,
                    EventKind::Notice { code: 0, message: "settings".into() },
                ));
                row.kind = "settings_changed".into();
                rows.push(row);
            }
        }
        rows
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_year_of_history_is_pruned_to_the_retention_and_the_file_shrinks() {
        let tmp = TempDir::new("year");
        let path = tmp.0.join("history.db");
        // Half an hour from the nearest event: the cutoff 90 days back moves with the clock while
        // the test runs, never across an event.
        let now = at("2027-03-01T12:30:00Z");
        let cutoff = crate::persistence::timestamp(now - chrono::Duration::days(90));
        let recent = a_year(now).iter().filter(|r| r.at >= cutoff).count() as i64;
        let before = {
            let mut conn = open_database(&path).unwrap();
            assert_eq!(auto_vacuum(&conn).unwrap(), 2, "a new file is in incremental auto-vacuum mode");
            write_rows(&mut conn, a_year(now).iter(), std::iter::empty(), |_| Ok(())).unwrap();
            assert_eq!(count(&conn, "SELECT count(*) FROM connection_events"), 2 * 365 * 12 * 8 + 4);
            uptime(&conn, 365, now).unwrap()
        };
        let size_before = std::fs::metadata(&path).unwrap().len();

        let board = StatusBoard::new(&settings().accounts, now);
        let args = PersistenceArgs {
            database: DatabaseSettings { path: path.clone(), ..DatabaseSettings::default() },
            board,
            events: Arc::new(OutputPort::default()),
            clock: Arc::new(OffsetClock::starting_at(now)),
            timezone: Tz::America__New_York,
        };
        let (actor, handle) = Actor::spawn(None, PersistenceActor::new(), args).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let done = loop {
            let s = stats(&actor).await.unwrap();
            if s.maintenance_passes >= 1 || Instant::now() >= deadline {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(done.maintenance_passes >= 1, "one maintenance pass within the deadline: {done:?}");
        assert_eq!((done.maintenance_failures, done.last_maintenance_failure.as_deref()), (0, None));
        assert_eq!(
            done.rolled_days,
            365 + 366,
            "every day with events, in UTC and New York (from 28 February 19:00 local)"
        );
        assert!(done.largest_batch < 100, "the actor's own writes stayed small: {done:?}");
        actor.stop(None);
        handle.await.unwrap();

        let conn = open_database(&path).unwrap();
        // Raw events older than 90 days are gone, but for the last state change of each account
        // before the cutoff; the audit events stay (2 years).
        let old: Vec<(String, String)> = {
            let mut stmt = conn
                .prepare(&format!("SELECT account, kind FROM connection_events WHERE at < '{cutoff}' ORDER BY at"))
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        let old: Vec<(&str, &str)> = old.iter().map(|(a, k)| (a.as_str(), k.as_str())).collect();
        assert_eq!(
            old,
            [
                ("Paper", "trading_switched"),
                ("*", "settings_changed"),
                ("*", "persistence_gap"),
                ("*", "meltdown"),
                ("Paper", "state_changed"),
                ("Live", "state_changed"),
            ]
        );
        let kept = count(&conn, &format!("SELECT count(*) FROM connection_events WHERE at >= '{cutoff}'"));
        assert_eq!(kept, recent, "the last 90 days whole");
        assert!(kept > 2 * 89 * 12 * 8);
        assert_eq!(done.pruned_events as i64, 2 * 365 * 12 * 8 - kept - 2);
        // A year of uptime answers the same from the rollups as it did from the raw events.
        assert_eq!(uptime(&conn, 365, now).unwrap(), before);
        // The operator's pause survives however old.
        assert_eq!(paused_accounts(&path).unwrap().len(), 1);
        drop(conn);
        let size_after = std::fs::metadata(&path).unwrap().len();
        assert!(
            size_after * 3 < size_before,
            "the file shrank to well under a third: {size_before} -> {size_after} bytes"
        );
        assert!(done.vacuumed_pages > 0);
    }
}
