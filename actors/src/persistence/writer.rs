//! The writer thread: every SQLite call of the persistence actor runs here, fed by a channel;
//! it batches, coalesces status rows, retries with backoff, mirrors events to the JSON-lines
//! file, and publishes the health on the board.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::RpcReplyPort;
use rusqlite::Connection;
use serde::Serialize;

use super::check::check_rows;
use super::error::{write_hint, PersistenceError};
use super::maintenance::Maintenance;
use super::read::read_status;
use super::rows::{write_rows, EventRow, Gap, StoredStatus};
use super::schema::{file_id, open_database};
use super::{
    HEALTH_EVERY, LOG_EVERY, MAX_BATCH_ROWS, MAX_PENDING_EVENTS, RECENT_BATCHES, RETRY_FIRST, RETRY_MAX,
    STOP_FLUSH_WITHIN,
};
use crate::settings::DatabaseSettings;
use crate::status::{AccountStatus, PersistenceHealth, StatusBoard, StatusEvent};

/// Write statistics, for the benchmark and `/actors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersistenceStats {
    /// Transactions committed.
    pub batches: u64,
    /// Rows written (events and status rows).
    pub rows: u64,
    /// The largest transaction, in rows.
    pub largest_batch: u64,
    /// Write attempts that failed.
    pub failed_attempts: u64,
    /// The most recent failure, kept after writes land again (the health's `last_error` is
    /// cleared then): a fault that healed at the next retry still shows here.
    pub last_failure: Option<String>,
    /// Durations of the most recent transactions (at most 4096, oldest first), in microseconds.
    pub recent_batch_micros: Vec<u64>,
    /// Days rolled up into `daily_rollups` (per zone).
    pub rolled_days: u64,
    /// Events deleted by retention.
    pub pruned_events: u64,
    /// Pages given back to the file system by incremental vacuum.
    pub vacuumed_pages: u64,
    /// Maintenance passes completed (rolled up, pruned and vacuumed with nothing left to do).
    pub maintenance_passes: u64,
    /// Maintenance steps that failed (each logged, at most every 30 s; tried again a minute later).
    pub maintenance_failures: u64,
    /// The most recent maintenance failure.
    pub last_maintenance_failure: Option<String>,
}

#[derive(Default)]
pub(super) struct Shared {
    /// Events (and gap rows) accepted by the actor and not yet in the database.
    pub(super) outstanding: AtomicU64,
    /// Status rows waiting.
    pub(super) status_pending: AtomicU64,
    /// Events in the database but not yet in the JSON-lines mirror.
    pub(super) mirror_pending: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) failing: AtomicBool,
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) stats: Mutex<(PersistenceStats, VecDeque<u64>)>,
    /// A `BoardChanged` is in the actor's mailbox.
    pub(super) board_signal: AtomicBool,
}

impl Shared {
    pub(super) fn health(&self) -> PersistenceHealth {
        PersistenceHealth {
            ok: !self.failing.load(Ordering::Acquire),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
            pending: self.outstanding.load(Ordering::Acquire)
                + self.status_pending.load(Ordering::Acquire)
                + self.mirror_pending.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            written: self.written.load(Ordering::Acquire),
        }
    }

    pub(super) fn stats(&self) -> PersistenceStats {
        let guard = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = guard.0.clone();
        stats.recent_batch_micros = guard.1.iter().copied().collect();
        stats
    }
}

/// Where a "written yet?" answer goes: `Ok`, or why not.
type Confirm = RpcReplyPort<Result<(), String>>;

