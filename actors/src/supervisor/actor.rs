//! The [`RootSupervisor`]: spawns every child linked, restarts a failed one (one-for-one, with
//! a [`RestartIntensity`] per child), kills an actor the watchdog reports stuck, melts down
//! past the limit, and stops the children in order at shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

use super::intensity::RestartIntensity;
use crate::alert::{AlertActor, AlertArgs, AlertCounters, Channel};
use crate::calendar::ResetCalendar;
use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::escalation::{EscalationActor, EscalationArgs, EscalationBook, IBC_COMMAND_TIMEOUT};
use crate::gateway::{GatewayActor, GatewayArgs};
use crate::guard::{GuardActor, GuardArgs, GuardStats, SharedGates, TickQueue};
use crate::persistence::{PersistenceActor, PersistenceArgs, Recording};
use crate::proxy::{ProxyActor, ProxyArgs, ProxyStats};
use crate::reconnect::{gateway_actor_name, ReconnectActor, ReconnectArgs};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::status::{EventKind, EventPort, Meltdown, StatusBoard, StatusEvent};
use crate::watchdog::{RoundHook, WatchdogActor, WatchdogArgs};

/// Messages the root supervisor handles.
pub enum SupervisorMessage {
    /// The watchdog found an actor (this incarnation of it) that does not answer.
    Stuck {
        /// Its name (`gateway:Paper`, `guard`, …).
        actor: String,
        /// The incarnation that did not answer (a late report cannot kill its replacement).
        id: ActorId,
    },
    /// Ordered shutdown: heartbeats stop, clients disconnect, then the root stops.
    Shutdown(RpcReplyPort<()>),
    /// The current children, for `/actors` and `/metrics`.
    Tree(RpcReplyPort<Vec<ChildEntry>>),
}

/// A child as the root supervisor knows it: which one, its current incarnation, its restarts.
#[derive(Debug, Clone)]
pub struct ChildEntry {
    /// Which child.
    pub child: Child,
    /// Its current incarnation (a restart replaces it).
    pub cell: ActorCell,
    /// Restarts since the supervisor started.
    pub restarts: u32,
}

/// A child of the root supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Child {
    /// The PersistenceActor.
    Persistence,
    /// The AlertActor (only when a webhook or SMTP is configured).
    Alert,
    /// The GatewayActor of an account.
    Gateway(String),
    /// The ReconnectActor.
    Reconnect,
    /// The WatchdogActor.
    Watchdog,
    /// The GuardActor.
    Guard,
    /// The ProxyActor of an account's guarded port.
    Proxy(String),
    /// The EscalationActor (only when an account has `ibc` or a `restart_command` is set).
    Escalation,
}

impl Child {
    /// Its name in `/actors`, `/metrics` and restart events (`gateway:Paper`, `guard`, …).
    pub fn name(&self) -> String {
        match self {
            Child::Gateway(account) => gateway_actor_name(account),
            Child::Reconnect => "reconnect".into(),
            Child::Watchdog => "watchdog".into(),
            Child::Guard => "guard".into(),
            Child::Proxy(account) => format!("proxy:{account}"),
            Child::Persistence => "persistence".into(),
            Child::Alert => "alert".into(),
            Child::Escalation => "escalation".into(),
        }
    }

    /// The actor type.
    pub fn kind(&self) -> &'static str {
        match self {
            Child::Gateway(_) => "GatewayActor",
            Child::Reconnect => "ReconnectActor",
            Child::Watchdog => "WatchdogActor",
            Child::Guard => "GuardActor",
            Child::Proxy(_) => "ProxyActor",
            Child::Persistence => "PersistenceActor",
            Child::Alert => "AlertActor",
            Child::Escalation => "EscalationActor",
        }
    }

    /// The account an event about this child is filed under.
    fn account(&self) -> &str {
        match self {
            Child::Gateway(account) | Child::Proxy(account) => account,
            _ => "*",
        }
    }
}

/// Everything the root supervisor hands its children: built once by
/// [`Supervision::start`](super::Supervision::start), shared by every incarnation.
#[derive(Clone)]
pub struct SupervisorArgs {
    /// The validated settings.
    pub settings: Settings,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// The status every reader shares.
    pub board: StatusBoard,
    /// Where every status event is published.
    pub events: EventPort,
    /// The current ref of every gateway, the guard and the reconnect actor.
    pub directory: Directory,
    /// Each account's durable facts (subscriptions, orders in flight, the connection lease),
    /// read by every new gateway incarnation.
    pub registry: Registry,
    /// IB's reset windows, from the settings.
    pub calendar: ResetCalendar,
    /// The guard's gates (outlive a guard restart).
    pub gates: SharedGates,
    /// The guard's counters.
    pub guard_stats: Arc<GuardStats>,
    /// The tick queue in front of the pump.
    pub ticks: TickQueue,
    /// Accounts paused by the operator before this start.
    pub paused: Vec<(String, DateTime<Utc>)>,
    /// Run on every heartbeat round.
    pub on_round: Option<RoundHook>,
    /// How persistence records: a run, or a check (`--once`).
    pub record: Recording,
    /// Alert delivery counters (outlive an alert actor restart).
    pub alert_counters: Arc<AlertCounters>,
    /// The guarded ports' counters and sessions (outlive a proxy actor restart).
    pub proxies: ProxyStats,
    /// The escalation ladders (outlive an escalation actor restart: what fired stays fired).
    pub escalation: Arc<EscalationBook>,
}

