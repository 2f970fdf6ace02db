//! The [`PersistenceActor`]: it subscribes to the event port and watches the board, and hands
//! everything to the writer thread; every handler returns at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::watch;

use super::check::Recording;
use super::error::PersistenceError;
use super::maintenance::Maintenance;
use super::retention::Retention;
use super::rows::Gap;
use super::writer::{Command, Limits, PersistenceStats, Shared, Writer};
use super::{LOG_EVERY, STOP_FLUSH_WITHIN};
use crate::clock::SharedClock;
use crate::settings::DatabaseSettings;
use crate::status::{
    AccountStatus, BoardSnapshot, ConnectionState, EventKind, EventPort, PersistenceHealth, StatusBoard, StatusEvent,
};

/// Everything the PersistenceActor is started with.
#[derive(Clone)]
pub struct PersistenceArgs {
    /// The SQLite file and the optional JSON-lines mirror.
    pub database: DatabaseSettings,
    /// The board whose accounts become `ibkr_status` rows (and where the health is shown).
    pub board: StatusBoard,
    /// The events that become `connection_events` rows.
    pub events: EventPort,
    /// Stamps the status rows' `updated_at`, and is "now" for retention and the rollups.
    pub clock: SharedClock,
    /// The trading time zone (the settings' `timezone`): days are rolled up in it and in UTC.
    pub timezone: chrono_tz::Tz,
}

/// Messages the PersistenceActor handles. Every handler returns at once: the database work is
/// on the writer thread.
pub enum PersistenceMessage {
    /// A published status event (the actor subscribes to the event port in `pre_start`).
    Event(StatusEvent),
    /// The board's accounts changed (sent by the actor's board watcher, coalesced).
    BoardChanged,
    /// Write everything received so far now (retrying at once if writes were failing), and
    /// answer after that attempt, whether it succeeded or not: `Health` then tells.
    Flush(RpcReplyPort<()>),
    /// The persistence health (the same figures as the board's `persistence`), answered at once.
    Health(RpcReplyPort<PersistenceHealth>),
    /// Where it writes, the health and the write statistics, for `/actors`; answered at once.
    Snapshot(RpcReplyPort<PersistenceSnapshot>),
    /// Write statistics, answered at once.
    Stats(RpcReplyPort<PersistenceStats>),
    /// Answered once the operator's `trading_switched` event of `account` at `at` is in the
    /// database (`Ok`), or when it cannot be (`Err` with why: the write failed and is retried,
    /// or the event was dropped). Waits for the event to arrive through the event port first.
    /// The HTTP layer says "persisted" only on `Ok`; see [`confirm_switch`].
    Durable {
        /// The account switched.
        account: String,
        /// When the guard switched it (the event's `at`).
        at: DateTime<Utc>,
        /// Where the answer goes.
        reply: RpcReplyPort<Result<(), String>>,
    },
    /// Answered once, for every account, the last `StateChanged` received ends in the board's
    /// current state: the events that led there (which travel through the event port's fan-out
    /// task, behind the board) have all reached the actor. Used at shutdown, see [`stop_last`].
    Settle(RpcReplyPort<()>),
    /// Record a check's observation of `accounts` at `at` (only under [`Recording::Check`]; see
    /// `check.rs`). Answered once its rows are in the database (`Ok`), or with why not.
    Check {
        /// The accounts as the check found them.
        accounts: Vec<AccountStatus>,
        /// When the check was made: the rows' `last_checked`.
        at: DateTime<Utc>,
        /// Where the answer goes.
        reply: RpcReplyPort<Result<(), String>>,
    },
}

/// Where a [`PersistenceMessage::Durable`] answer goes.
type DurableReply = RpcReplyPort<Result<(), String>>;

/// Records the status board and every status event in SQLite; see the module documentation.
/// Spawn it as `PersistenceActor::new()` (a run), or `PersistenceActor::recording(Recording::Check)`.
pub struct PersistenceActor {
    limits: Limits,
    record: Recording,
}

