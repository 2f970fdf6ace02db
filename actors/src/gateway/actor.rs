//! The GatewayActor itself: its messages, its state, the dispatch of every message, and
//! [`GatewayState::apply`], which runs the state machine and publishes each change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::task::{AbortHandle, JoinSet};

use super::connection::{ConnectOutcome, Link, Liveness};
use super::pacing::Pacing;
use crate::clock::SharedClock;
use crate::conditions::CompetingSession;
use crate::drill::Drill;
use crate::farms::{DataPlane, FarmBoard, FarmSnapshot};
use crate::pacing::{Pacer, PacingConfig};
use crate::registry::{AccountRegistry, Found, Ticket};
use crate::settings::{AccountSettings, HeartbeatSettings, OrderSettings};
use crate::status::{transition, ConnectionEvent, ConnectionState, EventKind, EventPort, StatusBoard, StatusEvent};

/// Messages a GatewayActor handles.
pub enum GatewayMessage {
    /// Make one connection attempt now (sent by the ReconnectActor).
    Connect {
        /// Attempts in this outage, this one included.
        attempt: u32,
        /// The client id to connect with.
        client_id: i32,
    },
    /// Liveness check from the watchdog: answered at once; starts a probe when linked.
    Heartbeat(RpcReplyPort<HeartbeatAck>),
    /// Probe now and answer with the round-trip time (for `--once`).
    ProbeNow(RpcReplyPort<Result<Duration, String>>),
    /// A scheduled reset window began (sent by the ReconnectActor, which owns the calendar).
    WindowStarted {
        /// When it ends.
        until: DateTime<Utc>,
    },
    /// The reset window ended.
    WindowEnded,
    /// A subscription was added to the account's registry: request it now if linked (it is
    /// re-requested after every reconnect and after 1101 until it ends).
    Subscribed {
        /// Its id in the registry.
        id: u64,
    },
    /// A subscription was removed from the registry: stop its stream.
    Unsubscribed {
        /// Its id.
        id: u64,
    },
    /// Place an order (sent by the GuardActor). Refused at once unless this account is usable;
    /// written only after a fresh sign of life.
    PlaceOrder(Box<Ticket>),
    /// A small serialisable view of the actor, for `/actors` and tests.
    Snapshot(RpcReplyPort<GatewaySnapshot>),
    /// Chaos drills: make the actor fail on purpose.
    Drill(Drill),
    // ---- results of the actor's own tasks ----
    #[doc(hidden)]
    ConnectDone(Box<ConnectOutcome>),
    #[doc(hidden)]
    ProbeDone { session: u64, started: tokio::time::Instant, result: Result<(), String> },
    #[doc(hidden)]
    Notice { session: u64, code: i32, message: String },
    #[doc(hidden)]
    StreamEnded { session: u64 },
    #[doc(hidden)]
    OrderStreamLive { session: u64 },
    #[doc(hidden)]
    PacingDue { at: tokio::time::Instant },
    #[doc(hidden)]
    ReconcileDone { session: u64, mark: u64, result: Result<Found, String> },
}

/// The watchdog's answer.
#[derive(Debug, Clone)]
pub struct HeartbeatAck {
    /// The gateway's state when it answered.
    pub state: ConnectionState,
    /// Whether a liveness probe runs now (one is started when linked and none is running).
    pub probe_started: bool,
}

/// What `/actors` shows of a gateway.
#[derive(Debug, Clone, Serialize)]
pub struct GatewaySnapshot {
    /// The account.
    pub account: String,
    /// The connection state the gateway owns.
    pub state: ConnectionState,
    /// Bumped for every new connection and every loss (results of older sessions are dropped).
    pub session: u64,
    /// The attempt in flight, if any.
    pub attempt_in_flight: Option<u32>,
    /// Whether a liveness probe is running.
    pub probe_in_flight: bool,
    /// Market-data subscriptions kept across reconnects (in the account's registry).
    pub market_data_subscriptions: usize,
    /// Orders not yet settled (in the account's registry).
    pub orders_in_flight: usize,
    /// Tasks this incarnation owns (aborted with it).
    pub tasks: usize,
    /// Messages handled by this incarnation (progress, for stuck detection by eye).
    pub messages_handled: u64,
    /// Milliseconds since the gateway last said anything (what `orders.max_silence` judges).
    pub silent_ms: u64,
    /// Orders waiting for IB's message rate now (`pacing.*`).
    pub paced_orders_waiting: usize,
    /// Other requests waiting for it now.
    pub paced_requests_waiting: usize,
    /// Messages that had to wait for the rate since this incarnation started.
    pub paced_delayed: u64,
}

