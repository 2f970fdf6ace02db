//! `GatewayActor`: one per account. It alone owns the account's `ibapi::Client` and its
//! [`ConnectionState`], and publishes every change.
//!
//! No handler awaits I/O: a connect attempt, a probe and the notice stream each run as a task
//! whose result comes back as a message tagged with the attempt or session it belongs to, so
//! the actor always answers heartbeats and stale results are recognised and dropped.
//!
//! - Connects with `max_reconnect_attempts(0)` (one reconnect policy: ours),
//!   `one_shot_timeout` = the probe timeout, and `connect_with_notice_stream()`, each attempt
//!   bounded by the connect timeout (ibapi's async connect has none).
//! - Loss is event-driven: the notice stream ends the moment ibapi sees EOF or a reset.
//! - 1100/2110 → Degraded; 1101 → Connected and market data re-requested; 1102 → Connected.
//! - Each heartbeat starts a `server_time` probe bounded by the probe timeout; a failure marks
//!   the account Disconnected and drops the socket (a half-open socket still "looks" connected).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ibapi::contracts::Contract;
use ibapi::orders::{ExecutionFilter, Executions, OrderUpdate, Orders, PlaceOrder};
use ibapi::prelude::NoticeStream;
use ibapi::prelude::{StreamExt, SubscriptionItem, TickTypes};
use ibapi::{Client, Error as IbError};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::backoff::AttemptFailure;
use crate::clock::SharedClock;
use crate::engine::{OrderEvent, OrderRequest, OrderSink, Refusal};
use crate::settings::{AccountSettings, HeartbeatSettings};
use crate::status::{transition, ConnectionEvent, ConnectionState, EventKind, EventPort, StatusBoard, StatusEvent};

/// Messages a GatewayActor handles.
pub enum GatewayMessage {
    /// Make one connection attempt now (sent by the ReconnectActor).
    Connect { attempt: u32, client_id: i32 },
    /// Liveness check from the watchdog: answered at once; starts a probe when linked.
    Heartbeat(RpcReplyPort<HeartbeatAck>),
    /// Probe now and answer with the round-trip time (for `--once`).
    ProbeNow(RpcReplyPort<Result<Duration, String>>),
    /// A scheduled reset window began (sent by the ReconnectActor, which owns the calendar).
    WindowStarted { until: DateTime<Utc> },
    /// The reset window ended.
    WindowEnded,
    /// Keep a market-data subscription, re-requested after every reconnect and after 1101.
    SubscribeMarketData { contract: Box<Contract>, sink: TickSink, reply: RpcReplyPort<u64> },
    /// Place an order (sent by the GuardActor). Refused at once unless this account is usable.
    PlaceOrder(Box<OrderRequest>),
    /// A small serialisable view of the actor, for `/actors` and tests.
    Snapshot(RpcReplyPort<GatewaySnapshot>),
    /// Chaos drills: make the actor fail on purpose.
    Drill(Drill),
    // ---- results of the actor's own tasks ----
    #[doc(hidden)]
    ConnectDone(Box<ConnectOutcome>),
    #[doc(hidden)]
    ProbeDone { session: u64, started: Instant, result: Result<(), String> },
    #[doc(hidden)]
    Notice { session: u64, code: i32, message: String },
    #[doc(hidden)]
    StreamEnded { session: u64 },
    #[doc(hidden)]
    OrderProgress { key: (i32, i32), status: String, filled: f64, avg_fill_price: Option<f64> },
    #[doc(hidden)]
    OrderStreamEnded { key: (i32, i32), interrupted: bool, error: Option<String> },
    #[doc(hidden)]
    ReconcileDone { session: u64, result: Result<Reconciliation, String> },
}

/// An order this gateway placed and still follows: (client id, order id) → its last known state.
struct TrackedOrder {
    account: String,
    quantity: f64,
    status: String,
    filled: f64,
    avg_fill_price: Option<f64>,
    sink: OrderSink,
}

