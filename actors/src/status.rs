//! What the supervisor knows about each account, and how that knowledge travels.
//!
//! - [`ConnectionState`]: the GatewayActor's state machine, an enum with data; [`transition`]
//!   is the one pure function that moves it.
//! - [`StatusEvent`]: every state change, attempt, probe failure, notice and restart, with a
//!   timestamp; published on the [`EventPort`] to the actors that subscribe (reconnect,
//!   persistence, guard).
//! - [`StatusBoard`]: the in-memory snapshot the HTTP layer and `--once` read (no database read
//!   per request). Each fact has one writer: the gateway writes connection fields, the
//!   reconnect actor writes attempt fields, the watchdog writes `last_checked`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ractor::OutputPort;
use serde::Serialize;
use tokio::sync::watch;

use crate::settings::AccountSettings;

/// The connection state of one account, owned by its GatewayActor.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// No connection; the reconnect actor decides when to try again.
    Disconnected { since: DateTime<Utc>, last_error: Option<String> },
    /// An attempt is in flight (bounded by `heartbeat.connect_timeout`).
    Connecting { since: DateTime<Utc>, attempt: u32, client_id: i32 },
    /// Connected and answering probes: the only usable state.
    Connected { since: DateTime<Utc>, client_id: i32 },
    /// The socket is up but IB's upstream is lost (1100, 2110): not usable.
    Degraded { since: DateTime<Utc>, client_id: i32, code: i32, reason: String },
    /// Inside a scheduled reset window until `until`: not usable, not an alarm.
    /// `link` is the client id while the socket is up.
    ResetWindow { since: DateTime<Utc>, until: DateTime<Utc>, link: Option<i32> },
    /// The supervisor is shutting down.
    Stopped { since: DateTime<Utc> },
}

impl ConnectionState {
    /// The state's name, as in the JSON form and the database.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Disconnected { .. } => "disconnected",
            Self::Connecting { .. } => "connecting",
            Self::Connected { .. } => "connected",
            Self::Degraded { .. } => "degraded",
            Self::ResetWindow { .. } => "reset_window",
            Self::Stopped { .. } => "stopped",
        }
    }

    pub fn since(&self) -> DateTime<Utc> {
        match self {
            Self::Disconnected { since, .. }
            | Self::Connecting { since, .. }
            | Self::Connected { since, .. }
            | Self::Degraded { since, .. }
            | Self::ResetWindow { since, .. }
            | Self::Stopped { since } => *since,
        }
    }

    /// Orders may flow only here.
    pub fn is_usable(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }

    /// The client id of the live socket, if there is one.
    pub fn link(&self) -> Option<i32> {
        match self {
            Self::Connected { client_id, .. } | Self::Degraded { client_id, .. } => Some(*client_id),
            Self::ResetWindow { link, .. } => *link,
            _ => None,
        }
    }
}

/// What can happen to a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    AttemptStarted {
        attempt: u32,
        client_id: i32,
    },
    Connected {
        client_id: i32,
    },
    AttemptFailed {
        error: String,
    },
    /// An established socket is gone (EOF, reset, failed probe).
    Lost {
        reason: String,
    },
    /// 1100 or 2110.
    UpstreamLost {
        code: i32,
        reason: String,
    },
    /// 1101 or 1102.
    UpstreamRestored {
        code: i32,
    },
    WindowStarted {
        until: DateTime<Utc>,
    },
    WindowEnded,
    Stop,
}

/// The next state, or `None` when `event` changes nothing in `state`.
pub fn transition(state: &ConnectionState, event: &ConnectionEvent, now: DateTime<Utc>) -> Option<ConnectionState> {
    use ConnectionEvent as E;
    use ConnectionState as S;
    let next = match (state, event) {
        (S::Stopped { .. }, _) => return None,
        (_, E::Stop) => S::Stopped { since: now },
        // Inside a reset window only the link changes; the state stays "scheduled reset".
        (S::ResetWindow { since, until, .. }, E::Connected { client_id }) => {
            S::ResetWindow { since: *since, until: *until, link: Some(*client_id) }
        }
        (S::ResetWindow { since, until, link: Some(_) }, E::Lost { .. } | E::AttemptFailed { .. }) => {
            S::ResetWindow { since: *since, until: *until, link: None }
        }
        (S::ResetWindow { since, until, link }, E::WindowStarted { until: new_until }) if new_until != until => {
            S::ResetWindow { since: *since, until: *new_until, link: *link }
        }
        (S::ResetWindow { link, .. }, E::WindowEnded) => match link {
            Some(client_id) => S::Connected { since: now, client_id: *client_id },
            None => S::Disconnected { since: now, last_error: None },
        },
        (S::ResetWindow { .. }, _) => return None,
        (_, E::WindowStarted { until }) => S::ResetWindow { since: now, until: *until, link: state.link() },
        (S::Disconnected { .. }, E::AttemptStarted { attempt, client_id }) => {
            S::Connecting { since: now, attempt: *attempt, client_id: *client_id }
        }
        (S::Disconnected { .. } | S::Connecting { .. }, E::Connected { client_id }) => {
            S::Connected { since: now, client_id: *client_id }
        }
        (S::Connecting { .. }, E::AttemptFailed { error }) => {
            S::Disconnected { since: now, last_error: Some(error.clone()) }
        }
        (S::Connected { .. } | S::Degraded { .. } | S::Connecting { .. }, E::Lost { reason }) => {
            S::Disconnected { since: now, last_error: Some(reason.clone()) }
        }
        (S::Connected { client_id, .. }, E::UpstreamLost { code, reason }) => {
            S::Degraded { since: now, client_id: *client_id, code: *code, reason: reason.clone() }
        }
        (S::Degraded { client_id, .. }, E::UpstreamRestored { .. }) => {
            S::Connected { since: now, client_id: *client_id }
        }
        _ => return None,
    };
    (next != *state).then_some(next)
}