/// What the actor hands to the writer thread.
pub(super) enum Command {
    Event(Box<StatusEvent>),
    Gap(Gap),
    Status {
        accounts: Vec<AccountStatus>,
        at: DateTime<Utc>,
    },
    Flush(RpcReplyPort<()>),
    /// Answer once every event accepted so far is in the database (`Ok`), or after the attempt
    /// to write them failed (`Err` with why; they stay queued and retried).
    Durable(RpcReplyPort<Result<(), String>>),
    /// A check's observation (see `check.rs`): its rows are queued like any others; the answer
    /// comes once they are in the database (`Ok`), or after the attempt failed (`Err`).
    Check {
        accounts: Vec<AccountStatus>,
        at: DateTime<Utc>,
        reply: RpcReplyPort<Result<(), String>>,
    },
    Shutdown {
        deadline: Instant,
        done: mpsc::Sender<bool>,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_pending: u64,
    pub(super) max_batch: usize,
    pub(super) retry_first: Duration,
    pub(super) retry_max: Duration,
    pub(super) stop_flush: Duration,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        max_pending: MAX_PENDING_EVENTS,
        max_batch: MAX_BATCH_ROWS,
        retry_first: RETRY_FIRST,
        retry_max: RETRY_MAX,
        stop_flush: STOP_FLUSH_WITHIN,
    };
}

struct Failure {
    since: Instant,
    attempts: u32,
    backoff: Duration,
    next_retry: Instant,
    last_logged: Instant,
    error: String,
}

struct OpenDb {
    conn: Connection,
    id: Option<(u64, u64)>,
}

pub(super) struct Writer {
    path: PathBuf,
    event_log: Option<PathBuf>,
    board: StatusBoard,
    shared: Arc<Shared>,
    limits: Limits,
    maintenance: Maintenance,
    db: Option<OpenDb>,
    /// Accepted events in order; the first `db_done` are in the database, the first `log_done`
    /// in the mirror; a prefix in both leaves the queue. Bounded: the actor admits at most
    /// `max_pending` events not yet in the database, and the mirror may lag the database by at
    /// most `max_pending` lines.
    queue: VecDeque<EventRow>,
    db_done: usize,
    log_done: usize,
    /// Coalesced: the latest unwritten status of each account.
    status: BTreeMap<String, StoredStatus>,
    /// The last written status of each account (rewritten after a reopen: the file may be new).
    written_status: HashMap<String, StoredStatus>,
    failure: Option<Failure>,
    flush_waiters: Vec<RpcReplyPort<()>>,
    /// Waiting for the events up to an absolute position (see `drained`) to be written, and
    /// (for a check) the status rows too.
    durable_waiters: Vec<(u64, bool, Confirm)>,
    /// Events that left the front of `queue` so far: `drained + i` is queue[i]'s position.
    drained: u64,
    forced: bool,
    stop: Option<(Instant, mpsc::Sender<bool>)>,
    published: Option<(PersistenceHealth, Instant)>,
    mirror_drop_logged: Option<Instant>,
}