/// What the gateway reports about orders after a reconnect.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Reconciliation {
    /// (client id, order id) → (status, filled, average fill price) of every open order.
    open: HashMap<(i32, i32), (String, f64, Option<f64>)>,
    /// (client id, order id) → (shares, average price) over today's executions.
    executed: HashMap<(i32, i32), (f64, f64)>,
}

/// Failures injected on purpose, to prove the supervisor recovers from them.
#[derive(Debug, Clone, Copy)]
pub enum Drill {
    /// Panic inside the handler.
    Panic,
    /// Stop handling messages for this long (the actor looks stuck).
    Freeze(Duration),
}

/// The watchdog's answer.
#[derive(Debug, Clone)]
pub struct HeartbeatAck {
    pub state: ConnectionState,
    pub probe_started: bool,
}

/// A market-data event delivered to a subscriber.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MarketEvent {
    /// A price (bid 1, ask 2, last 4, …) with its size when the gateway sent one.
    Price { subscription: u64, tick_type: String, price: f64, size: Option<f64> },
    /// Ticks may have been missed (reconnect, or 1101 data lost); the subscription was renewed.
    Gap { subscription: u64, reason: String },
}

/// Where a subscription's events go; returns false once the receiver is gone (the
/// subscription is then dropped).
pub type TickSink = Arc<dyn Fn(MarketEvent) -> bool + Send + Sync>;

/// What `/actors` shows of a gateway.
#[derive(Debug, Clone, Serialize)]
pub struct GatewaySnapshot {
    pub account: String,
    pub state: ConnectionState,
    pub session: u64,
    pub attempt_in_flight: Option<u32>,
    pub probe_in_flight: bool,
    pub market_data_subscriptions: usize,
    pub messages_handled: u64,
}

#[doc(hidden)]
pub struct ConnectOutcome {
    seq: u64,
    attempt: u32,
    client_id: i32,
    result: Result<(Client, NoticeStream), (AttemptFailure, String)>,
}

/// Everything a GatewayActor is started with.
#[derive(Clone)]
pub struct GatewayArgs {
    pub account: AccountSettings,
    pub heartbeat: HeartbeatSettings,
    pub clock: SharedClock,
    pub events: EventPort,
    pub board: StatusBoard,
}

pub struct GatewayActor;

struct Subscription {
    id: u64,
    contract: Contract,
    sink: TickSink,
    task: Option<AbortHandle>,
}

pub struct GatewayState {
    args: GatewayArgs,
    conn: ConnectionState,
    client: Option<Arc<Client>>,
    /// Bumped for every new connection and every loss: results of older sessions are stale.
    session: u64,
    /// Bumped for every attempt.
    attempt_seq: u64,
    in_flight: Option<(u64, u32)>,
    probe: Option<Vec<RpcReplyPort<Result<Duration, String>>>>,
    subscriptions: Vec<Subscription>,
    next_subscription: u64,
    handled: u64,
    ever_connected: bool,
    orders: HashMap<(i32, i32), TrackedOrder>,
    /// The last moment the connection was known alive (connected, probe answered, notice).
    last_alive: Option<Instant>,
}