/// One published fact about an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusEvent {
    pub account: String,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What the event says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    StateChanged {
        from: ConnectionState,
        to: ConnectionState,
    },
    AttemptStarted {
        attempt: u32,
        client_id: i32,
    },
    AttemptFailed {
        attempt: u32,
        client_id: i32,
        error: String,
        client_id_in_use: bool,
    },
    Connected {
        attempt: u32,
        client_id: i32,
        server_version: i32,
    },
    /// An established connection was lost (socket closed, reset, or a probe failed).
    Lost {
        reason: String,
    },
    ProbeFailed {
        error: String,
    },
    /// A notice from the gateway (farm status, connectivity, …).
    Notice {
        code: i32,
        message: String,
    },
    /// An attempt was due but a reset window holds it back until `until`.
    AttemptSuppressed {
        until: DateTime<Utc>,
    },
    /// An actor was restarted by the root supervisor.
    ActorRestarted {
        actor: String,
        reason: String,
        restarts: u32,
    },
    /// The restart limit was passed: every guard closes and the process exits non-zero.
    Meltdown {
        actor: String,
        reason: String,
    },
    /// The operator activated or paused trading for the account.
    TradingSwitched {
        active: bool,
    },
    /// After a reconnect: an order's state changed while the connection was down.
    OrderReconciled {
        order_id: i32,
        client_id: i32,
        before: String,
        after: String,
        filled: f64,
    },
    /// Open orders and executions could not be fetched after a reconnect.
    ReconcileFailed {
        error: String,
    },
}

impl StatusEvent {
    pub fn new(account: impl Into<String>, at: DateTime<Utc>, kind: EventKind) -> Self {
        Self { account: account.into(), at, kind }
    }
}

/// Where status events are published; actors subscribe with a converter.
pub type EventPort = Arc<OutputPort<StatusEvent>>;

/// Everything `/status` shows about one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub name: String,
    pub paper_trading: bool,
    pub host: String,
    pub port: u16,
    /// The client id in use (or the one the next attempt will use).
    pub client_id: i32,
    pub state: ConnectionState,
    pub last_checked: Option<DateTime<Utc>>,
    pub last_connected: Option<DateTime<Utc>>,
    /// Attempts made in the current outage (0 when connected).
    pub reconnect_attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error_message: Option<String>,
    pub probe_rtt_ms: Option<f64>,
    /// Time spent up, down and in reset windows today (UTC), kept by the gateway.
    pub uptime: UptimeLedger,
    /// How long losses took to be noticed: from the last sign of life to the loss.
    pub detection: Histogram,
}

impl AccountStatus {
    fn new(account: &AccountSettings, now: DateTime<Utc>) -> Self {
        Self {
            name: account.name.clone(),
            paper_trading: account.paper_trading,
            host: account.host.clone(),
            port: account.port,
            client_id: account.client_id,
            state: ConnectionState::Disconnected { since: now, last_error: None },
            last_checked: None,
            last_connected: None,
            reconnect_attempts: 0,
            next_attempt_at: None,
            error_message: None,
            probe_rtt_ms: None,
            uptime: UptimeLedger::new(now),
            detection: Histogram::default(),
        }
    }

    pub fn connected(&self) -> bool {
        self.state.is_usable()
    }

    /// Percentage of today (UTC, since the process started if later) the account was usable,
    /// reset windows excluded; `None` before any time has passed.
    pub fn uptime_today_pct(&self, now: DateTime<Utc>) -> Option<f64> {
        let mut ledger = self.uptime.clone();
        ledger.record(&self.state, now);
        ledger.up_pct()
    }
}