/// The root of the tree; its state is [`SupervisorState`].
pub struct RootSupervisor;

/// The children's current cells, their restart counts and limits, and whether shutdown began.
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
        children.push(Child::Guard);
        // After the guard, whose gates decide their orders.
        children.extend(state.args.proxies.ports().iter().map(|p| Child::Proxy(p.account.clone())));
        // After the gateways and the reconnect actor, whose status it reads.
        children.push(Child::Reconnect);
        if EscalationBook::wanted(&state.args.settings) {
            children.push(Child::Escalation);
        }
        children.push(Child::Watchdog);
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
            SupervisorMessage::Stuck { actor, id } => {
                // Only the current incarnation: a late report names one already replaced.
                if let Some(child) = state.by_id.get(&id).cloned() {
                    let why = match child {
                        Child::Gateway(_) => "stuck: no answer to the heartbeat",
                        _ => "stuck: no answer to the watchdog",
                    };
                    tracing::warn!(%actor, "killing a stuck actor");
                    state.kill_reasons.insert(child.clone(), why.into());
                    if let Some(cell) = state.cells.get(&child) {
                        cell.kill();
                    }
                }
            }
            SupervisorMessage::Shutdown(reply) => {
                state.shutdown().await;
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
            SupervisorMessage::Tree(reply) => {
                let mut tree: Vec<ChildEntry> = state
                    .cells
                    .iter()
                    .map(|(child, cell)| ChildEntry {
                        child: child.clone(),
                        cell: cell.clone(),
                        restarts: state.restarts.get(child).copied().unwrap_or(0),
                    })
                    .collect();
                tree.sort_by_key(|entry| entry.child.name());
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
                    registry: args.registry.account(&account.name).ok_or("unknown account")?,
                    orders: settings.orders,
                    pacing: settings.pacing,
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
                    registry: args.registry.clone(),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    clock: args.clock.clone(),
                    paused: args.paused.clone(),
                };
                let (guard, _) = Actor::spawn_linked(None, GuardActor, guard_args, supervisor).await?;
                args.directory.set_guard(guard.clone());
                guard.get_cell()
            }
            Child::Proxy(account) => {
                let proxy_args = ProxyArgs {
                    account: settings.account(account).ok_or("unknown account")?.clone(),
                    connect_timeout: settings.heartbeat.connect_timeout,
                    gates: Arc::clone(&args.gates),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    clock: args.clock.clone(),
                    stats: Arc::clone(args.proxies.port(account).ok_or("no port for the account")?),
                    directory: args.directory.clone(),
                    max_silence: settings.orders.max_silence,
                    probe_within: settings.heartbeat.probe_timeout + settings.supervisor.stuck_margin,
                };
                let (proxy, _) = Actor::spawn_linked(None, ProxyActor, proxy_args, supervisor).await?;
                proxy.get_cell()
            }
            Child::Persistence => {
                let persistence_args = PersistenceArgs {
                    database: settings.database.clone(),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    clock: args.clock.clone(),
                    timezone: settings.timezone,
                };
                let (persistence, _) =
                    Actor::spawn_linked(None, PersistenceActor::recording(args.record), persistence_args, supervisor)
                        .await?;
                args.directory.set_persistence(persistence.clone());
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
                    reauth: settings.reauth,
                    clock: args.clock.clone(),
                };
                let (alert, _) = Actor::spawn_linked(None, AlertActor, alert_args, supervisor).await?;
                alert.get_cell()
            }
            Child::Escalation => {
                let escalation_args = EscalationArgs {
                    accounts: settings.accounts.clone(),
                    escalation: settings.escalation.clone(),
                    reauth: settings.reauth,
                    calendar: args.calendar.clone(),
                    clock: args.clock.clone(),
                    board: args.board.clone(),
                    events: args.events.clone(),
                    book: Arc::clone(&args.escalation),
                    ibc_timeout: IBC_COMMAND_TIMEOUT,
                };
                let (escalation, _) = Actor::spawn_linked(None, EscalationActor, escalation_args, supervisor).await?;
                args.directory.set_escalation(escalation.clone());
                escalation.get_cell()
            }
            Child::Watchdog => {
                let watchdog_args = WatchdogArgs {
                    accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
                    interval: settings.heartbeat.interval,
                    answer_within: settings.heartbeat.probe_timeout + settings.supervisor.stuck_margin,
                    heartbeat_line: settings.logging.heartbeat_line,
                    summary_every: settings.logging.heartbeat_summary_every,
                    directory: args.directory.clone(),
                    board: args.board.clone(),
                    clock: args.clock.clone(),
                    check_tree: Some(super::tree::tree_check(myself.clone())),
                    on_stuck: {
                        let supervisor = myself.clone();
                        Arc::new(move |actor, id| {
                            let _ = supervisor.send_message(SupervisorMessage::Stuck { actor, id });
                        })
                    },
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

    /// Stop the children in order: heartbeat, reconnect policy, the guarded ports (engines see
    /// their sessions close), the gateways (which
    /// disconnect their clients; orders are refused "shutting down" meanwhile), then the
    /// guard, each bounded.
    async fn shutdown(&mut self) {
        self.stopping = true;
        for child in [Child::Watchdog, Child::Escalation, Child::Reconnect] {
            self.stop_child(&child, Duration::from_millis(300)).await;
        }
        let proxies: Vec<Child> = self.cells.keys().filter(|c| matches!(c, Child::Proxy(_))).cloned().collect();
        for child in proxies {
            self.stop_child(&child, Duration::from_millis(200)).await;
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
