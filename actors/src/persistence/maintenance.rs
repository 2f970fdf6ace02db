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
