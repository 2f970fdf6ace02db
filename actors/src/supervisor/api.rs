//! [`Supervision`], what a program holds on the running tree, and its cloneable [`Handle`]:
//! the status board, the event port, the guard, manual connects.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, OutputPort};

use super::actor::{RootSupervisor, SupervisorArgs, SupervisorMessage};
use crate::alert::AlertCounters;
use crate::calendar::{PresetCatalog, QuiesceConfig, ResetCalendar, WindowSpec};
use crate::clock::{SharedClock, SystemClock};
use crate::directory::Directory;
use crate::escalation::{EscalationBook, EscalationMessage};
use crate::gateway::GatewayMessage;
use crate::guard::{tick_pump, Gates, Guard, GuardStats, SharedGates};
use crate::persistence::Recording;
use crate::proxy::{PortStats, ProxyStats};
use crate::reconnect::{ConnectNowError, ReconnectMessage};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::status::{AccountStatus, EventPort, Meltdown, StatusBoard};
use crate::watchdog::RoundHook;

/// The reset calendar the settings describe: the daily window, the extra ones, and the
/// region's preset (`reset_preset`, validated with the settings).
pub fn calendar_from(settings: &Settings) -> ResetCalendar {
    let mut specs = Vec::new();
    if let Some(preset) = settings.reset_preset.as_deref().and_then(|name| PresetCatalog::builtin().get(name).ok()) {
        specs.extend(preset.specs());
    }
    if let Some(start) = settings.reset_time {
        specs.push(WindowSpec::daily(start, settings.reset_duration, settings.timezone));
    }
    for window in &settings.reset_windows {
        specs.push(WindowSpec {
            weekday: window.weekday,
            start: window.time,
            duration: window.duration,
            tz: window.timezone,
        });
    }
    ResetCalendar::new(specs)
}

/// How the tree ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Shut down on request.
    Shutdown,
    /// Restart limit passed: the process should exit non-zero.
    Meltdown(Meltdown),
}

/// Why the tree could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisionError {
    /// The root supervisor or one of its children failed in `pre_start`.
    #[error("could not start the supervision tree: {0}")]
    Spawn(String),
}

/// Options that are not settings: the clock seam, and state carried over from a previous run.
#[derive(Clone)]
pub struct StartOptions {
    /// The wall-clock seam (e.g. an `OffsetClock` a minute before the nightly reset).
    pub clock: SharedClock,
    /// Accounts the operator paused (and since when), e.g. loaded from the database.
    pub paused: Vec<(String, DateTime<Utc>)>,
    /// Run for every heartbeat round in which every actor answered (systemd's watchdog ping).
    pub on_heartbeat: Option<RoundHook>,
    /// A run (the daemon) or a check (`--once`, which then records through
    /// [`Handle::record_check`]): see [`Recording`].
    pub record: Recording,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), paused: Vec::new(), on_heartbeat: None, record: Recording::Run }
    }
}

/// A running supervision tree. Derefs to its [`Handle`].
pub struct Supervision {
    handle: Handle,
    join: Option<JoinHandle<()>>,
}

/// A cloneable handle on a running tree: status, the guard, manual connects, the actor tree.
#[derive(Clone)]
pub struct Handle {
    pub(super) root: ActorRef<SupervisorMessage>,
    pub(super) board: StatusBoard,
    pub(super) events: EventPort,
    pub(super) directory: Directory,
    pub(super) clock: SharedClock,
    pub(super) guard: Guard,
    pub(super) alerts: Arc<AlertCounters>,
    pub(super) proxies: ProxyStats,
    pub(super) escalation: Arc<EscalationBook>,
}

impl std::ops::Deref for Supervision {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Supervision {
    /// Start the tree: one GatewayActor per account, the guard, the reconnect policy, the
    /// heartbeat.
    pub async fn start(settings: Settings, options: StartOptions) -> Result<Supervision, SupervisionError> {
        let clock = options.clock;
        let board = StatusBoard::new(&settings.accounts, clock.now());
        let events: EventPort = Arc::new(OutputPort::default());
        let directory = Directory::default();
        let registry = Registry::new(settings.accounts.iter().map(|a| a.name.as_str()));
        let calendar = calendar_from(&settings);
        let quiesce = QuiesceConfig { lead: settings.guard.quiesce_before_reset };
        let gates: SharedGates = Arc::new(std::sync::RwLock::new(Gates::new(
            calendar.clone(),
            quiesce,
            settings.guard.block_orders_on_data_loss,
        )));
        let guard_stats = Arc::new(GuardStats::new(settings.accounts.iter().map(|a| a.name.as_str())));
        let ticks = tick_pump(Arc::clone(&gates), Arc::clone(&guard_stats));
        let alert_counters = Arc::new(AlertCounters::default());
        let escalation = Arc::new(EscalationBook::new(&settings));
        let proxies = ProxyStats::new(
            settings
                .accounts
                .iter()
                .filter_map(|a| a.proxy.as_ref().map(|p| Arc::new(PortStats::new(&a.name, p.listen))))
                .collect(),
        );
        let guard = Guard::new(
            directory.clone(),
            Arc::clone(&gates),
            Arc::clone(&guard_stats),
            ticks.clone(),
            clock.clone(),
            registry.clone(),
        );
        let args = SupervisorArgs {
            calendar,
            settings,
            clock: clock.clone(),
            board: board.clone(),
            events: events.clone(),
            directory: directory.clone(),
            registry,
            gates,
            guard_stats,
            ticks,
            paused: options.paused,
            on_round: options.on_heartbeat,
            record: options.record,
            alert_counters: Arc::clone(&alert_counters),
            proxies: proxies.clone(),
            escalation: Arc::clone(&escalation),
        };
        let (root, join) =
            Actor::spawn(None, RootSupervisor, args).await.map_err(|e| SupervisionError::Spawn(e.to_string()))?;
        Ok(Supervision {
            handle: Handle {
                root,
                board,
                events,
                directory,
                clock,
                guard,
                alerts: alert_counters,
                proxies,
                escalation,
            },
            join: Some(join),
        })
    }