impl Actor for GatewayActor {
    type Msg = GatewayMessage;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<GatewayState, ActorProcessingErr> {
        let now = args.clock.now();
        let conn = ConnectionState::Disconnected { since: now, last_error: None };
        args.board.update(&args.account.name, |s| s.state = conn.clone());
        Ok(GatewayState {
            args,
            conn,
            client: None,
            session: 0,
            attempt_seq: 0,
            in_flight: None,
            probe: None,
            subscriptions: Vec::new(),
            next_subscription: 1,
            handled: 0,
            ever_connected: false,
            orders: HashMap::new(),
            last_alive: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: GatewayMessage,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        state.handled += 1;
        match message {
            GatewayMessage::Connect { attempt, client_id } => state.start_attempt(&myself, attempt, client_id),
            GatewayMessage::ConnectDone(outcome) => state.attempt_done(&myself, *outcome),
            GatewayMessage::Heartbeat(reply) => {
                let probe_started = state.start_probe(&myself);
                let _ = reply.send(HeartbeatAck { state: state.conn.clone(), probe_started });
            }
            GatewayMessage::ProbeNow(reply) => {
                if state.client.is_some() && state.conn.link().is_some() {
                    state.start_probe(&myself);
                    state.probe.get_or_insert_with(Vec::new).push(reply);
                } else {
                    let _ = reply.send(Err(format!("not connected ({})", state.conn.name())));
                }
            }
            GatewayMessage::ProbeDone { session, started, result } => state.probe_done(session, started, result),
            GatewayMessage::Notice { session, code, message } => state.notice(&myself, session, code, message),
            GatewayMessage::StreamEnded { session } => {
                if session == state.session {
                    state.lose("connection closed by the gateway".into());
                }
            }
            GatewayMessage::WindowStarted { until } => state.apply(ConnectionEvent::WindowStarted { until }),
            GatewayMessage::WindowEnded => state.apply(ConnectionEvent::WindowEnded),
            GatewayMessage::SubscribeMarketData { contract, sink, reply } => {
                let id = state.next_subscription;
                state.next_subscription += 1;
                state.subscriptions.push(Subscription { id, contract: *contract, sink, task: None });
                if state.conn.link().is_some() {
                    state.request_market_data(id);
                }
                let _ = reply.send(id);
            }
            GatewayMessage::PlaceOrder(request) => state.place_order(&myself, *request),
            GatewayMessage::OrderProgress { key, status, filled, avg_fill_price } => {
                if let Some(order) = state.orders.get_mut(&key) {
                    order.status = status;
                    order.filled = filled;
                    order.avg_fill_price = avg_fill_price.or(order.avg_fill_price);
                }
            }
            GatewayMessage::OrderStreamEnded { key, interrupted, error } => {
                // An interrupted order (connection lost) stays tracked until reconciled.
                if !interrupted {
                    if let Some(order) = state.orders.get_mut(&key) {
                        if let Some(error) = error {
                            order.status = format!("Rejected: {error}");
                        }
                    }
                    state.forget_finished();
                }
            }
            GatewayMessage::ReconcileDone { session, result } => state.reconcile_done(session, result),
            GatewayMessage::Snapshot(reply) => {
                let _ = reply.send(GatewaySnapshot {
                    account: state.args.account.name.clone(),
                    state: state.conn.clone(),
                    session: state.session,
                    attempt_in_flight: state.in_flight.map(|(_, attempt)| attempt),
                    probe_in_flight: state.probe.is_some(),
                    market_data_subscriptions: state.subscriptions.len(),
                    messages_handled: state.handled,
                });
            }
            GatewayMessage::Drill(Drill::Panic) => panic!("drill: GatewayActor {} panics", state.args.account.name),
            GatewayMessage::Drill(Drill::Freeze(duration)) => tokio::time::sleep(duration).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        state.apply(ConnectionEvent::Stop);
        for sub in &mut state.subscriptions {
            if let Some(task) = sub.task.take() {
                task.abort();
            }
        }
        if let Some(client) = state.client.take() {
            // Bounded: shutdown must finish within its budget even if the gateway hangs.
            let _ = tokio::time::timeout(Duration::from_millis(500), client.disconnect()).await;
        }
        Ok(())
    }
}

impl GatewayState {
    fn name(&self) -> &str {
        &self.args.account.name
    }

    fn publish(&self, kind: EventKind) {
        self.args.events.send(StatusEvent::new(self.name(), self.args.clock.now(), kind));
    }

    /// Run the state machine; publish and record a change.
    fn apply(&mut self, event: ConnectionEvent) {
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
            if !matches!(next, ConnectionState::Connecting { .. } | ConnectionState::ResetWindow { .. }) {
                s.error_message = error;
            }
        });
        self.publish(EventKind::StateChanged { from, to: next });
    }

    fn start_attempt(&mut self, myself: &ActorRef<GatewayMessage>, attempt: u32, client_id: i32) {
        if self.in_flight.is_some() {
            tracing::debug!(account = %self.name(), attempt, "attempt already in flight; connect ignored");
            return;
        }
        if let Some(client_id) = self.conn.link() {
            // Already up: say so, so the reconnect actor's view converges.
            self.publish(EventKind::Connected { attempt, client_id, server_version: 0 });
            return;
        }
        self.attempt_seq += 1;
        let seq = self.attempt_seq;
        self.in_flight = Some((seq, attempt));
        self.apply(ConnectionEvent::AttemptStarted { attempt, client_id });
        self.args.board.update(&self.args.account.name, |s| s.client_id = client_id);
        self.publish(EventKind::AttemptStarted { attempt, client_id });
        tracing::info!(account = %self.name(), attempt, client_id, address = %self.args.account.address(), "connecting to IBKR");

        let address = self.args.account.address();
        let connect_timeout = self.args.heartbeat.connect_timeout;
        let probe_timeout = self.args.heartbeat.probe_timeout;
        let myself = myself.clone();
        tokio::spawn(async move {
            let connect = Client::builder()
                .address(address)
                .client_id(client_id)
                .max_reconnect_attempts(0)
                .one_shot_timeout(probe_timeout)
                .connect_with_notice_stream();
            let result = match tokio::time::timeout(connect_timeout, connect).await {
                Ok(Ok(connected)) => Ok(connected),
                Ok(Err(e)) => Err((classify(&e), e.to_string())),
                Err(_) => Err((
                    AttemptFailure::TimedOut,
                    format!(
                        "no handshake within the connect timeout ({})",
                        humantime::format_duration(connect_timeout)
                    ),
                )),
            };
            let outcome = ConnectOutcome { seq, attempt, client_id, result };
            if let Err(ractor::MessagingErr::SendErr(GatewayMessage::ConnectDone(outcome))) =
                myself.send_message(GatewayMessage::ConnectDone(Box::new(outcome)))
            {
                // The actor is gone: do not leave the session open.
                if let Ok((client, _)) = outcome.result {
                    let _ = tokio::time::timeout(Duration::from_millis(500), client.disconnect()).await;
                }
            }
        });
    }

    fn attempt_done(&mut self, myself: &ActorRef<GatewayMessage>, outcome: ConnectOutcome) {
        let ConnectOutcome { seq, attempt, client_id, result } = outcome;
        if self.in_flight.map(|(s, _)| s) != Some(seq) {
            if let Ok((client, _)) = result {
                tokio::spawn(async move { client.disconnect().await });
            }
            return;
        }
        self.in_flight = None;
        match result {
            Ok((client, notices)) => {
                self.session += 1;
                self.last_alive = Some(Instant::now());
                let server_version = client.server_version();
                self.client = Some(Arc::new(client));
                spawn_notice_reader(myself.clone(), self.session, notices);
                let was_connected = self.ever_connected;
                self.ever_connected = true;
                self.apply(ConnectionEvent::Connected { client_id });
                self.publish(EventKind::Connected { attempt, client_id, server_version });
                let name = self.args.account.name.clone();
                if was_connected || attempt > 1 {
                    tracing::info!(account = %name, attempt, client_id, "✅ Reconnected to IBKR {name}");
                } else {
                    tracing::info!(account = %name, attempt, client_id, "✅ Connected to IBKR {name}");
                }
                for id in self.subscriptions.iter().map(|s| s.id).collect::<Vec<_>>() {
                    self.request_market_data(id);
                    if was_connected {
                        self.gap(id, "reconnected: ticks may have been missed");
                    }
                }
                if !self.orders.is_empty() {
                    self.start_reconcile(myself);
                    self.follow_interrupted(myself);
                }
            }
            Err((failure, detail)) => {
                let name = self.args.account.name.clone();
                tracing::warn!(account = %name, attempt, client_id, error = %detail, "❌ Failed to reconnect to IBKR {name}");
                self.apply(ConnectionEvent::AttemptFailed { error: detail.clone() });
                self.publish(EventKind::AttemptFailed {
                    attempt,
                    client_id,
                    error: detail,
                    client_id_in_use: failure == AttemptFailure::ClientIdInUse,
                });
            }
        }
    }

    /// Start a probe if linked and none is running; true if one runs now.
    fn start_probe(&mut self, myself: &ActorRef<GatewayMessage>) -> bool {
        let Some(client) = self.client.clone() else { return false };
        if self.conn.link().is_none() {
            return false;
        }
        if self.probe.is_some() {
            return true;
        }
        self.probe = Some(Vec::new());
        let session = self.session;
        let timeout = self.args.heartbeat.probe_timeout;
        let myself = myself.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(timeout, client.server_time()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("probe failed: {e}")),
                Err(_) => Err(format!("no answer to the probe within {}", humantime::format_duration(timeout))),
            };
            let _ = myself.send_message(GatewayMessage::ProbeDone { session, started, result });
        });
        true
    }

    fn probe_done(&mut self, session: u64, started: Instant, result: Result<(), String>) {
        let rtt = started.elapsed();
        let waiters = self.probe.take().unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(result.clone().map(|_| rtt));
        }
        if session != self.session {
            return;
        }
        match result {
            Ok(()) => {
                self.last_alive = Some(Instant::now());
                let rtt_ms = rtt.as_secs_f64() * 1000.0;
                self.args.board.update(&self.args.account.name, |s| s.probe_rtt_ms = Some(rtt_ms));
            }
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "liveness probe failed; dropping the connection");
                self.publish(EventKind::ProbeFailed { error: error.clone() });
                self.lose(error);
            }
        }
    }

    /// An established connection is gone: record it, drop the socket, forget the session.
    fn lose(&mut self, reason: String) {
        self.session += 1;
        if let Some(alive) = self.last_alive.take() {
            let seconds = alive.elapsed().as_secs_f64();
            self.args.board.update_metrics(&self.args.account.name, |m| m.detection.observe(seconds));
        }
        if let Some(client) = self.client.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_millis(500), client.disconnect()).await;
            });
        }
        for sub in &mut self.subscriptions {
            if let Some(task) = sub.task.take() {
                task.abort();
            }
        }
        let name = self.args.account.name.clone();
        tracing::warn!(account = %name, %reason, "connection to IBKR {name} lost");
        self.publish(EventKind::Lost { reason: reason.clone() });
        self.apply(ConnectionEvent::Lost { reason });
    }

    fn notice(&mut self, myself: &ActorRef<GatewayMessage>, session: u64, code: i32, message: String) {
        if session != self.session {
            return;
        }
        self.last_alive = Some(Instant::now());
        let _ = myself;
        if matches!(code, 2104 | 2106 | 2158) {
            tracing::debug!(account = %self.name(), code, %message, "IB notice");
        } else {
            tracing::info!(account = %self.name(), code, %message, "IB notice");
        }
        self.publish(EventKind::Notice { code, message: message.clone() });
        match code {
            1100 | 2110 => self.apply(ConnectionEvent::UpstreamLost { code, reason: message }),
            1101 => {
                self.apply(ConnectionEvent::UpstreamRestored { code });
                // Data lost: IB dropped every market-data subscription; ask again.
                for id in self.subscriptions.iter().map(|s| s.id).collect::<Vec<_>>() {
                    self.request_market_data(id);
                    self.gap(id, "IB connectivity restored with data lost (1101)");
                }
            }
            1102 => self.apply(ConnectionEvent::UpstreamRestored { code }),
            _ => {}
        }
    }

    fn gap(&mut self, id: u64, reason: &str) {
        if let Some(sub) = self.subscriptions.iter().find(|s| s.id == id) {
            (sub.sink)(MarketEvent::Gap { subscription: id, reason: reason.to_owned() });
        }
    }

    /// (Re)request one subscription on the current client.
    fn request_market_data(&mut self, id: u64) {
        let Some(client) = self.client.clone() else { return };
        let account = self.args.account.name.clone();
        let Some(sub) = self.subscriptions.iter_mut().find(|s| s.id == id) else { return };
        if let Some(task) = sub.task.take() {
            task.abort();
        }
        let contract = sub.contract.clone();
        let sink = Arc::clone(&sub.sink);
        let task = tokio::spawn(async move {
            let mut ticks = match client.market_data(&contract).subscribe().await {
                Ok(ticks) => ticks,
                Err(e) => {
                    tracing::warn!(%account, subscription = id, error = %e, "market-data request failed");
                    return;
                }
            };
            while let Some(item) = ticks.next().await {
                let event = match item {
                    Ok(SubscriptionItem::Data(TickTypes::PriceSize(p))) => MarketEvent::Price {
                        subscription: id,
                        tick_type: format!("{:?}", p.price_tick_type),
                        price: p.price,
                        size: Some(p.size),
                    },
                    Ok(SubscriptionItem::Data(TickTypes::Price(p))) => MarketEvent::Price {
                        subscription: id,
                        tick_type: format!("{:?}", p.tick_type),
                        price: p.price,
                        size: None,
                    },
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(%account, subscription = id, error = %e, "market-data stream ended");
                        return;
                    }
                };
                if !sink(event) {
                    return;
                }
            }
        });
        sub.task = Some(task.abort_handle());
    }
}