/// Upper bounds (seconds) of the detection-latency histogram buckets.
pub const DETECTION_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A cumulative histogram over [`DETECTION_BUCKETS`] (Prometheus semantics: `counts[i]` is the
/// number of observations ≤ bucket i).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    pub counts: [u64; DETECTION_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in DETECTION_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// How an account spent today: milliseconds usable, down, and inside reset windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeLedger {
    pub day: chrono::NaiveDate,
    pub up_ms: i64,
    pub down_ms: i64,
    pub reset_ms: i64,
    /// Time already accounted for.
    pub until: DateTime<Utc>,
}

impl UptimeLedger {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { day: now.date_naive(), up_ms: 0, down_ms: 0, reset_ms: 0, until: now }
    }

    /// Account the time from the last record to `now` to `state`'s category, starting afresh
    /// at each UTC midnight.
    pub fn record(&mut self, state: &ConnectionState, now: DateTime<Utc>) {
        while self.until < now {
            let midnight = (self.day + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
            let end = now.min(midnight);
            let ms = (end - self.until).num_milliseconds();
            match state {
                ConnectionState::Connected { .. } => self.up_ms += ms,
                ConnectionState::ResetWindow { .. } => self.reset_ms += ms,
                ConnectionState::Stopped { .. } => {}
                _ => self.down_ms += ms,
            }
            self.until = end;
            if end == midnight {
                *self = Self::new(midnight);
            }
        }
    }

    /// Up time over up + down time (reset windows excluded), in percent.
    pub fn up_pct(&self) -> Option<f64> {
        let counted = self.up_ms + self.down_ms;
        (counted > 0).then(|| self.up_ms as f64 * 100.0 / counted as f64)
    }
}

/// Why the supervisor gave up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meltdown {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

/// How the database is doing; a failing database never stops supervision, and shows here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersistenceHealth {
    /// False while writes fail.
    pub ok: bool,
    pub last_error: Option<String>,
    /// Writes waiting to land (retried until they do).
    pub pending: u64,
    /// Writes dropped because the pending queue was full (counted, never silent).
    pub dropped: u64,
    /// Rows written since start.
    pub written: u64,
}

/// The whole board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardSnapshot {
    pub started_at: DateTime<Utc>,
    /// In settings order.
    pub accounts: Vec<AccountStatus>,
    pub meltdown: Option<Meltdown>,
    /// `None` until the persistence actor reports.
    pub persistence: Option<PersistenceHealth>,
}

impl BoardSnapshot {
    pub fn account(&self, name: &str) -> Option<&AccountStatus> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

/// The in-memory status every reader shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    tx: Arc<watch::Sender<BoardSnapshot>>,
}

impl StatusBoard {
    pub fn new(accounts: &[AccountSettings], now: DateTime<Utc>) -> Self {
        let snapshot = BoardSnapshot {
            started_at: now,
            accounts: accounts.iter().map(|a| AccountStatus::new(a, now)).collect(),
            meltdown: None,
            persistence: None,
        };
        Self { tx: Arc::new(watch::channel(snapshot).0) }
    }

    /// Change one account's entry (no-op for an unknown name).
    pub fn update(&self, account: &str, change: impl FnOnce(&mut AccountStatus)) {
        self.tx.send_if_modified(|board| match board.accounts.iter_mut().find(|a| a.name == account) {
            Some(status) => {
                let before = status.clone();
                change(status);
                *status != before
            }
            None => false,
        });
    }

    pub fn set_meltdown(&self, meltdown: Meltdown) {
        self.tx.send_modify(|board| board.meltdown = Some(meltdown));
    }

    pub fn set_persistence(&self, health: PersistenceHealth) {
        self.tx.send_if_modified(|board| {
            let changed = board.persistence.as_ref() != Some(&health);
            board.persistence = Some(health);
            changed
        });
    }

    pub fn snapshot(&self) -> BoardSnapshot {
        self.tx.borrow().clone()
    }

    pub fn account(&self, name: &str) -> Option<AccountStatus> {
        self.tx.borrow().account(name).cloned()
    }

    /// Wake on every change.
    pub fn subscribe(&self) -> watch::Receiver<BoardSnapshot> {
        self.tx.subscribe()
    }

