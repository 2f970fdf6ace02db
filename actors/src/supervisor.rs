//! The root supervisor, and [`Supervision`], the handle a program holds on the running tree.
//!
//! The root spawns every child linked and owns their restarts: one-for-one, with a restart
//! intensity counted per child ([`RestartIntensity`], default 5 restarts in 60 s). A gateway the
//! watchdog reports stuck is killed and restarted the same way. Past the limit ("meltdown")
//! the board records it (every guard reads that and closes), a `Meltdown` event is published,
//! and the tree stops so the process can exit non-zero and the service manager restart it.
//!
//! Written here rather than with the `ractor-supervisor` crate: that crate logs through `log`
//! instead of `tracing`, finds children by global registry name (which collides when several
//! supervisors run in one process, as in our tests), and its meltdown only stops the
//! supervisor, with no hook to close the guard and persist the failure first.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, OutputPort, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use std::sync::Arc;
use tokio::time::Instant;

use crate::alert::{AlertActor, AlertArgs, AlertCounters, Channel};
use crate::calendar::{ResetCalendar, WindowSpec};
use crate::clock::{SharedClock, SystemClock};
use crate::directory::Directory;
use crate::gateway::{GatewayActor, GatewayArgs, GatewayMessage};
use crate::guard::{tick_pump, Guard, GuardActor, GuardArgs, GuardStats, SharedGates, TickQueue};
use crate::persistence::{PersistenceActor, PersistenceArgs};
use crate::reconnect::{gateway_actor_name, ConnectNowError, ReconnectActor, ReconnectArgs, ReconnectMessage};
use crate::settings::Settings;
use crate::status::{EventKind, EventPort, Meltdown, StatusBoard, StatusEvent};
use crate::watchdog::{RoundHook, WatchdogActor, WatchdogArgs};

/// Per-child restart limit: at most `max` restarts within any `window`.
#[derive(Debug, Clone)]
pub struct RestartIntensity {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window, recent: VecDeque::new() }
    }

    /// Record a restart at `now`: `Ok(n)` with the restarts in the window, or `Err(n)` when
    /// this one is past the limit.
    pub fn record(&mut self, now: Instant) -> Result<u32, u32> {
        while self.recent.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let count = self.recent.len() as u32;
        if count > self.max {
            Err(count)
        } else {
            Ok(count)
        }
    }
}

/// Messages the root supervisor handles.
pub enum SupervisorMessage {
    /// The watchdog found a gateway (this incarnation of it) that does not answer heartbeats.
    GatewayStuck { account: String, gateway: ActorId },
    /// Ordered shutdown: heartbeats stop, clients disconnect, then the root stops.
    Shutdown(RpcReplyPort<()>),
    /// The actor tree, for `/actors`.
    Tree(RpcReplyPort<Vec<ChildInfo>>),
}

/// One child as `/actors` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildInfo {
    pub name: String,
    pub kind: &'static str,
    pub restarts: u32,
    pub alive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Child {
    Persistence,
    Alert,
    Gateway(String),
    Reconnect,
    Watchdog,
    Guard,
}