impl PersistenceActor {
    /// An actor that records a run, with the default limits
    /// ([`MAX_PENDING_EVENTS`](super::MAX_PENDING_EVENTS), …).
    pub fn new() -> Self {
        Self::recording(Recording::Run)
    }

    /// An actor that records a run or a check (see [`Recording`]).
    pub fn recording(record: Recording) -> Self {
        Self { limits: Limits::DEFAULT, record }
    }
}

impl Default for PersistenceActor {
    fn default() -> Self {
        Self::new()
    }
}

/// Aborts the board watcher when the actor's state goes (stop, failure or kill).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What `/actors` shows of the persistence actor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersistenceSnapshot {
    /// The SQLite file.
    pub database: PathBuf,
    /// The JSON-lines mirror, if configured.
    pub event_log: Option<PathBuf>,
    /// The same figures as the board's `persistence`.
    pub health: PersistenceHealth,
    /// Transactions committed.
    pub batches: u64,
    /// Rows written (events and status rows).
    pub rows: u64,
    /// The largest transaction, in rows.
    pub largest_batch: u64,
    /// Write attempts that failed.
    pub failed_attempts: u64,
    /// The most recent failure, kept after writes land again.
    pub last_failure: Option<String>,
}

/// The actor's side of the writer thread: its channel, the admission bound, the gap being
/// counted, and the shutdown handshake.
pub struct PersistenceState {
    database: DatabaseSettings,
    board: StatusBoard,
    clock: SharedClock,
    tx: Sender<Command>,
    shared: Arc<Shared>,
    limits: Limits,
    gap: Option<Gap>,
    last_drop_log: Option<Instant>,
    /// The state each account's last `StateChanged` entered.
    last_state: HashMap<String, ConnectionState>,
    settle_waiters: Vec<RpcReplyPort<()>>,
    /// The latest `trading_switched` event admitted (true) or dropped (false), per account.
    switches: HashMap<String, (DateTime<Utc>, bool)>,
    /// `Durable` requests whose event has not arrived yet.
    durable_waiters: Vec<(String, DateTime<Utc>, DurableReply)>,
    /// A run or a check: a check neither subscribes to the events nor watches the board.
    record: Recording,
    _watcher: Option<AbortOnDrop>,
}

impl Actor for PersistenceActor {
    type Msg = PersistenceMessage;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        PersistenceState::start(myself, args, self.limits, self.record)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: PersistenceMessage,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(message)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop().await;
        Ok(())
    }
}

impl PersistenceState {
    fn start(
        myself: ActorRef<PersistenceMessage>,
        args: PersistenceArgs,
        limits: Limits,
        record: Recording,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let retention = Retention { raw: args.database.retention, audit: args.database.keep_audit };
        let maintenance = Maintenance::new(args.timezone, retention, args.clock.clone());
        let writer = Writer::new(&args.database, args.board.clone(), shared.clone(), limits, maintenance);
        std::thread::Builder::new()
            .name("ibkr-persistence".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| format!("cannot start the persistence writer thread: {e}"))?;
        // A check records only what it is handed (PersistenceMessage::Check).
        let watcher = (record == Recording::Run).then(|| {
            args.events.subscribe(myself.clone(), |event| Some(PersistenceMessage::Event(event)));
            AbortOnDrop(tokio::spawn(watch_board(args.board.subscribe(), myself, shared.clone())))
        });
        let state = PersistenceState {
            database: args.database,
            board: args.board,
            clock: args.clock,
            tx,
            shared,
            limits,
            gap: None,
            last_drop_log: None,
            last_state: HashMap::new(),
            settle_waiters: Vec::new(),
            switches: HashMap::new(),
            durable_waiters: Vec::new(),
            record,
            _watcher: watcher,
        };
        state.send_status()?;
        Ok(state)
    }

    fn send(&self, command: Command) -> Result<(), ActorProcessingErr> {
        self.tx.send(command).map_err(|_| "the persistence writer thread has stopped".into())
    }