    /// Wait until `check` holds for the board (or the deadline passes): for `--once` and tests.
    pub async fn wait_for(
        &self,
        within: std::time::Duration,
        check: impl FnMut(&BoardSnapshot) -> bool,
    ) -> Result<BoardSnapshot, BoardSnapshot> {
        let mut rx = self.subscribe();
        let found = tokio::time::timeout(within, async { rx.wait_for(check).await.map(|board| board.clone()) }).await;
        match found {
            Ok(Ok(board)) => Ok(board),
            _ => Err(self.snapshot()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionEvent as E;
    use ConnectionState as S;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn run(events: &[ConnectionEvent]) -> Vec<&'static str> {
        let mut state = S::Disconnected { since: t(0), last_error: None };
        let mut names = vec![];
        for (i, event) in events.iter().enumerate() {
            if let Some(next) = transition(&state, event, t(i as i64 + 1)) {
                state = next;
                names.push(state.name());
            }
        }
        names
    }

    #[test]
    fn connect_lose_and_recover() {
        let names = run(&[
            E::AttemptStarted { attempt: 1, client_id: 1 },
            E::AttemptFailed { error: "refused".into() },
            E::AttemptStarted { attempt: 2, client_id: 1 },
            E::Connected { client_id: 1 },
            E::Lost { reason: "eof".into() },
        ]);
        assert_eq!(names, ["connecting", "disconnected", "connecting", "connected", "disconnected"]);
    }

    #[test]
    fn upstream_loss_degrades_and_restore_recovers() {
        let names = run(&[
            E::Connected { client_id: 3 },
            E::UpstreamLost { code: 1100, reason: "lost".into() },
            E::UpstreamLost { code: 2110, reason: "still lost".into() },
            E::UpstreamRestored { code: 1102 },
            E::UpstreamRestored { code: 1102 },
        ]);
        assert_eq!(names, ["connected", "degraded", "connected"]);
        // Restored while not degraded changes nothing; lost while disconnected neither.
        assert_eq!(run(&[E::UpstreamLost { code: 1100, reason: String::new() }]), Vec::<&str>::new());
    }

    #[test]
    fn a_reset_window_hides_link_changes_and_resolves_at_its_end() {
        let until = t(100);
        let mut state = S::Connected { since: t(0), client_id: 1 };
        state = transition(&state, &E::WindowStarted { until }, t(1)).unwrap();
        assert_eq!(state, S::ResetWindow { since: t(1), until, link: Some(1) });
        assert!(!state.is_usable(), "the guard stays closed during a reset");
        state = transition(&state, &E::Lost { reason: "gateway restart".into() }, t(2)).unwrap();
        assert_eq!(state, S::ResetWindow { since: t(1), until, link: None });
        assert_eq!(transition(&state, &E::AttemptStarted { attempt: 1, client_id: 1 }, t(3)), None);
        assert_eq!(transition(&state, &E::UpstreamLost { code: 1100, reason: String::new() }, t(3)), None);
        let ended = transition(&state, &E::WindowEnded, t(100)).unwrap();
        assert_eq!(ended, S::Disconnected { since: t(100), last_error: None });

        let up = S::ResetWindow { since: t(1), until, link: Some(4) };
        assert_eq!(transition(&up, &E::WindowEnded, t(100)), Some(S::Connected { since: t(100), client_id: 4 }));
    }

    #[test]
    fn the_uptime_ledger_excludes_reset_windows_and_starts_afresh_at_midnight() {
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap().and_hms_opt(h, m, 0).unwrap().and_utc()
        };
        let mut ledger = UptimeLedger::new(at(10, 0));
        ledger.record(&S::Connected { since: at(10, 0), client_id: 1 }, at(12, 0));
        ledger.record(&S::ResetWindow { since: at(12, 0), until: at(13, 0), link: None }, at(13, 0));
        ledger.record(&S::Disconnected { since: at(13, 0), last_error: None }, at(14, 0));
        assert_eq!((ledger.up_ms, ledger.down_ms, ledger.reset_ms), (7_200_000, 3_600_000, 3_600_000));
        assert!((ledger.up_pct().unwrap() - 66.666).abs() < 0.01);
        // Across midnight only today's part counts.
        ledger.record(&S::Connected { since: at(14, 0), client_id: 1 }, at(23, 0) + chrono::Duration::hours(2));
        assert_eq!(ledger.day, chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!((ledger.up_ms, ledger.down_ms), (3_600_000, 0));
        assert_eq!(ledger.up_pct(), Some(100.0));
    }

    #[test]
    fn stop_is_final() {
        let stopped = transition(&S::Connected { since: t(0), client_id: 1 }, &E::Stop, t(1)).unwrap();
        assert_eq!(stopped.name(), "stopped");
        assert_eq!(transition(&stopped, &E::Connected { client_id: 1 }, t(2)), None);
    }

    #[test]
    fn only_connected_is_usable() {
        let states = [
            S::Disconnected { since: t(0), last_error: None },
            S::Connecting { since: t(0), attempt: 1, client_id: 1 },
            S::Connected { since: t(0), client_id: 1 },
            S::Degraded { since: t(0), client_id: 1, code: 1100, reason: String::new() },
            S::ResetWindow { since: t(0), until: t(1), link: Some(1) },
            S::Stopped { since: t(0) },
        ];
        let usable: Vec<_> = states.iter().filter(|s| s.is_usable()).map(ConnectionState::name).collect();
        assert_eq!(usable, ["connected"]);
    }
}