impl GatewayState {
    fn place_order(&mut self, myself: &ActorRef<GatewayMessage>, request: OrderRequest) {
        let account = self.args.account.name.clone();
        // The owner of the fact checks again: an order racing a disconnect is refused here.
        let (client, client_id) = match (self.conn.is_usable(), self.client.clone(), self.conn.link()) {
            (true, Some(client), Some(client_id)) => (client, client_id),
            _ => {
                let reason = Refusal::from_state(&self.conn).unwrap_or(Refusal::Disconnected {
                    since: self.conn.since(),
                    last_error: Some("no client".into()),
                });
                tracing::warn!(%account, order_id = ?request.order_id, %reason, "order refused by the gateway");
                (request.sink)(OrderEvent::Refused { account, order_id: request.order_id, reason });
                return;
            }
        };
        let order_id = request.order_id.unwrap_or_else(|| client.next_order_id());
        let key = (client_id, order_id);
        let sink = Arc::clone(&request.sink);
        self.orders.insert(
            key,
            TrackedOrder {
                account: account.clone(),
                quantity: request.order.total_quantity,
                status: "PendingSubmit".into(),
                filled: 0.0,
                avg_fill_price: None,
                sink: Arc::clone(&sink),
            },
        );
        tracing::info!(%account, order_id, client_id, symbol = %request.contract.symbol, action = ?request.order.action,
            quantity = request.order.total_quantity, "placing order");
        sink(OrderEvent::Sent { account, order_id, client_id });
        let myself = myself.clone();
        tokio::spawn(async move {
            let ended = |interrupted, error| GatewayMessage::OrderStreamEnded { key, interrupted, error };
            let mut events = match client.place_order(order_id, &request.contract, &request.order).await {
                Ok(events) => events,
                Err(e) => {
                    let interrupted = is_connection_error(&e);
                    sink(OrderEvent::Failed { order_id, error: e.to_string() });
                    let _ = myself.send_message(ended(interrupted, Some(e.to_string())));
                    return;
                }
            };
            let mut grace: Option<Instant> = None;
            loop {
                let next = match grace {
                    // After a terminal status, wait briefly for the commission report.
                    Some(until) => match tokio::time::timeout_at(until, events.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    },
                    None => events.next().await,
                };
                match next {
                    Some(Ok(SubscriptionItem::Data(event))) => {
                        let (event, progress) = order_event(order_id, event);
                        sink(event);
                        if let Some((status, filled, avg, terminal)) = progress {
                            let _ = myself.send_message(GatewayMessage::OrderProgress {
                                key,
                                status,
                                filled,
                                avg_fill_price: avg,
                            });
                            if terminal && grace.is_none() {
                                grace = Some(Instant::now() + Duration::from_millis(500));
                            }
                        }
                    }
                    Some(Ok(SubscriptionItem::Notice(notice))) => {
                        tracing::info!(order_id, code = notice.code, message = %notice.message, "order notice");
                    }
                    Some(Err(e)) => {
                        let interrupted = is_connection_error(&e);
                        sink(OrderEvent::Failed { order_id, error: e.to_string() });
                        let _ = myself.send_message(ended(interrupted, Some(e.to_string())));
                        return;
                    }
                    None => break,
                }
            }
            let _ = myself.send_message(ended(grace.is_none(), None));
        });
    }