    /// The board's accounts as status rows (a run only: a check's rows come with its `Check`).
    fn send_status(&self) -> Result<(), ActorProcessingErr> {
        if self.record == Recording::Check {
            return Ok(());
        }
        let accounts = self.board.snapshot().accounts;
        self.send(Command::Status { accounts, at: self.clock.now() })
    }

    fn send_gap(&mut self) -> Result<(), ActorProcessingErr> {
        match self.gap.take() {
            Some(gap) => {
                self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
                self.send(Command::Gap(gap))
            }
            None => Ok(()),
        }
    }

    fn handle(&mut self, message: PersistenceMessage) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMessage::Event(event) => {
                let entered = match &event.kind {
                    EventKind::StateChanged { to, .. } => Some((event.account.clone(), to.clone())),
                    _ => None,
                };
                let switch =
                    matches!(event.kind, EventKind::TradingSwitched { .. }).then(|| (event.account.clone(), event.at));
                let admitted = self.admit(event)?;
                if let Some((account, at)) = switch {
                    self.switches.insert(account.clone(), (at, admitted));
                    let (ready, waiting) = std::mem::take(&mut self.durable_waiters)
                        .into_iter()
                        .partition(|(a, t, _)| *a == account && *t <= at);
                    self.durable_waiters = waiting;
                    for (_, _, reply) in ready {
                        self.durable(admitted, reply)?;
                    }
                }
                if let Some((account, state)) = entered {
                    self.last_state.insert(account, state);
                    if !self.settle_waiters.is_empty() && self.settled() {
                        for waiter in self.settle_waiters.drain(..) {
                            let _ = waiter.send(());
                        }
                    }
                }
            }
            PersistenceMessage::Durable { account, at, reply } => {
                self.durable_waiters.retain(|(_, _, r)| !r.is_closed());
                match self.switches.get(&account) {
                    Some((seen, admitted)) if *seen >= at => self.durable(*admitted, reply)?,
                    _ => self.durable_waiters.push((account, at, reply)),
                }
            }
            PersistenceMessage::Settle(reply) => {
                if self.settled() {
                    let _ = reply.send(());
                } else {
                    self.settle_waiters.push(reply);
                }
            }
            PersistenceMessage::BoardChanged => {
                self.shared.board_signal.store(false, Ordering::Release);
                self.send_status()?;
            }
            PersistenceMessage::Flush(reply) => {
                self.send_gap()?;
                self.send_status()?;
                self.send(Command::Flush(reply))?;
            }
            PersistenceMessage::Check { accounts, at, reply } => match self.record {
                Recording::Check => self.send(Command::Check { accounts, at, reply })?,
                Recording::Run => {
                    let refusal = "this supervisor records a run: only a tree started with Recording::Check \
                                   (--once) records a check";
                    let _ = reply.send(Err(refusal.to_owned()));
                }
            },
            PersistenceMessage::Health(reply) => {
                let _ = reply.send(self.shared.health());
            }
            PersistenceMessage::Snapshot(reply) => {
                let stats = self.shared.stats();
                let _ = reply.send(PersistenceSnapshot {
                    database: self.database.path.clone(),
                    event_log: self.database.event_log.clone(),
                    health: self.shared.health(),
                    batches: stats.batches,
                    rows: stats.rows,
                    largest_batch: stats.largest_batch,
                    failed_attempts: stats.failed_attempts,
                    last_failure: stats.last_failure,
                });
            }
            PersistenceMessage::Stats(reply) => {
                let _ = reply.send(self.shared.stats());
            }
        }
        Ok(())
    }

    fn settled(&self) -> bool {
        // A check receives no events: nothing to wait for.
        self.record == Recording::Check
            || self.board.snapshot().accounts.iter().all(|a| self.last_state.get(&a.name) == Some(&a.state))
    }

    /// Queue an event, or count it dropped when too many wait already.
    /// The writer answers once the admitted event is written (or the attempt failed).
    fn durable(&mut self, admitted: bool, reply: RpcReplyPort<Result<(), String>>) -> Result<(), ActorProcessingErr> {
        if !admitted {
            let _ = reply.send(Err(format!(
                "dropped: more than {} events are waiting for the database",
                self.limits.max_pending
            )));
            return Ok(());
        }
        self.send_gap()?;
        self.send(Command::Durable(reply))
    }

    /// Hand `event` to the writer; false when it was dropped (the pending bound is full).
    fn admit(&mut self, event: StatusEvent) -> Result<bool, ActorProcessingErr> {
        let limit = self.limits.max_pending;
        if self.shared.outstanding.load(Ordering::Acquire) >= limit {
            let dropped = self.shared.dropped.fetch_add(1, Ordering::AcqRel) + 1;
            match &mut self.gap {
                Some(gap) => {
                    gap.dropped += 1;
                    gap.last_at = event.at;
                }
                None => self.gap = Some(Gap { dropped: 1, first_at: event.at, last_at: event.at, limit }),
            }
            if self.last_drop_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(
                    dropped,
                    limit,
                    "persistence: too many events waiting to be written; dropping new ones (counted)"
                );
                self.last_drop_log = Some(Instant::now());
            }
            return Ok(false);
        }
        self.send_gap()?;
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        self.send(Command::Event(Box::new(event)))?;
        Ok(true)
    }

    /// Hand the final board to the thread and wait (in real time, bounded) for it to land.
    async fn stop(&mut self) {
        let _ = self.send_gap();
        let _ = self.send_status();
        let (done_tx, done_rx) = mpsc::channel();
        let within = self.limits.stop_flush;
        if self.send(Command::Shutdown { deadline: Instant::now() + within, done: done_tx }).is_err() {
            tracing::warn!("persistence: the writer thread was already gone at shutdown");
            return;
        }
        // A real-time wait on a blocking thread: correct under tokio's paused test clock too.
        let wait = tokio::task::spawn_blocking(move || done_rx.recv_timeout(within + Duration::from_millis(300)));
        match wait.await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {} // the thread logged what was lost
            _ => tracing::warn!(within = ?within, "persistence: the final writes did not finish in time"),
        }
    }
}

