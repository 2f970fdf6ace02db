//! The GuardActor: the only way engine orders reach a gateway; it keeps the gates current from
//! the published status events.

use chrono::{DateTime, Utc};
use ibapi::contracts::Contract;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::counters::{GuardCounts, GuardStats};
use super::gates::{read, Gate, GateSnapshot, SharedGates};
use super::ticks::TickQueue;
use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::drill::Drill;
use crate::engine::{Refusal, Tick, TickReceiver, TickSink};
use crate::gateway::GatewayMessage;
use crate::registry::{Registry, Ticket};
use crate::status::{EventKind, EventPort, StatusBoard, StatusEvent};

/// Messages the GuardActor handles.
pub enum GuardMessage {
    /// Place an order if the account is usable; else answer `Refused` on its sink at once.
    Order(Box<Ticket>),
    /// Keep a market-data subscription for the engine (re-requested after reconnects);
    /// its ticks reach `sink` only while the account is usable.
    Subscribe {
        /// The account whose gateway keeps the subscription.
        account: String,
        /// What to subscribe to.
        contract: Box<Contract>,
        /// Where the gated ticks go.
        sink: TickReceiver,
        /// Answered with the subscription's id, or why not.
        reply: RpcReplyPort<Result<u64, Refusal>>,
    },
    /// The operator's switch: a paused account refuses every order ("paused by operator").
    SetPaused {
        /// The account.
        account: String,
        /// True: pause; false: activate.
        paused: bool,
        /// Answered once the gate changed, with when (or the account is unknown).
        reply: RpcReplyPort<Result<DateTime<Utc>, Refusal>>,
    },
    /// A published status event.
    Event(StatusEvent),
    /// The gates and counters, for `/actors`.
    Snapshot(RpcReplyPort<GuardSnapshot>),
    /// A failure injected on purpose (the watchdog finds a frozen guard; the supervisor
    /// restarts it).
    Drill(Drill),
}

/// What `/actors` shows of the guard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardSnapshot {
    /// Each account's gate, by name.
    pub gates: Vec<GateSnapshot>,
    /// When the meltdown closed every gate.
    pub meltdown_at: Option<DateTime<Utc>>,
    /// What went through, per account.
    pub counts: Vec<GuardCounts>,
}

/// Everything the GuardActor is started with; the gates, counters and tick queue are shared
/// with the [`Guard`](super::Guard) handle and outlive a restart.
#[derive(Clone)]
pub struct GuardArgs {
    /// The accounts' names.
    pub accounts: Vec<String>,
    /// The gates this actor alone writes.
    pub gates: SharedGates,
    /// The counters (and each gate mirrored for the tick pump).
    pub stats: Arc<GuardStats>,
    /// The bounded queue in front of the tick pump.
    pub ticks: TickQueue,
    /// Where the current gateway of each account is found.
    pub directory: Directory,
    /// Each account's subscriptions and orders in flight.
    pub registry: Registry,
    /// The published state a new incarnation starts its gates from.
    pub board: StatusBoard,
    /// The events that keep the gates current (and where the switch is published).
    pub events: EventPort,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// Accounts paused when the process starts (persisted by the operator's switch).
    pub paused: Vec<(String, DateTime<Utc>)>,
}

/// The actor; its state is [`GuardState`].
pub struct GuardActor;

/// The actor's arguments (everything else is shared through them).
pub struct GuardState {
    args: GuardArgs,
}