    fn forget_finished(&mut self) {
        self.orders.retain(|_, o| !is_terminal(&o.status));
    }

    /// After a reconnect: fetch open orders and executions to settle every followed order.
    fn start_reconcile(&mut self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client.clone() else { return };
        let (session, myself) = (self.session, myself.clone());
        tokio::spawn(async move {
            let fetch = async {
                let mut found = Reconciliation::default();
                let mut open = client.all_open_orders().await.map_err(|e| e.to_string())?;
                while let Some(item) = open.next().await {
                    match item.map_err(|e| e.to_string())? {
                        SubscriptionItem::Data(Orders::OrderData(o)) => {
                            let status = o.order_state.status.as_str().to_owned();
                            found.open.entry((o.order.client_id, o.order_id)).or_insert((status, 0.0, None));
                        }
                        SubscriptionItem::Data(Orders::OrderStatus(s)) => {
                            let status = s.status.as_str().to_owned();
                            found.open.insert((s.client_id, s.order_id), (status, s.filled, s.average_fill_price));
                        }
                        SubscriptionItem::Notice(_) => {}
                    }
                }
                let mut executions = client.executions(ExecutionFilter::default()).await.map_err(|e| e.to_string())?;
                while let Some(item) = executions.next().await {
                    if let SubscriptionItem::Data(Executions::ExecutionData(e)) = item.map_err(|e| e.to_string())? {
                        let entry =
                            found.executed.entry((e.execution.client_id, e.execution.order_id)).or_insert((0.0, 0.0));
                        let shares = entry.0 + e.execution.shares;
                        entry.1 = (entry.1 * entry.0 + e.execution.price * e.execution.shares)
                            / shares.max(f64::MIN_POSITIVE);
                        entry.0 = shares;
                    }
                }
                Ok::<_, String>(found)
            };
            let result = match tokio::time::timeout(Duration::from_secs(10), fetch).await {
                Ok(result) => result,
                Err(_) => Err("open orders and executions did not arrive within 10 s".into()),
            };
            let _ = myself.send_message(GatewayMessage::ReconcileDone { session, result });
        });
    }