/// Send `BoardChanged` when the board's accounts change; at most one waits in the mailbox
/// (the actor reads the board itself, so changes in between coalesce). Changes of the board's
/// `persistence` field (our own health) are ignored.
async fn watch_board(mut rx: watch::Receiver<BoardSnapshot>, actor: ActorRef<PersistenceMessage>, shared: Arc<Shared>) {
    let mut last = rx.borrow_and_update().accounts.clone();
    while rx.changed().await.is_ok() {
        let changed = {
            let board = rx.borrow_and_update();
            if board.accounts != last {
                last = board.accounts.clone();
                true
            } else {
                false
            }
        };
        if changed
            && !shared.board_signal.swap(true, Ordering::AcqRel)
            && actor.cast(PersistenceMessage::BoardChanged).is_err()
        {
            return;
        }
    }
}

/// Ask the actor to write everything it has received, and wait for that attempt (see
/// [`PersistenceMessage::Flush`]).
pub async fn flush(actor: &ActorRef<PersistenceMessage>, within: Duration) -> Result<(), PersistenceError> {
    match actor.call(PersistenceMessage::Flush, Some(within)).await {
        Ok(CallResult::Success(())) => Ok(()),
        _ => Err(PersistenceError::Unavailable),
    }
}

/// Whether the operator's switch of `account` at `at` reached the database within `within`:
/// `Err` says why not ("attempt to write a readonly database …", or that no answer came).
pub async fn confirm_switch(
    actor: &ActorRef<PersistenceMessage>,
    account: &str,
    at: DateTime<Utc>,
    within: Duration,
) -> Result<(), String> {
    let account = account.to_owned();
    match actor.call(|reply| PersistenceMessage::Durable { account, at, reply }, Some(within)).await {
        Ok(CallResult::Success(result)) => result,
        Ok(CallResult::Timeout) => Err(format!("the database did not confirm the write within {within:?}")),
        _ => Err("the persistence actor is not running".to_owned()),
    }
}