impl Writer {
    pub(super) fn new(
        database: &DatabaseSettings,
        board: StatusBoard,
        shared: Arc<Shared>,
        limits: Limits,
        maintenance: Maintenance,
    ) -> Self {
        Writer {
            maintenance,
            path: database.path.clone(),
            event_log: database.event_log.clone(),
            board,
            shared,
            limits,
            db: None,
            queue: VecDeque::new(),
            db_done: 0,
            log_done: 0,
            status: BTreeMap::new(),
            written_status: HashMap::new(),
            failure: None,
            flush_waiters: Vec::new(),
            durable_waiters: Vec::new(),
            drained: 0,
            forced: false,
            stop: None,
            published: None,
            mirror_drop_logged: None,
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Command>) {
        loop {
            let mut disconnected = false;
            let first = if !self.has_work() {
                // Idle: wait for commands, or until the next maintenance step is due.
                rx.recv_timeout(self.maintenance.wait())
            } else {
                match &self.failure {
                    Some(f) if !self.forced => {
                        let wait = f.next_retry.saturating_duration_since(Instant::now()).min(HEALTH_EVERY);
                        rx.recv_timeout(wait)
                    }
                    _ => rx.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    }),
                }
            };
            match first {
                Ok(command) => self.accept(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Take what accumulated meanwhile: it goes into the same transaction.
            for _ in 0..self.limits.max_batch {
                if disconnected || self.stop.is_some() {
                    break;
                }
                match rx.try_recv() {
                    Ok(command) => self.accept(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => disconnected = true,
                }
            }
            if disconnected || self.stop.is_some() {
                self.finish();
                return;
            }
            let due = self.forced || self.failure.as_ref().is_none_or(|f| Instant::now() >= f.next_retry);
            if self.has_work() && due {
                self.attempt();
            }
            // Maintenance only between writes: pending rows always go first.
            if !self.has_work() && self.failure.is_none() && self.maintenance.due() {
                self.maintain();
            }
            // The board first: whoever waits for the flush then sees the outcome there too.
            let flushed = std::mem::take(&mut self.forced);
            self.publish(flushed);
            for waiter in self.flush_waiters.drain(..) {
                let _ = waiter.send(());
            }
            let written = self.drained + self.db_done as u64;
            for (target, rows, waiter) in self.durable_waiters.drain(..) {
                let answer = if written >= target && (!rows || self.status.is_empty()) {
                    Ok(())
                } else {
                    Err(self.failure.as_ref().map_or_else(|| "not written yet".to_owned(), |f| f.error.clone()))
                };
                let _ = waiter.send(answer);
            }
        }
    }

    fn accept(&mut self, command: Command) {
        match command {
            Command::Event(event) => self.queue.push_back(EventRow::from_event(&event)),
            Command::Gap(gap) => self.queue.push_back(EventRow::gap(&gap)),
            Command::Status { accounts, at } => {
                for status in accounts {
                    let latest = self.status.get(&status.name).or_else(|| self.written_status.get(&status.name));
                    if latest.is_none_or(|row| row.status != status) {
                        self.status.insert(status.name.clone(), StoredStatus { status, updated_at: at });
                    }
                }
                self.shared.status_pending.store(self.status.len() as u64, Ordering::Release);
            }
            Command::Flush(reply) => {
                self.flush_waiters.push(reply);
                self.forced = true;
            }
            Command::Durable(reply) => {
                self.durable_waiters.push((self.drained + self.queue.len() as u64, false, reply));
                self.forced = true;
            }
            Command::Check { accounts, at, reply } => self.check(accounts, at, reply),
            Command::Shutdown { deadline, done } => self.stop = Some((deadline, done)),
        }
        if self.event_log.is_none() {
            self.log_done = self.queue.len();
        }
    }

    /// Queue a check's rows, computed against the rows recorded so far (see `check.rs`).
    fn check(&mut self, accounts: Vec<AccountStatus>, at: DateTime<Utc>, reply: RpcReplyPort<Result<(), String>>) {
        let prior = match self.ensure_open().and_then(|db| read_status(&db.conn)) {
            Ok(prior) => prior,
            Err(e) => {
                // Nothing is queued: the check cannot be judged against what is recorded. The
                // health says so (the caller reports it); the next check tries again.
                self.db = None;
                self.failed(e.to_string());
                let _ = reply.send(Err(e.to_string()));
                return;
            }
        };
        let (events, rows) = check_rows(&prior, accounts, at);
        self.shared.outstanding.fetch_add(events.len() as u64, Ordering::AcqRel);
        self.queue.extend(events.iter().map(EventRow::from_event));
        for status in rows {
            self.status.insert(status.name.clone(), StoredStatus { status, updated_at: at });
        }
        self.shared.status_pending.store(self.status.len() as u64, Ordering::Release);
        self.durable_waiters.push((self.drained + self.queue.len() as u64, true, reply));
        self.forced = true;
    }

    fn has_work(&self) -> bool {
        self.db_done < self.queue.len() || self.log_done < self.queue.len() || !self.status.is_empty()
    }

    /// Write everything pending (in transactions of at most `max_batch` events) and mirror it.
    fn attempt(&mut self) {
        let mut errors = Vec::new();
        while self.db_done < self.queue.len() || !self.status.is_empty() {
            if let Err(e) = self.write_batch() {
                if !e.is_busy() {
                    self.db = None; // reopen on the next attempt
                }
                errors.push(e.to_string());
                break;
            }
        }
        if let Err(e) = self.write_log() {
            errors.push(e.to_string());
        }
        // The mirror must not hold the database back: past the bound, its oldest lines go (counted).
        let behind = self.db_done.saturating_sub(self.log_done) as u64;
        if behind > self.limits.max_pending {
            let skip = behind - self.limits.max_pending;
            self.log_done += skip as usize;
            let dropped = self.shared.dropped.fetch_add(skip, Ordering::AcqRel) + skip;
            if self.mirror_drop_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(path = ?self.event_log, skipped = skip, dropped,
                    "persistence: the event log mirror is too far behind; its oldest lines are dropped (counted)");
                self.mirror_drop_logged = Some(Instant::now());
            }
        }
        let done = self.db_done.min(self.log_done);
        self.queue.drain(..done);
        self.drained += done as u64;
        self.db_done -= done;
        self.log_done -= done;
        self.shared.mirror_pending.store(self.db_done.saturating_sub(self.log_done) as u64, Ordering::Release);
        self.shared.status_pending.store(self.status.len() as u64, Ordering::Release);
        if errors.is_empty() {
            self.recovered();
        } else {
            self.failed(errors.join("; "));
        }
    }

    /// One maintenance step (rollups, retention, vacuum).
    fn maintain(&mut self) {
        match self.ensure_open() {
            Ok(_) => {
                let db = self.db.as_mut().expect("opened");
                self.maintenance.step(&mut db.conn, &self.shared);
            }
            Err(e) => self.maintenance.failed(&e, &self.shared),
        }
    }

    fn ensure_open(&mut self) -> Result<&mut OpenDb, PersistenceError> {
        if let Some(db) = &self.db {
            if file_id(&self.path) != db.id {
                self.db = None;
                return Err(PersistenceError::Vanished { path: self.path.clone() });
            }
        }
        if self.db.is_none() {
            let conn = open_database(&self.path)?;
            let id = file_id(&self.path);
            // The file may be a new one: every known status row goes into it again.
            for (account, row) in self.written_status.drain() {
                self.status.entry(account).or_insert(row);
            }
            self.db = Some(OpenDb { conn, id });
            self.maintenance.reopened();
        }
        Ok(self.db.as_mut().expect("just opened"))
    }

    fn write_batch(&mut self) -> Result<(), PersistenceError> {
        self.ensure_open()?;
        let end = self.queue.len().min(self.db_done + self.limits.max_batch);
        let db = self.db.as_mut().expect("opened");
        let started = Instant::now();
        let late = self.maintenance.late(self.queue.range(self.db_done..end));
        let rows = write_rows(&mut db.conn, self.queue.range(self.db_done..end), self.status.values(), |tx| {
            Maintenance::unroll(tx, &late)
        })
        .map_err(|source| PersistenceError::Write {
            path: self.path.clone(),
            hint: write_hint(&source),
            source,
        })?;
        self.maintenance.unrolled(&late);
        let elapsed = started.elapsed();
        if file_id(&self.path) != db.id {
            // Committed into a file that is no longer there: write the rows again in a new one.
            self.db = None;
            return Err(PersistenceError::Vanished { path: self.path.clone() });
        }
        self.shared.outstanding.fetch_sub((end - self.db_done) as u64, Ordering::AcqRel);
        self.db_done = end;
        self.written_status.extend(std::mem::take(&mut self.status));
        self.shared.written.fetch_add(rows, Ordering::AcqRel);
        let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.0.batches += 1;
        stats.0.rows += rows;
        stats.0.largest_batch = stats.0.largest_batch.max(rows);
        if stats.1.len() == RECENT_BATCHES {
            stats.1.pop_front();
        }
        stats.1.push_back(elapsed.as_micros() as u64);
        Ok(())
    }

    fn write_log(&mut self) -> Result<(), PersistenceError> {
        let Some(path) = &self.event_log else { return Ok(()) };
        while self.log_done < self.queue.len() {
            let end = self.queue.len().min(self.log_done + self.limits.max_batch);
            let mut buffer = String::new();
            for row in self.queue.range(self.log_done..end) {
                buffer.push_str(&row.json);
                buffer.push('\n');
            }
            append(path, buffer.as_bytes())
                .map_err(|source| PersistenceError::EventLog { path: path.clone(), source })?;
            self.log_done = end;
        }
        Ok(())
    }

    fn failed(&mut self, error: String) {
        let now = Instant::now();
        {
            let mut stats = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.0.failed_attempts += 1;
            stats.0.last_failure = Some(error.clone());
        }
        let pending = self.shared.health().pending;
        match &mut self.failure {
            None => {
                tracing::warn!(path = %self.path.display(), %error, pending,
                    "persistence: cannot write; supervision goes on, the writes are kept and retried");
                self.failure = Some(Failure {
                    since: now,
                    attempts: 1,
                    backoff: self.limits.retry_first,
                    next_retry: now + self.limits.retry_first,
                    last_logged: now,
                    error: error.clone(),
                });
            }
            Some(f) => {
                f.attempts += 1;
                f.backoff = (f.backoff * 2).min(self.limits.retry_max);
                f.next_retry = now + f.backoff;
                let quiet = now.duration_since(f.last_logged);
                if quiet >= LOG_EVERY || (error != f.error && quiet >= Duration::from_secs(5)) {
                    tracing::warn!(path = %self.path.display(), %error, pending, attempts = f.attempts,
                        failing_for = ?f.since.elapsed(), "persistence: still cannot write; retrying");
                    f.last_logged = now;
                }
                f.error = error.clone();
            }
        }
        self.shared.failing.store(true, Ordering::Release);
        *self.shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    fn recovered(&mut self) {
        if let Some(f) = self.failure.take() {
            tracing::info!(path = %self.path.display(), attempts = f.attempts, failing_for = ?f.since.elapsed(),
                last_error = %f.error, "persistence: writes land again");
        }
        self.shared.failing.store(false, Ordering::Release);
        *self.shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Put the health on the board: at once when it matters (ok, error, drops, queue emptied,
    /// a flush), else at most every [`HEALTH_EVERY`].
    fn publish(&mut self, force: bool) {
        let health = self.shared.health();
        let due = match &self.published {
            None => true,
            Some((last, _)) if *last == health => false,
            Some((last, at)) => {
                force
                    || last.ok != health.ok
                    || last.last_error != health.last_error
                    || last.dropped != health.dropped
                    || health.pending == 0
                    || at.elapsed() >= HEALTH_EVERY
            }
        };
        if due {
            self.board.set_persistence(health.clone());
            self.published = Some((health, Instant::now()));
        }
    }

    /// The actor stopped: write what is left, retrying until the deadline, then close.
    fn finish(&mut self) {
        let (deadline, done) = match self.stop.take() {
            Some((deadline, done)) => (deadline, Some(done)),
            None => (Instant::now() + self.limits.stop_flush, None),
        };
        loop {
            if self.has_work() {
                self.attempt();
            }
            let now = Instant::now();
            if !self.has_work() || now >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50).min(deadline - now));
        }
        self.publish(true);
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.send(());
        }
        let landed = !self.has_work();
        if !landed {
            let health = self.shared.health();
            tracing::error!(path = %self.path.display(), pending = health.pending,
                error = health.last_error.as_deref().unwrap_or(""),
                "persistence: writes could not be saved before shutdown and are lost");
        }
        self.db = None; // closing checkpoints the WAL into the file
        if let Some(done) = done {
            let _ = done.send(landed);
        }
    }
}

/// Append `bytes` to the file at `path` (creating it and its directory); on failure, cut back
/// what was partly written so a retry does not leave half a line.
fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let open = || fs::OpenOptions::new().create(true).append(true).open(path);
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            open()?
        }
        other => other?,
    };
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(bytes).and_then(|()| file.flush()) {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}