    /// Orders whose event stream broke with the old connection: follow them on the new one,
    /// so a fill after the reconnect still reaches the engine. Only these orders are
    /// followed here (new orders have their own stream), so nothing is delivered twice.
    fn follow_interrupted(&self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client.clone() else { return };
        let followed: HashMap<(i32, i32), OrderSink> = self
            .orders
            .iter()
            .filter(|(_, o)| !is_terminal(&o.status))
            .map(|(key, o)| (*key, Arc::clone(&o.sink)))
            .collect();
        let myself = myself.clone();
        tokio::spawn(async move {
            let Ok(mut updates) = client.order_update_stream().await else { return };
            while let Some(Ok(item)) = updates.next().await {
                let SubscriptionItem::Data(update) = item else { continue };
                let (key, event) = match update {
                    OrderUpdate::OrderStatus(s) => ((s.client_id, s.order_id), PlaceOrder::OrderStatus(s)),
                    OrderUpdate::OpenOrder(o) => ((o.order.client_id, o.order_id), PlaceOrder::OpenOrder(o)),
                    OrderUpdate::ExecutionData(e) => {
                        ((e.execution.client_id, e.execution.order_id), PlaceOrder::ExecutionData(e))
                    }
                    _ => continue,
                };
                let Some(sink) = followed.get(&key) else { continue };
                let (event, progress) = order_event(key.1, event);
                sink(event);
                if let Some((status, filled, avg_fill_price, _)) = progress {
                    let _ = myself.send_message(GatewayMessage::OrderProgress { key, status, filled, avg_fill_price });
                }
            }
        });
    }