/// Everything a GatewayActor is started with.
#[derive(Clone)]
pub struct GatewayArgs {
    /// The account and its gateway's address.
    pub account: AccountSettings,
    /// Connect and probe timeouts.
    pub heartbeat: HeartbeatSettings,
    /// The wall-clock seam.
    pub clock: SharedClock,
    /// Where every change is published.
    pub events: EventPort,
    /// Where the connection fields of the account's status are written.
    pub board: StatusBoard,
    /// The account's durable facts: subscriptions, orders in flight, the connection lease.
    pub registry: AccountRegistry,
    /// The send path's liveness gate.
    pub orders: OrderSettings,
    /// IB's message rate (validated: [`Pacer::new`] accepts it).
    pub pacing: PacingConfig,
}

/// The actor; its state is [`GatewayState`].
pub struct GatewayActor;

/// One incarnation's state: the link, the session, what is in flight, and the tasks it owns.
///
/// ractor runs no `post_stop` after a kill or a panic, but it drops the state on every path
/// (`ractor-0.16.5/src/actor.rs`: the processing loop's `state` is a local of the actor's task;
/// a panic is caught and a kill cancels the handler, and either way the task ends and drops
/// it). So everything an incarnation starts is owned here: the tasks in `tasks` (a `JoinSet`,
/// which aborts them when dropped) and the connection in `link` (whose `Drop` closes the
/// socket and then releases the account's connection lease). A panicked or killed incarnation
/// leaves no socket behind, and its replacement gets the primary client id.
pub struct GatewayState {
    pub(super) args: GatewayArgs,
    pub(super) conn: ConnectionState,
    pub(super) link: Option<Link>,
    /// Bumped for every new connection and every loss: results of older sessions are stale.
    pub(super) session: u64,
    /// Bumped for every attempt.
    pub(super) attempt_seq: u64,
    pub(super) in_flight: Option<(u64, u32)>,
    pub(super) probe: Option<Vec<RpcReplyPort<Result<Duration, String>>>>,
    pub(super) handled: u64,
    pub(super) ever_connected: bool,
    /// Every task of this incarnation: attempts, probes, notices, streams, orders, reconciles.
    pub(super) tasks: JoinSet<()>,
    /// The market-data stream of each subscription on the current session.
    pub(super) streams: HashMap<u64, AbortHandle>,
    /// A reconcile is running.
    pub(super) reconciling: bool,
    /// The last sign of life of the current session (any inbound message, a probe answer).
    pub(super) liveness: Arc<Liveness>,
    /// Orders waiting for a probe because the link was silent longer than `max_silence`.
    pub(super) awaiting_probe: Vec<Ticket>,
    /// The current session's data farms (forgotten when it ends).
    pub(super) farms: FarmBoard,
    /// The competing live session episode (10197), if one is in progress.
    pub(super) competing: CompetingSession,
    /// What waits for IB's message rate, and when it may go.
    pub(super) pacing: Pacing,
    /// This incarnation, for the tasks that report back (a market-data line answered 10197).
    pub(super) myself: ActorRef<GatewayMessage>,
}