    /// A cloneable handle (for the HTTP layer and engines).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Wait until the tree stops by itself (a meltdown).
    pub async fn wait(&mut self) -> Outcome {
        if let Some(join) = self.join.as_mut() {
            let _ = join.await;
            self.join = None;
        }
        self.handle.outcome()
    }

    /// Ordered shutdown; returns within about 2 s even if a gateway hangs.
    pub async fn shutdown(mut self) -> Outcome {
        let call = self.handle.root.call(SupervisorMessage::Shutdown, Some(Duration::from_millis(1800)));
        if !matches!(call.await, Ok(CallResult::Success(()))) {
            self.handle.root.kill();
        }
        if let Some(join) = self.join.take() {
            let _ = tokio::time::timeout(Duration::from_millis(200), join).await;
        }
        self.handle.outcome()
    }
}

impl Handle {
    /// The in-memory status of every account.
    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// Where every status event is published (subscribe an actor with a converter).
    pub fn events(&self) -> &EventPort {
        &self.events
    }

    /// The wall-clock seam the tree runs on.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The engine's way in: orders and ticks pass only while the account is usable.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Alert deliveries (sent, retried, given up, rate-limited).
    pub fn alerts(&self) -> &AlertCounters {
        &self.alerts
    }

    /// The guarded ports: where each listens, its counters and its engine sessions.
    pub fn proxies(&self) -> &ProxyStats {
        &self.proxies
    }

    /// The escalation ladders: each account's view for `/status`, the firings for `/metrics`.
    pub fn escalation(&self) -> &EscalationBook {
        &self.escalation
    }

    /// The current EscalationActor (`None` when the ladder has nothing to run, or between a
    /// failure and its restart).
    pub fn escalation_actor(&self) -> Option<ActorRef<EscalationMessage>> {
        self.directory.escalation()
    }

    /// The current ref of every actor the directory holds (the guard, the reconnect actor,
    /// persistence, each gateway); each changes when its actor is restarted.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The current GatewayActor of `account` (it changes when restarted).
    pub fn gateway(&self, account: &str) -> Option<ActorRef<GatewayMessage>> {
        self.directory.gateway(account)
    }

    /// Whether the operator's switch of `account` at `at` (from [`Guard::set_paused`]) is in
    /// the database: `Err` says why not (the write failed, and is retried; or no answer within
    /// `within`). Never blocks an actor: the persistence actor hands the wait to its writer thread.
    pub async fn confirm_switch(&self, account: &str, at: DateTime<Utc>, within: Duration) -> Result<(), String> {
        match self.directory.persistence() {
            Some(persistence) => crate::persistence::confirm_switch(&persistence, account, at, within).await,
            None => Err("the persistence actor is not running".to_owned()),
        }
    }

    /// Record what a check found (a tree started with [`Recording::Check`]): the rows of
    /// `accounts` as observed at `at`; `Err` says why they are not in the database (yet).
    pub async fn record_check(
        &self,
        accounts: Vec<AccountStatus>,
        at: DateTime<Utc>,
        within: Duration,
    ) -> Result<(), String> {
        match self.directory.persistence() {
            Some(persistence) => crate::persistence::record_check(&persistence, accounts, at, within).await,
            None => Err("the persistence actor is not running".to_owned()),
        }
    }

    /// One immediate connection attempt for `account`, rate-limited.
    pub async fn connect_now(&self, account: &str) -> Result<(), ConnectNowError> {
        let reconnect = self.directory.reconnect().ok_or(ConnectNowError::Unavailable)?;
        let account = account.to_owned();
        let call =
            reconnect.call(|reply| ReconnectMessage::ConnectNow { account, reply }, Some(Duration::from_secs(2)));
        match call.await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(ConnectNowError::Unavailable),
        }
    }

    fn outcome(&self) -> Outcome {
        match self.board.snapshot().meltdown {
            Some(meltdown) => Outcome::Meltdown(meltdown),
            None => Outcome::Shutdown,
        }
    }
}