    fn reconcile_done(&mut self, session: u64, result: Result<Reconciliation, String>) {
        if session != self.session {
            return;
        }
        let found = match result {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "could not reconcile orders after the reconnect");
                self.publish(EventKind::ReconcileFailed { error });
                return;
            }
        };
        let mut reports = Vec::new();
        for (&(client_id, order_id), order) in &mut self.orders {
            if is_terminal(&order.status) {
                continue;
            }
            let executed = found.executed.get(&(client_id, order_id)).copied();
            let (after, filled, avg) = match found.open.get(&(client_id, order_id)) {
                Some((status, filled, avg)) => (status.clone(), filled.max(executed.map_or(0.0, |e| e.0)), *avg),
                None => match executed {
                    Some((shares, price)) if shares + 1e-9 >= order.quantity => ("Filled".into(), shares, Some(price)),
                    // Neither working nor fully filled at the gateway: cancelled or rejected while away.
                    Some((shares, price)) => ("Inactive".into(), shares, Some(price)),
                    None => ("Inactive".into(), 0.0, None),
                },
            };
            if after != order.status || (filled - order.filled).abs() > 1e-9 {
                let before = std::mem::replace(&mut order.status, after.clone());
                order.filled = filled;
                order.avg_fill_price = avg.or(order.avg_fill_price);
                (order.sink)(OrderEvent::Reconciled {
                    order_id,
                    before: before.clone(),
                    after: after.clone(),
                    filled,
                    avg_fill_price: order.avg_fill_price,
                });
                reports.push((order.account.clone(), client_id, order_id, before, after, filled));
            }
        }
        for (account, client_id, order_id, before, after, filled) in reports {
            tracing::warn!(%account, order_id, client_id, %before, %after, filled, "order changed during the outage");
            self.publish(EventKind::OrderReconciled { order_id, client_id, before, after, filled });
        }
        self.forget_finished();
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "Filled" | "Cancelled" | "ApiCancelled" | "Inactive") || status.starts_with("Rejected")
}