/// Record a check's observation (see [`PersistenceMessage::Check`]): `Err` says why it is not in
/// the database (the write failed, and is retried until the actor stops; or no answer within
/// `within`).
pub async fn record_check(
    actor: &ActorRef<PersistenceMessage>,
    accounts: Vec<AccountStatus>,
    at: DateTime<Utc>,
    within: Duration,
) -> Result<(), String> {
    match actor.call(|reply| PersistenceMessage::Check { accounts, at, reply }, Some(within)).await {
        Ok(CallResult::Success(result)) => result,
        Ok(CallResult::Timeout) => Err(format!("the database did not confirm the write within {within:?}")),
        _ => Err("the persistence actor is not running".to_owned()),
    }
}

/// The actor's persistence health.
pub async fn health(actor: &ActorRef<PersistenceMessage>) -> Result<PersistenceHealth, PersistenceError> {
    match actor.call(PersistenceMessage::Health, Some(Duration::from_secs(1))).await {
        Ok(CallResult::Success(health)) => Ok(health),
        _ => Err(PersistenceError::Unavailable),
    }
}

/// How long [`stop_last`] waits for the final state changes to arrive.
pub const SETTLE_WITHIN: Duration = Duration::from_millis(300);

/// Stop the actor as the last child of an ordered shutdown, so the final states are recorded:
/// wait (at most [`SETTLE_WITHIN`]) until the events of every account's current state have
/// arrived through the event port (see [`PersistenceMessage::Settle`]), then drain the mailbox
/// and let `post_stop` flush (at most [`STOP_FLUSH_WITHIN`]). Returns whether it stopped in time.
pub async fn stop_last(actor: &ActorRef<PersistenceMessage>) -> bool {
    let _ = actor.call(PersistenceMessage::Settle, Some(SETTLE_WITHIN)).await;
    actor.drain_and_wait(Some(STOP_FLUSH_WITHIN + Duration::from_millis(300))).await.is_ok()
}