impl Actor for GatewayActor {
    type Msg = GatewayMessage;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<GatewayState, ActorProcessingErr> {
        let now = args.clock.now();
        let conn = ConnectionState::Disconnected { since: now, last_error: None };
        // A new incarnation (a restart after a panic or a kill) continues the outage it finds.
        // Its farms died with the old incarnation's session: none is known until the next one.
        let mut stale_farms = false;
        args.board.update(&args.account.name, |s| {
            s.outage_since = conn.outage_since(s.outage_since);
            s.state = conn.clone();
            stale_farms = s.farms.data_plane != DataPlane::Ok;
            s.farms = FarmSnapshot::default();
            s.competing_session = None;
        });
        let pacer = Pacer::new(args.pacing).map_err(|e| format!("pacing settings: {e}"))?;
        let state = GatewayState {
            pacing: Pacing::new(pacer),
            args,
            conn,
            link: None,
            session: 0,
            attempt_seq: 0,
            in_flight: None,
            probe: None,
            handled: 0,
            ever_connected: false,
            tasks: JoinSet::new(),
            streams: HashMap::new(),
            reconciling: false,
            liveness: Arc::new(Liveness::default()),
            awaiting_probe: Vec::new(),
            farms: FarmBoard::new(),
            competing: CompetingSession::default(),
            myself,
        };
        if stale_farms {
            state.publish(EventKind::DataPlaneChanged { farms: FarmSnapshot::default() });
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: GatewayMessage,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        state.handled += 1;
        // Reap finished tasks (a JoinSet keeps them until joined).
        while state.tasks.try_join_next().is_some() {}
        match message {
            GatewayMessage::Connect { attempt, client_id } => state.start_attempt(&myself, attempt, client_id),
            GatewayMessage::ConnectDone(outcome) => state.attempt_done(&myself, *outcome),
            GatewayMessage::Heartbeat(reply) => {
                state.expire_competing_session();
                let probe_started = state.start_probe(&myself);
                let _ = reply.send(HeartbeatAck { state: state.conn.clone(), probe_started });
                state.poll_orders(&myself);
            }
            GatewayMessage::ProbeNow(reply) => {
                if state.link.is_some() && state.conn.link().is_some() {
                    state.start_probe(&myself);
                    state.probe.get_or_insert_with(Vec::new).push(reply);
                } else {
                    let _ = reply.send(Err(format!("not connected ({})", state.conn.name())));
                }
            }
            GatewayMessage::ProbeDone { session, started, result } => {
                state.probe_done(&myself, session, started, result)
            }
            GatewayMessage::Notice { session, code, message } => state.notice(session, code, message),
            GatewayMessage::StreamEnded { session } => {
                if session == state.session {
                    state.lose("connection closed by the gateway".into());
                }
            }
            GatewayMessage::WindowStarted { until } => state.apply(ConnectionEvent::WindowStarted { until }),
            GatewayMessage::WindowEnded => state.apply(ConnectionEvent::WindowEnded),
            GatewayMessage::Subscribed { id } => {
                if state.conn.link().is_some() {
                    state.request_market_data(id);
                }
            }
            GatewayMessage::Unsubscribed { id } => {
                if let Some(stream) = state.streams.remove(&id) {
                    // Dropping the stream writes IB's cancel: it takes a slot.
                    stream.abort();
                    state.record_unpaced(1);
                }
            }
            GatewayMessage::PacingDue { at } => state.pacing_due(at),
            GatewayMessage::PlaceOrder(ticket) => state.place_order(&myself, *ticket),
            GatewayMessage::OrderStreamLive { session } => {
                if session == state.session && state.args.registry.unsettled().is_some() {
                    state.start_reconcile(&myself);
                }
            }
            GatewayMessage::ReconcileDone { session, mark, result } => state.reconcile_done(session, mark, result),
            GatewayMessage::Snapshot(reply) => {
                let _ = reply.send(GatewaySnapshot {
                    account: state.args.account.name.clone(),
                    state: state.conn.clone(),
                    session: state.session,
                    attempt_in_flight: state.in_flight.map(|(_, attempt)| attempt),
                    probe_in_flight: state.probe.is_some(),
                    market_data_subscriptions: state.args.registry.subscriptions().len(),
                    orders_in_flight: state.args.registry.orders_in_flight(),
                    tasks: state.tasks.len(),
                    messages_handled: state.handled,
                    silent_ms: state.liveness.silent_for().as_millis() as u64,
                    paced_orders_waiting: state.paced_waiting().0,
                    paced_requests_waiting: state.paced_waiting().1,
                    paced_delayed: state.pacing.delayed,
                });
            }
            GatewayMessage::Drill(drill) => drill.run(&format!("GatewayActor {}", state.args.account.name)).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        state.apply(ConnectionEvent::Stop);
        for ticket in state.awaiting_probe.drain(..) {
            ticket.refuse(crate::engine::Refusal::ShuttingDown);
        }
        for (_, item) in state.pacing.pacer.take_queued() {
            if let super::pacing::Outgoing::Order(ticket) = item {
                ticket.refuse(crate::engine::Refusal::ShuttingDown);
            }
        }
        state.tasks.abort_all();
        if let Some(link) = state.link.take() {
            // Bounded: shutdown must finish within its budget even if the gateway hangs.
            link.close().await;
        }
        Ok(())
    }
}

impl GatewayState {
    pub(super) fn name(&self) -> &str {
        &self.args.account.name
    }

    pub(super) fn publish(&self, kind: EventKind) {
        self.args.events.send(StatusEvent::new(self.name(), self.args.clock.now(), kind));
    }

    /// Run the state machine; publish and record a change.
    pub(super) fn apply(&mut self, event: ConnectionEvent) {
        let now = self.args.clock.now();
        let Some(next) = transition(&self.conn, &event, now) else { return };
        let from = std::mem::replace(&mut self.conn, next.clone());
        tracing::debug!(account = %self.name(), from = from.name(), to = next.name(), "state changed");
        let error = match &next {
            ConnectionState::Disconnected { last_error, .. } => last_error.clone(),
            ConnectionState::Degraded { reason, code, .. } => Some(format!("IB upstream lost ({code}): {reason}")),
            _ => None,
        };
        // The ledger first: a reader in between sees the old state with its time counted.
        self.args.board.update_metrics(&self.args.account.name, |m| m.uptime.record(&from, now));
        self.args.board.update(&self.args.account.name, |s| {
            s.state = next.clone();
            if let Some(client_id) = next.link() {
                s.client_id = client_id;
            }
            if next.is_usable() {
                s.last_connected = Some(now);
            }
            s.outage_since = next.outage_since(s.outage_since);
            if !matches!(next, ConnectionState::Connecting { .. } | ConnectionState::ResetWindow { .. }) {
                s.error_message = error;
            }
        });
        self.publish(EventKind::StateChanged { from, to: next });
    }
}