fn is_connection_error(error: &IbError) -> bool {
    matches!(error, IbError::ConnectionReset | IbError::ConnectionFailed | IbError::Shutdown)
        || error.is_connection_lost()
}

/// What an order status tells the tracking table: (status, filled, average price, terminal).
type Progress = (String, f64, Option<f64>, bool);

/// An ibapi order event as the engine sees it, and the progress to track.
fn order_event(order_id: i32, event: PlaceOrder) -> (OrderEvent, Option<Progress>) {
    match event {
        PlaceOrder::OpenOrder(open) => {
            let status = open.order_state.status.as_str().to_owned();
            (OrderEvent::Open { order_id, status }, None)
        }
        PlaceOrder::OrderStatus(s) => {
            let status = s.status.as_str().to_owned();
            let progress = (status.clone(), s.filled, s.average_fill_price, s.status.is_terminal());
            let event = OrderEvent::Status {
                order_id,
                status,
                filled: s.filled,
                remaining: s.remaining,
                avg_fill_price: s.average_fill_price,
            };
            (event, Some(progress))
        }
        PlaceOrder::ExecutionData(e) => (
            OrderEvent::Execution {
                order_id,
                exec_id: e.execution.execution_id,
                shares: e.execution.shares,
                price: e.execution.price,
            },
            None,
        ),
        PlaceOrder::CommissionReport(c) => {
            (OrderEvent::Commission { exec_id: c.execution_id, commission: c.commission, currency: c.currency }, None)
        }
    }
}

fn spawn_notice_reader(myself: ActorRef<GatewayMessage>, session: u64, mut notices: NoticeStream) {
    tokio::spawn(async move {
        while let Some(notice) = notices.next().await {
            let message = GatewayMessage::Notice { session, code: notice.code, message: notice.message };
            if myself.send_message(message).is_err() {
                return;
            }
        }
        let _ = myself.send_message(GatewayMessage::StreamEnded { session });
    });
}

/// Map ibapi's connect error to the reconnect policy's failure kinds.
fn classify(error: &IbError) -> AttemptFailure {
    match error {
        IbError::ClientIdInUse { .. } => AttemptFailure::ClientIdInUse,
        IbError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => AttemptFailure::Refused,
        other => AttemptFailure::Other(other.to_string()),
    }
}