/// The actor's write statistics.
pub async fn stats(actor: &ActorRef<PersistenceMessage>) -> Result<PersistenceStats, PersistenceError> {
    match actor.call(PersistenceMessage::Stats, Some(Duration::from_secs(1))).await {
        Ok(CallResult::Success(stats)) => Ok(stats),
        _ => Err(PersistenceError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::persistence::fixtures::{at, settings, TempDir};
    use crate::persistence::{open_read_only, recent_events, GAP_KIND};
    use chrono::Utc;
    use ractor::OutputPort;
    use std::fs;

    #[tokio::test]
    async fn a_failing_mirror_never_holds_the_database_back() {
        let tmp = TempDir::new("mirror");
        let (path, log) = (tmp.0.join("status.db"), tmp.0.join("connection_log.json"));
        fs::create_dir_all(&log).unwrap(); // a directory cannot be appended to, even by root
        let board = StatusBoard::new(&settings().accounts, Utc::now());
        let events: EventPort = Arc::new(OutputPort::default());
        let limits = Limits { max_pending: 10, ..Limits::DEFAULT };
        let args = PersistenceArgs {
            database: DatabaseSettings { path: path.clone(), event_log: Some(log.clone()), ..Default::default() },
            board,
            events: events.clone(),
            clock: Arc::new(SystemClock),
            timezone: chrono_tz::Tz::UTC,
        };
        let (actor, handle) =
            Actor::spawn(None, PersistenceActor { limits, record: Recording::Run }, args).await.unwrap();
        let base = at("2026-03-09T10:00:00Z");
        let stored = || open_read_only(&path).and_then(|c| recent_events(&c, None, None, 100)).map_or(0, |e| e.len());
        for round in 0..5 {
            for i in 0..5 {
                let kind = EventKind::Lost { reason: format!("lost {}", round * 5 + i) };
                events.send(StatusEvent::new("Paper", base + chrono::Duration::seconds(round * 5 + i), kind));
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while stored() < (round as usize + 1) * 5 {
                assert!(Instant::now() < deadline, "round {round} did not reach the database");
                flush(&actor, Duration::from_secs(2)).await.unwrap();
            }
        }
        let h = health(&actor).await.unwrap();
        assert_eq!(stored(), 25, "every event is in the database");
        assert!(!h.ok && h.last_error.as_deref().unwrap().contains("cannot append to the event log"), "{h:?}");
        assert_eq!((h.pending, h.dropped), (10, 15), "the mirror lags by at most the bound; the rest is counted");

        fs::remove_dir(&log).unwrap();
        flush(&actor, Duration::from_secs(2)).await.unwrap();
        let h = health(&actor).await.unwrap();
        assert!(h.ok && h.pending == 0, "{h:?}");
        let lines: Vec<String> = fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
        let reasons: Vec<String> =
            lines.iter().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].to_string()).collect();
        assert_eq!(reasons, (15..25).map(|i| format!("\"lost {i}\"")).collect::<Vec<_>>(), "the newest 10");
        actor.stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn past_the_bound_events_are_dropped_counted_and_the_gap_is_recorded() {
        let tmp = TempDir::new("overflow");
        // A file where the database directory should be: nothing can be written for now.
        let blocker = tmp.0.join("blocked");
        fs::write(&blocker, b"not a directory").unwrap();
        let path = blocker.join("status.db");
        let board = StatusBoard::new(&settings().accounts, Utc::now());
        let events: EventPort = Arc::new(OutputPort::default());
        let limits = Limits {
            max_pending: 10,
            retry_first: Duration::from_millis(20),
            retry_max: Duration::from_millis(50),
            ..Limits::DEFAULT
        };
        let args = PersistenceArgs {
            // The events are stamped in March 2026 under the real clock: never pruned mid-test.
            database: DatabaseSettings {
                path: path.clone(),
                event_log: None,
                retention: Duration::from_secs(100 * 31_557_600),
                keep_audit: Duration::from_secs(100 * 31_557_600),
            },
            board: board.clone(),
            events: events.clone(),
            clock: Arc::new(SystemClock),
            timezone: chrono_tz::Tz::UTC,
        };
        let (actor, handle) =
            Actor::spawn(None, PersistenceActor { limits, record: Recording::Run }, args).await.unwrap();
        let base = at("2026-03-09T10:00:00Z");
        for i in 0..25 {
            let kind = EventKind::ProbeFailed { error: format!("probe {i}") };
            events.send(StatusEvent::new("Paper", base + chrono::Duration::seconds(i), kind));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let health = loop {
            let h = health(&actor).await.unwrap();
            if h.dropped == 15 || Instant::now() > deadline {
                break h;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(health.dropped, 15, "{health:?}");
        flush(&actor, Duration::from_secs(2)).await.unwrap();
        let health = super::health(&actor).await.unwrap();
        assert!(
            !health.ok && health.last_error.as_deref().unwrap().contains("cannot create the database directory"),
            "{health:?}"
        );
        assert_eq!(health.pending, 10 + 1 + 2, "10 events, the gap row, 2 status rows: {health:?}");
        assert_eq!(board.snapshot().persistence.as_ref().map(|p| p.ok), Some(false), "the board shows it");

        fs::remove_file(&blocker).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while super::health(&actor).await.unwrap().pending > 0 && Instant::now() < deadline {
            flush(&actor, Duration::from_secs(2)).await.unwrap();
        }
        let health = super::health(&actor).await.unwrap();
        assert!(health.ok && health.pending == 0 && health.dropped == 15 && health.written == 13, "{health:?}");
        let conn = open_read_only(&path).unwrap();
        let events = recent_events(&conn, None, None, 100).unwrap();
        assert_eq!(events.len(), 11);
        assert_eq!(events[0].kind, GAP_KIND, "the gap comes after the events that made it in");
        assert_eq!(events[0].detail["dropped"], 15);
        assert_eq!(events[0].at, base + chrono::Duration::seconds(10), "the first dropped event's time");
        assert_eq!(events[1].detail["error"], "probe 9");
        actor.stop(None);
        handle.await.unwrap();
    }
}