impl Actor for GuardActor {
    type Msg = GuardMessage;
    type State = GuardState;
    type Arguments = GuardArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: GuardArgs) -> Result<GuardState, ActorProcessingErr> {
        args.events.subscribe(myself, |event| Some(GuardMessage::Event(event)));
        // (Re)build the gates from the board: a restarted guard starts from the published state.
        let board = args.board.snapshot();
        {
            let mut gates = args.gates.write().unwrap_or_else(|p| p.into_inner());
            let previous = std::mem::take(&mut gates.accounts);
            for account in &board.accounts {
                let paused_since = previous
                    .get(&account.name)
                    .and_then(|g| g.paused_since)
                    .or_else(|| args.paused.iter().find(|(a, _)| *a == account.name).map(|(_, t)| *t));
                let gate = Gate::new(account.state.clone(), paused_since, &account.farms);
                gates.accounts.insert(account.name.clone(), gate);
            }
            gates.meltdown = board.meltdown.as_ref().map(|m| m.at);
            args.stats.sync_open(&gates);
        }
        Ok(GuardState { args })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: GuardMessage,
        state: &mut GuardState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GuardMessage::Order(ticket) => state.order(*ticket),
            GuardMessage::Subscribe { account, contract, sink, reply } => {
                state.subscribe(account, contract, sink, reply)
            }
            GuardMessage::SetPaused { account, paused, reply } => {
                let now = state.args.clock.now();
                let mut gates = state.args.gates.write().unwrap_or_else(|p| p.into_inner());
                let result = match gates.accounts.get_mut(&account) {
                    Some(gate) => {
                        gate.paused_since = paused.then(|| gate.paused_since.unwrap_or(now));
                        tracing::warn!(%account, paused, "trading {} by operator", if paused { "paused" } else { "activated" });
                        Ok(now)
                    }
                    None => Err(Refusal::UnknownAccount { account: account.clone() }),
                };
                state.args.stats.sync_open(&gates);
                drop(gates);
                if result.is_ok() {
                    let kind = EventKind::TradingSwitched { active: !paused };
                    state.args.events.send(StatusEvent::new(account, now, kind));
                }
                let _ = reply.send(result);
            }
            GuardMessage::Snapshot(reply) => {
                let gates = read(&state.args.gates);
                let snapshot = GuardSnapshot {
                    gates: gates.snapshot(),
                    meltdown_at: gates.meltdown,
                    counts: state.args.stats.snapshot(),
                };
                drop(gates);
                let _ = reply.send(snapshot);
            }
            GuardMessage::Drill(drill) => drill.run("GuardActor").await,
            GuardMessage::Event(event) => {
                let mut gates = state.args.gates.write().unwrap_or_else(|p| p.into_inner());
                match event.kind {
                    EventKind::StateChanged { to, .. } => {
                        if let Some(gate) = gates.accounts.get_mut(&event.account) {
                            gate.state = to;
                        }
                    }
                    EventKind::DataPlaneChanged { farms } => {
                        if let Some(gate) = gates.accounts.get_mut(&event.account) {
                            gate.farms(&farms);
                        }
                    }
                    EventKind::Meltdown { .. } => gates.meltdown = Some(event.at),
                    _ => return Ok(()),
                }
                state.args.stats.sync_open(&gates);
            }
        }
        Ok(())
    }
}

impl GuardState {
    fn order(&mut self, ticket: Ticket) {
        let account = ticket.request.account.clone();
        let refusal = read(&self.args.gates).order_refusal(&account, self.args.clock.now());
        let ticket = match refusal {
            Some(refusal) => Err((ticket, refusal)),
            None => match self.args.directory.gateway(&account) {
                Some(gateway) => match gateway.send_message(GatewayMessage::PlaceOrder(Box::new(ticket))) {
                    Ok(()) => Ok(()),
                    Err(ractor::MessagingErr::SendErr(GatewayMessage::PlaceOrder(ticket))) => {
                        Err((*ticket, gateway_restarting(self.args.clock.now())))
                    }
                    // The message comes back in SendErr; any other error dropped the ticket,
                    // whose Drop answered the engine.
                    Err(_) => Ok(()),
                },
                None => Err((ticket, gateway_restarting(self.args.clock.now()))),
            },
        };
        match ticket {
            Ok(()) => self.args.stats.bump(&account, |c| &c.orders_passed),
            Err((ticket, reason)) => {
                self.args.stats.bump(&account, |c| &c.orders_refused);
                tracing::warn!(%account, order_id = ?ticket.request.order_id, %reason, "order refused");
                ticket.refuse(reason);
            }
        }
    }

    /// Keep the subscription in the account's registry and tell its gateway (a message, never
    /// a call: the guard never waits on a gateway's mailbox, an order behind it would wait too).
    fn subscribe(
        &mut self,
        account: String,
        contract: Box<Contract>,
        sink: TickReceiver,
        reply: RpcReplyPort<Result<u64, Refusal>>,
    ) {
        let Some(registry) = self.args.registry.account(&account) else {
            let _ = reply.send(Err(Refusal::UnknownAccount { account }));
            return;
        };
        let alive = Arc::new(AtomicBool::new(true));
        let queue = self.args.ticks.clone();
        let stats = Arc::clone(&self.args.stats);
        let for_gateway: TickSink = {
            let (account, alive) = (account.clone(), Arc::clone(&alive));
            Arc::new(move |event| {
                if !alive.load(Ordering::Relaxed) {
                    return false;
                }
                let tick = Tick { account: account.clone(), event };
                if let Err(shed) = queue.offer(tick, Arc::clone(&sink), Some(Arc::clone(&alive))) {
                    stats.bump(&shed.account, |c| &c.ticks_shed);
                }
                true
            })
        };
        let id = registry.add_subscription(*contract, for_gateway);
        if let Some(gateway) = self.args.directory.gateway(&account) {
            // A restarting gateway reads the registry when it connects.
            let _ = gateway.send_message(GatewayMessage::Subscribed { id });
        }
        let _ = reply.send(Ok(id));
    }
}

pub(super) fn gateway_restarting(now: DateTime<Utc>) -> Refusal {
    Refusal::Disconnected { since: now, last_error: Some("gateway actor restarting".into()) }
}