impl Child {
    fn name(&self) -> String {
        match self {
            Child::Gateway(account) => gateway_actor_name(account),
            Child::Reconnect => "reconnect".into(),
            Child::Watchdog => "watchdog".into(),
            Child::Guard => "guard".into(),
            Child::Persistence => "persistence".into(),
            Child::Alert => "alert".into(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Child::Gateway(_) => "GatewayActor",
            Child::Reconnect => "ReconnectActor",
            Child::Watchdog => "WatchdogActor",
            Child::Guard => "GuardActor",
            Child::Persistence => "PersistenceActor",
            Child::Alert => "AlertActor",
        }
    }

    /// The account an event about this child is filed under.
    fn account(&self) -> &str {
        match self {
            Child::Gateway(account) => account,
            _ => "*",
        }
    }
}

#[derive(Clone)]
pub struct SupervisorArgs {
    pub settings: Settings,
    pub clock: SharedClock,
    pub board: StatusBoard,
    pub events: EventPort,
    pub directory: Directory,
    pub calendar: ResetCalendar,
    pub gates: SharedGates,
    pub guard_stats: Arc<GuardStats>,
    pub ticks: TickQueue,
    pub paused: Vec<(String, DateTime<Utc>)>,
    pub on_round: Option<RoundHook>,
    pub alert_counters: Arc<AlertCounters>,
}

pub struct RootSupervisor;

pub struct SupervisorState {
    args: SupervisorArgs,
    by_id: HashMap<ActorId, Child>,
    cells: HashMap<Child, ActorCell>,
    intensity: HashMap<Child, RestartIntensity>,
    restarts: HashMap<Child, u32>,
    kill_reasons: HashMap<Child, String>,
    stopping: bool,
}

impl Actor for RootSupervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            args,
            by_id: HashMap::new(),
            cells: HashMap::new(),
            intensity: HashMap::new(),
            restarts: HashMap::new(),
            kill_reasons: HashMap::new(),
            stopping: false,
        };
        // Persistence first (it records the gateways' first state changes), then the gateways
        // (the reconnect actor sends them attempts), the heartbeat last.
        let mut children = vec![Child::Persistence];
        children.extend(state.args.settings.accounts.iter().map(|a| Child::Gateway(a.name.clone())));
        if state.args.settings.alerts.webhook_url.is_some() || state.args.settings.alerts.smtp.is_some() {
            children.push(Child::Alert);
        }
        children.extend([Child::Guard, Child::Reconnect, Child::Watchdog]);
        for child in children {
            state.spawn(&myself, child).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SupervisorMessage,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMessage::GatewayStuck { account, gateway } => {
                let child = Child::Gateway(account);
                if let Some(cell) = state.cells.get(&child).filter(|cell| cell.get_id() == gateway) {
                    state.kill_reasons.insert(child.clone(), "stuck: no answer to the heartbeat".into());
                    cell.kill();
                }
            }
            SupervisorMessage::Shutdown(reply) => {
                state.shutdown().await;
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
            SupervisorMessage::Tree(reply) => {
                let mut tree: Vec<ChildInfo> = state
                    .cells
                    .keys()
                    .map(|child| ChildInfo {
                        name: child.name(),
                        kind: child.kind(),
                        restarts: state.restarts.get(child).copied().unwrap_or(0),
                        alive: true,
                    })
                    .collect();
                tree.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(tree);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Overridden: ractor's default stops the supervisor when any child fails.
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                state.child_down(&myself, cell.get_id(), reason.unwrap_or_else(|| "terminated".into())).await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                state.child_down(&myself, cell.get_id(), error.to_string()).await
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if !state.stopping {
            state.shutdown().await;
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn spawn(&mut self, myself: &ActorRef<SupervisorMessage>, child: Child) -> Result<(), ActorProcessingErr> {
        let args = &self.args;
        let settings = &args.settings;
        let supervisor = myself.get_cell();
        let cell = match &child {
            Child::Gateway(account) => {
                let account = settings.account(account).ok_or("unknown account")?.clone();
                let gateway_args = GatewayArgs {
                    account: account.clone(),
                    heartbeat: settings.heartbeat,
                    clock: args.clock.clone(),
                    events: args.events.clone(),
                    board: args.board.clone(),
                };
                let (gateway, _) = Actor::spawn_linked(None, GatewayActor, gateway_args, supervisor).await?;
                args.directory.set_gateway(&account.name, gateway.clone());
                gateway.get_cell()
            }
            Child::Reconnect => {
                let reconnect_args = ReconnectArgs {
                    accounts: settings.accounts.clone(),
                    reconnect: settings.reconnect.clone(),
                    calendar: args.calendar.clone(),
                    clock: args.clock.clone(),
                    events: args.events.clone(),
                    board: args.board.clone(),
                    directory: args.directory.clone(),
                };
                let (reconnect, _) = Actor::spawn_linked(None, ReconnectActor, reconnect_args, supervisor).await?;
                args.directory.set_reconnect(reconnect.clone());
                reconnect.get_cell()
            }
            Child::Guard => {
                let guard_args = GuardArgs {
                    accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
                    gates: Arc::clone(&args.gates),
                    stats: Arc::clone(&args.guard_stats),
                    ticks: args.ticks.clone(),
                    directory: args.directory.clone(),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    clock: args.clock.clone(),
                    paused: args.paused.clone(),
                };
                let (guard, _) = Actor::spawn_linked(None, GuardActor, guard_args, supervisor).await?;
                args.directory.set_guard(guard.clone());
                guard.get_cell()
            }
            Child::Persistence => {
                let persistence_args = PersistenceArgs {
                    database: settings.database.clone(),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    clock: args.clock.clone(),
                };
                let (persistence, _) =
                    Actor::spawn_linked(None, PersistenceActor::new(), persistence_args, supervisor).await?;
                persistence.get_cell()
            }
            Child::Alert => {
                let alerts = &settings.alerts;
                let mut channels: Vec<Channel> = alerts.webhook_url.iter().cloned().map(Channel::Webhook).collect();
                channels.extend(alerts.smtp.iter().cloned().map(Channel::Email));
                let alert_args = AlertArgs {
                    channels,
                    retry: alerts.retry.clone(),
                    max_per_minute: alerts.max_per_minute,
                    events: args.events.clone(),
                    counters: Arc::clone(&args.alert_counters),
                };
                let (alert, _) = Actor::spawn_linked(None, AlertActor, alert_args, supervisor).await?;
                alert.get_cell()
            }
            Child::Watchdog => {
                let watchdog_args = WatchdogArgs {
                    accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
                    interval: settings.heartbeat.interval,
                    answer_within: settings.heartbeat.probe_timeout + settings.supervisor.stuck_margin,
                    directory: args.directory.clone(),
                    board: args.board.clone(),
                    clock: args.clock.clone(),
                    supervisor: myself.clone(),
                    on_round: args.on_round.clone(),
                };
                let (watchdog, _) = Actor::spawn_linked(None, WatchdogActor, watchdog_args, supervisor).await?;
                watchdog.get_cell()
            }
        };
        self.by_id.insert(cell.get_id(), child.clone());
        self.cells.insert(child, cell);
        Ok(())
    }

    async fn child_down(&mut self, myself: &ActorRef<SupervisorMessage>, id: ActorId, reason: String) {
        let Some(child) = self.by_id.remove(&id) else { return };
        self.cells.remove(&child);
        if self.stopping {
            return;
        }
        let reason = self.kill_reasons.remove(&child).unwrap_or(reason);
        let supervisor = &self.args.settings.supervisor;
        let intensity = self
            .intensity
            .entry(child.clone())
            .or_insert_with(|| RestartIntensity::new(supervisor.max_restarts, supervisor.restart_window));
        let restarts = self.restarts.entry(child.clone()).or_insert(0);
        *restarts += 1;
        let restarts = *restarts;
        match intensity.record(Instant::now()) {
            Ok(in_window) => {
                tracing::warn!(actor = %child.name(), %reason, restarts, in_window, "actor failed; restarting it");
                if let Err(e) = self.spawn(myself, child.clone()).await {
                    self.meltdown(myself, &child, format!("could not restart after {reason}: {e}"));
                    return;
                }
                let event = EventKind::ActorRestarted { actor: child.name(), reason, restarts };
                self.args.events.send(StatusEvent::new(child.account(), self.args.clock.now(), event));
            }
            Err(in_window) => {
                let window = humantime::format_duration(supervisor.restart_window);
                self.meltdown(myself, &child, format!("{in_window} failures within {window}; last: {reason}"));
            }
        }
    }

    fn meltdown(&mut self, myself: &ActorRef<SupervisorMessage>, child: &Child, reason: String) {
        let now = self.args.clock.now();
        tracing::error!(actor = %child.name(), %reason, "supervisor meltdown: closing every guard and exiting");
        self.args.board.set_meltdown(Meltdown { at: now, actor: child.name(), reason: reason.clone() });
        self.args.events.send(StatusEvent::new(
            child.account(),
            now,
            EventKind::Meltdown { actor: child.name(), reason: reason.clone() },
        ));
        myself.stop(Some(format!("meltdown: {reason}")));
    }

    /// Stop the children in order: heartbeat, reconnect policy, the gateways (which
    /// disconnect their clients; orders are refused "shutting down" meanwhile), then the
    /// guard, each bounded.
    async fn shutdown(&mut self) {
        self.stopping = true;
        for child in [Child::Watchdog, Child::Reconnect] {
            self.stop_child(&child, Duration::from_millis(300)).await;
        }
        let gateways: Vec<ActorCell> =
            self.cells.iter().filter(|(c, _)| matches!(c, Child::Gateway(_))).map(|(_, cell)| cell.clone()).collect();
        // In parallel: each gateway's disconnect is bounded, the total too.
        let stops: Vec<_> = gateways
            .into_iter()
            .map(|cell| tokio::spawn(async move { cell.stop_and_wait(None, Some(Duration::from_millis(1000))).await }))
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
        self.stop_child(&Child::Guard, Duration::from_millis(200)).await;
        // Last, so the final status and the gateways' "stopped" events are written.
        if let Some(cell) = self.cells.get(&Child::Persistence) {
            crate::persistence::stop_last(&cell.clone().into()).await;
        }
    }

    async fn stop_child(&self, child: &Child, within: Duration) {
        if let Some(cell) = self.cells.get(child) {
            let _ = cell.stop_and_wait(None, Some(within)).await;
        }
    }
}

/// The reset calendar the settings describe: the daily window plus the extra ones.
pub fn calendar_from(settings: &Settings) -> ResetCalendar {
    let mut specs = Vec::new();
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
    #[error("could not start the supervision tree: {0}")]
    Spawn(String),
}

/// Options that are not settings: the clock seam, and state carried over from a previous run.
#[derive(Clone)]
pub struct StartOptions {
    pub clock: SharedClock,
    /// Accounts the operator paused (and since when), e.g. loaded from the database.
    pub paused: Vec<(String, DateTime<Utc>)>,
    /// Run on every heartbeat round (e.g. systemd's watchdog ping).
    pub on_heartbeat: Option<RoundHook>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), paused: Vec::new(), on_heartbeat: None }
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
    root: ActorRef<SupervisorMessage>,
    board: StatusBoard,
    events: EventPort,
    directory: Directory,
    clock: SharedClock,
    guard: Guard,
    alerts: Arc<AlertCounters>,
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
        let gates: SharedGates = Default::default();
        let guard_stats = Arc::new(GuardStats::new(settings.accounts.iter().map(|a| a.name.as_str())));
        let ticks = tick_pump(Arc::clone(&gates), Arc::clone(&guard_stats));
        let alert_counters = Arc::new(AlertCounters::default());
        let guard =
            Guard::new(directory.clone(), Arc::clone(&gates), Arc::clone(&guard_stats), ticks.clone(), clock.clone());
        let args = SupervisorArgs {
            calendar: calendar_from(&settings),
            settings,
            clock: clock.clone(),
            board: board.clone(),
            events: events.clone(),
            directory: directory.clone(),
            gates,
            guard_stats,
            ticks,
            paused: options.paused,
            on_round: options.on_heartbeat,
            alert_counters: Arc::clone(&alert_counters),
        };
        let (root, join) =
            Actor::spawn(None, RootSupervisor, args).await.map_err(|e| SupervisionError::Spawn(e.to_string()))?;
        Ok(Supervision {
            handle: Handle { root, board, events, directory, clock, guard, alerts: alert_counters },
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

/// One actor as `/actors` shows it: the tree entry plus a snapshot of its state.
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    #[serde(flatten)]
    pub info: ChildInfo,
    pub status: &'static str,
    /// Seconds since the watchdog last had an answer from this actor (gateways).
    pub last_heartbeat_age_s: Option<f64>,
    pub snapshot: serde_json::Value,
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

    /// The current GatewayActor of `account` (it changes when restarted).
    pub fn gateway(&self, account: &str) -> Option<ActorRef<GatewayMessage>> {
        self.directory.gateway(account)
    }

    /// The actor tree.
    pub async fn tree(&self) -> Vec<ChildInfo> {
        match self.root.call(SupervisorMessage::Tree, Some(Duration::from_secs(1))).await {
            Ok(CallResult::Success(tree)) => tree,
            _ => Vec::new(),
        }
    }

    /// The tree with each actor's snapshot; an actor that does not answer within 200 ms is
    /// shown as "unresponsive".
    pub async fn actors(&self) -> Vec<ActorView> {
        let within = Some(Duration::from_millis(200));
        let board = self.board.snapshot();
        let now = self.clock.now();
        let mut views = Vec::new();
        for info in self.tree().await {
            let mut age = None;
            let snapshot = match info.name.strip_prefix("gateway:") {
                Some(account) => {
                    age = board
                        .account(account)
                        .and_then(|a| a.last_checked)
                        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                    match self.gateway(account) {
                        Some(g) => answer(g.call(GatewayMessage::Snapshot, within).await),
                        None => None,
                    }
                }
                None if info.name == "reconnect" => match self.directory.reconnect() {
                    Some(r) => answer(r.call(ReconnectMessage::Snapshot, within).await),
                    None => None,
                },
                None => Some(serde_json::Value::Null),
            };
            let (status, snapshot) = match snapshot {
                Some(s) => ("running", s),
                None => ("unresponsive", serde_json::Value::Null),
            };
            views.push(ActorView { info, status, last_heartbeat_age_s: age, snapshot });
        }
        views
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

/// A snapshot call's answer as JSON, or `None` when the actor did not answer.
fn answer<T: Serialize, M>(result: Result<CallResult<T>, ractor::MessagingErr<M>>) -> Option<serde_json::Value> {
    match result {
        Ok(CallResult::Success(snapshot)) => serde_json::to_value(snapshot).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_allows_max_restarts_per_window_then_refuses() {
        let base = Instant::now();
        let mut intensity = RestartIntensity::new(5, Duration::from_secs(60));
        for i in 0..5 {
            assert_eq!(intensity.record(base + Duration::from_secs(i)), Ok(i as u32 + 1));
        }
        assert_eq!(intensity.record(base + Duration::from_secs(10)), Err(6), "the sixth in 60 s melts down");
    }

    #[test]
    fn intensity_forgets_restarts_older_than_the_window() {
        let base = Instant::now();
        let mut intensity = RestartIntensity::new(2, Duration::from_secs(60));
        assert!(intensity.record(base).is_ok());
        assert!(intensity.record(base + Duration::from_secs(30)).is_ok());
        assert_eq!(intensity.record(base + Duration::from_secs(61)), Ok(2), "the first one aged out");
        assert_eq!(intensity.record(base + Duration::from_secs(89)), Err(3));
    }
}
