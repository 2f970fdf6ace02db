//! One simulated gateway: a listener for one account, its connected clients, its order book
//! and executions, its market prices, and the fault conditions its sessions obey.
//!
//! Lock discipline: `inner` is a std `Mutex` held only for short, non-async sections (never
//! across `.await`). Conditions that sessions wait on (hang, stall, latency, upstream) live in
//! a `watch` channel so a session can sleep until they change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fault::Fault;
use super::proto::{self, incoming};
use super::session::{self, Outbox, SessionControl};
use super::wire::encode_proto;
use super::SimOptions;

/// Conditions every session of a gateway obeys; changed by faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Conditions {
    /// Sessions neither read nor write; new connections are not answered.
    pub hang: bool,
    /// New connections are accepted but the handshake is never answered.
    pub stall_handshake: bool,
    /// Added to every reply.
    #[serde(rename = "latency_ms", serialize_with = "as_millis")]
    pub latency: Duration,
    /// IB's upstream connection is lost (1100 sent, ticks stopped).
    pub upstream_lost: bool,
    /// The listener is closed: connects are refused.
    pub refusing: bool,
    /// A client id whose session ends stays in use for this long.
    #[serde(rename = "hold_client_id_ms", serialize_with = "opt_as_millis")]
    pub hold_client_id: Option<Duration>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn opt_as_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

/// Status of an order in the simulated book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderStatusKind {
    PreSubmitted,
    Submitted,
    Filled,
    Cancelled,
}

impl OrderStatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSubmitted => "PreSubmitted",
            Self::Submitted => "Submitted",
            Self::Filled => "Filled",
            Self::Cancelled => "Cancelled",
        }
    }

    fn is_open(self) -> bool {
        matches!(self, Self::PreSubmitted | Self::Submitted)
    }
}

/// An order the gateway holds (it outlives the client connection, as on a real gateway).
#[derive(Debug, Clone)]
pub(crate) struct BookOrder {
    pub client_id: i32,
    pub order_id: i32,
    pub perm_id: i64,
    pub contract: proto::Contract,
    pub order: proto::Order,
    pub quantity: f64,
    pub status: OrderStatusKind,
    pub filled: f64,
    pub avg_fill_price: f64,
}

/// A fill, kept for `reqExecutions`.
#[derive(Debug, Clone)]
pub(crate) struct ExecRecord {
    pub client_id: i32,
    pub contract: proto::Contract,
    pub execution: proto::Execution,
    pub commission: f64,
}

/// Every order the gateway received, as shown by `GET /sim/state`.
#[derive(Debug, Clone, Serialize)]
pub struct OrderLogEntry {
    pub order_id: i32,
    pub client_id: i32,
    pub account: String,
    pub port: u16,
    pub symbol: String,
    pub action: String,
    pub quantity: String,
    pub order_type: String,
    pub limit_price: Option<f64>,
    pub received_at: DateTime<Utc>,
    /// What the gateway did with it: accepted, modified, or the rejection reason.
    pub outcome: String,
    /// The order's status in the book now (Submitted, Filled, Cancelled…), if it is booked.
    pub status: Option<&'static str>,
}

/// A connected client as shown by `GET /sim/state`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client_id: i32,
    pub peer: SocketAddr,
    pub since: DateTime<Utc>,
    pub port: u16,
}

/// A live socket, registered from accept until close.
pub(crate) struct SessionEntry {
    pub peer: SocketAddr,
    pub control: mpsc::UnboundedSender<SessionControl>,
    /// Set once StartApi was accepted.
    pub client: Option<(i32, DateTime<Utc>, Outbox)>,
}

/// Cap on the order log so a months-long demo cannot grow without bound.
const ORDER_LOG_CAP: usize = 100_000;

pub(crate) struct Inner {
    sessions: HashMap<u64, SessionEntry>,
    held_client_ids: HashMap<i32, Instant>,
    pub(crate) orders: HashMap<(i32, i32), BookOrder>,
    pub(crate) executions: Vec<ExecRecord>,
    order_log: Vec<OrderLogEntry>,
    order_log_dropped: u64,
    next_order_id: i32,
    next_perm_id: i64,
    next_exec_id: u64,
    next_session_id: u64,
    prices: HashMap<String, f64>,
    rng: StdRng,
    accept_task: Option<AbortHandle>,
    /// Bumped on every refuse/clear so a stale timed restore does nothing.
    refuse_epoch: u64,
    last_fault: Option<Fault>,
}

/// One simulated gateway (one listener, one account).
pub(crate) struct Gateway {
    pub addr: SocketAddr,
    pub account: String,
    pub options: Arc<SimOptions>,
    conditions: watch::Sender<Conditions>,
    inner: Mutex<Inner>,
    /// Live market-data subscriptions over all sessions.
    subscriptions: AtomicI64,
    /// reqMktData requests received, ever.
    market_data_requests: AtomicU64,
    pub shutdown: CancellationToken,
}

impl Gateway {
    /// Bind `addr` and start accepting.
    pub async fn start(
        addr: SocketAddr,
        account: String,
        options: Arc<SimOptions>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Arc<Gateway>> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (conditions, _) = watch::channel(Conditions::default());
        let seed = options.seed.unwrap_or_else(rand::random) ^ u64::from(addr.port());
        let gateway = Arc::new(Gateway {
            addr,
            account,
            conditions,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                held_client_ids: HashMap::new(),
                orders: HashMap::new(),
                executions: Vec::new(),
                order_log: Vec::new(),
                order_log_dropped: 0,
                next_order_id: options.first_order_id,
                next_perm_id: 1_000_000_000 + i64::from(addr.port()) * 1000,
                next_exec_id: 1,
                next_session_id: 1,
                prices: HashMap::new(),
                rng: StdRng::seed_from_u64(seed),
                accept_task: None,
                refuse_epoch: 0,
                last_fault: None,
            }),
            options,
            subscriptions: AtomicI64::new(0),
            market_data_requests: AtomicU64::new(0),
            shutdown,
        });
        gateway.spawn_accept_loop(listener);
        Ok(gateway)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn conditions(&self) -> watch::Receiver<Conditions> {
        self.conditions.subscribe()
    }

    fn spawn_accept_loop(self: &Arc<Self>, listener: TcpListener) {
        let gateway = Arc::clone(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = gateway.shutdown.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            let _ = stream.set_nodelay(true);
                            session::spawn(Arc::clone(&gateway), stream, peer);
                        }
                        Err(e) => {
                            // EMFILE and friends: back off briefly instead of spinning.
                            tracing::warn!(port = gateway.port(), error = %e, "sim accept failed");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
        });
        self.lock().accept_task = Some(task.abort_handle());
    }

    // ---- session registry -------------------------------------------------------------

    pub(crate) fn register_session(&self, peer: SocketAddr, control: mpsc::UnboundedSender<SessionControl>) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_session_id;
        inner.next_session_id += 1;
        inner.sessions.insert(id, SessionEntry { peer, control, client: None });
        id
    }

    /// StartApi: bind `client_id` to the session, or say why not (326).
    pub(crate) fn claim_client_id(&self, session_id: u64, client_id: i32, outbox: Outbox) -> Result<(), ()> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.held_client_ids.retain(|_, until| *until > now);
        let in_use = inner.held_client_ids.contains_key(&client_id)
            || inner.sessions.values().any(|s| matches!(&s.client, Some((id, ..)) if *id == client_id));
        if in_use {
            return Err(());
        }
        if let Some(entry) = inner.sessions.get_mut(&session_id) {
            entry.client = Some((client_id, Utc::now(), outbox));
        }
        Ok(())
    }

    /// A session ended; under `hold_client_id` its id stays in use for a while.
    pub(crate) fn unregister_session(&self, session_id: u64) {
        let hold = self.conditions.borrow().hold_client_id;
        let mut inner = self.lock();
        if let Some(SessionEntry { client: Some((client_id, ..)), .. }) = inner.sessions.remove(&session_id) {
            if let Some(hold) = hold {
                inner.held_client_ids.insert(client_id, Instant::now() + hold);
            }
        }
    }

    /// The outbox of the session that holds `client_id`, if connected.
    pub(crate) fn outbox_of(&self, client_id: i32) -> Option<Outbox> {
        self.lock()
            .sessions
            .values()
            .find_map(|s| s.client.as_ref().filter(|(id, ..)| *id == client_id).map(|(.., o)| o.clone()))
    }

    fn broadcast_control(&self, control: impl Fn() -> SessionControl) {
        for entry in self.lock().sessions.values() {
            let _ = entry.control.send(control());
        }
    }

    fn broadcast_frame(&self, frame: &[u8]) {
        for entry in self.lock().sessions.values() {
            if let Some((.., outbox)) = &entry.client {
                outbox.send(frame.to_vec());
            }
        }
    }

    pub fn clients(&self) -> Vec<ClientInfo> {
        let mut clients: Vec<ClientInfo> = self
            .lock()
            .sessions
            .values()
            .filter_map(|s| {
                s.client.as_ref().map(|(client_id, since, _)| ClientInfo {
                    client_id: *client_id,
                    peer: s.peer,
                    since: *since,
                    port: self.port(),
                })
            })
            .collect();
        clients.sort_by_key(|c| c.client_id);
        clients
    }

    pub(crate) fn count_market_data_request(&self) {
        self.market_data_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// reqMktData requests received since start.
    pub fn market_data_requests(&self) -> u64 {
        self.market_data_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn subscriptions_changed(&self, delta: i64) {
        self.subscriptions.fetch_add(delta, Ordering::Relaxed);
    }

    /// Market-data subscriptions currently streaming.
    pub fn market_data_subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::Relaxed).max(0) as u64
    }

    pub fn open_socket_count(&self) -> usize {
        self.lock().sessions.len()
    }

    // ---- faults -----------------------------------------------------------------------

    /// Apply a fault to this gateway.
    pub fn apply(self: &Arc<Self>, fault: &Fault) {
        tracing::info!(port = self.port(), fault = fault.kind(), "sim fault injected");
        self.lock().last_fault = Some(fault.clone());
        match fault {
            Fault::Drop => self.broadcast_control(|| SessionControl::CloseFin),
            Fault::Reset => self.broadcast_control(|| SessionControl::CloseRst),
            Fault::Hang => self.conditions.send_modify(|c| c.hang = true),
            Fault::StallHandshake => self.conditions.send_modify(|c| c.stall_handshake = true),
            Fault::Latency { latency_ms } => {
                self.conditions.send_modify(|c| c.latency = Duration::from_millis(*latency_ms))
            }
            Fault::HoldClientId { duration_ms } => {
                self.conditions.send_modify(|c| c.hold_client_id = Some(Duration::from_millis(*duration_ms)))
            }
            Fault::UpstreamLost { message } => {
                self.conditions.send_modify(|c| c.upstream_lost = true);
                let text =
                    message.as_deref().unwrap_or("Connectivity between IB and Trader Workstation has been lost.");
                self.broadcast_frame(&notice(1100, text));
            }
            Fault::UpstreamRestored { data_lost } => self.restore_upstream(*data_lost),
            Fault::Refuse { duration_ms } => self.refuse(duration_ms.map(Duration::from_millis)),
            Fault::Clear => self.clear(),
        }
    }

    fn restore_upstream(&self, data_lost: bool) {
        self.conditions.send_modify(|c| c.upstream_lost = false);
        if data_lost {
            // Subscriptions do not survive a data-lost restore: clients must re-request.
            self.broadcast_control(|| SessionControl::MarketDataLost);
            self.broadcast_frame(&notice(
                1101,
                "Connectivity between IB and Trader Workstation has been restored - data lost.",
            ));
        } else {
            self.broadcast_frame(&notice(
                1102,
                "Connectivity between IB and Trader Workstation has been restored - data maintained.",
            ));
        }
    }

    fn refuse(self: &Arc<Self>, duration: Option<Duration>) {
        let epoch = {
            let mut inner = self.lock();
            if let Some(task) = inner.accept_task.take() {
                task.abort();
            }
            inner.refuse_epoch += 1;
            inner.refuse_epoch
        };
        self.conditions.send_modify(|c| c.refusing = true);
        self.broadcast_control(|| SessionControl::CloseFin);
        if let Some(duration) = duration {
            let gateway = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    _ = gateway.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(duration) => {
                        if gateway.lock().refuse_epoch == epoch {
                            gateway.listen_again().await;
                        }
                    }
                }
            });
        }
    }

    fn clear(self: &Arc<Self>) {
        let was = self.conditions.borrow().clone();
        {
            let mut inner = self.lock();
            inner.held_client_ids.clear();
            inner.refuse_epoch += 1;
        }
        self.conditions.send_modify(|c| {
            *c = Conditions { refusing: c.refusing, upstream_lost: c.upstream_lost, ..Conditions::default() }
        });
        if was.upstream_lost {
            self.restore_upstream(false);
        }
        if was.refusing {
            let gateway = Arc::clone(self);
            tokio::spawn(async move { gateway.listen_again().await });
        }
    }

    /// Re-bind the same address after `refuse`; retried briefly if the port is not free yet.
    async fn listen_again(self: &Arc<Self>) {
        for _ in 0..100 {
            if self.shutdown.is_cancelled() {
                return;
            }
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.spawn_accept_loop(listener);
                    self.conditions.send_modify(|c| c.refusing = false);
                    tracing::info!(port = self.port(), "sim listening again");
                    return;
                }
                Err(e) => {
                    tracing::debug!(port = self.port(), error = %e, "sim re-bind failed, retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tracing::error!(port = self.port(), "sim could not listen again after refuse");
    }

    pub fn last_fault(&self) -> Option<Fault> {
        self.lock().last_fault.clone()
    }

    // ---- orders, prices ---------------------------------------------------------------

    pub(crate) fn log_order(&self, entry: OrderLogEntry) {
        let mut inner = self.lock();
        if inner.order_log.len() >= ORDER_LOG_CAP {
            inner.order_log.remove(0);
            inner.order_log_dropped += 1;
        }
        inner.order_log.push(entry);
    }

    /// The order log with each order's current status.
    pub fn order_log(&self) -> (Vec<OrderLogEntry>, u64) {
        let inner = self.lock();
        let log = inner
            .order_log
            .iter()
            .map(|entry| OrderLogEntry {
                status: inner.orders.get(&(entry.client_id, entry.order_id)).map(|o| o.status.as_str()),
                ..entry.clone()
            })
            .collect();
        (log, inner.order_log_dropped)
    }

    /// The next order id a client may use (NextValidId).
    pub(crate) fn next_valid_id(&self) -> i32 {
        self.lock().next_order_id
    }

    pub(crate) fn note_order_id(inner: &mut Inner, order_id: i32) {
        inner.next_order_id = inner.next_order_id.max(order_id.saturating_add(1));
    }

    pub(crate) fn new_perm_id(inner: &mut Inner) -> i64 {
        inner.next_perm_id += 1;
        inner.next_perm_id
    }

    /// Current price of `symbol`, moved one random-walk step (±0.05 %), rounded to the cent.
    pub(crate) fn step_price(&self, symbol: &str) -> f64 {
        let mut inner = self.lock();
        let step: f64 = inner.rng.random_range(-0.0005..=0.0005);
        let start = start_price(symbol);
        let price = inner.prices.entry(symbol.to_owned()).or_insert(start);
        *price = (*price * (1.0 + step)).max(0.01);
        (*price * 100.0).round() / 100.0
    }

    pub(crate) fn random_size(&self) -> u32 {
        self.lock().rng.random_range(1..=20) * 100
    }

    /// Fill an accepted order after the configured delay (and once upstream is up).
    pub(crate) fn schedule_fill(self: &Arc<Self>, client_id: i32, order_id: i32) {
        let gateway = Arc::clone(self);
        let mut conditions = self.conditions();
        let delay = self.options.fill_delay;
        tokio::spawn(async move {
            tokio::select! {
                _ = gateway.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            tokio::select! {
                _ = gateway.shutdown.cancelled() => return,
                _ = conditions.wait_for(|c| !c.upstream_lost) => {}
            }
            gateway.fill(client_id, order_id);
        });
    }

    fn fill(&self, client_id: i32, order_id: i32) {
        let symbol = {
            let inner = self.lock();
            match inner.orders.get(&(client_id, order_id)) {
                Some(o) if o.status == OrderStatusKind::Submitted => o.contract.symbol.clone().unwrap_or_default(),
                _ => return, // cancelled or modified into something else meanwhile
            }
        };
        let market = self.step_price(&symbol);
        let frames = {
            let mut inner = self.lock();
            let exec_seq = inner.next_exec_id;
            inner.next_exec_id += 1;
            let Some(order) = inner.orders.get_mut(&(client_id, order_id)) else { return };
            let price = match order.order.order_type.as_deref() {
                Some("LMT") => order.order.lmt_price.unwrap_or(market),
                _ => market,
            };
            order.status = OrderStatusKind::Filled;
            order.filled = order.quantity;
            order.avg_fill_price = price;
            let order = order.clone();
            let exec_id = format!("0000e0d5.{:08x}.01.01", exec_seq);
            let side = match order.order.action.as_deref() {
                Some("BUY") => "BOT",
                _ => "SLD",
            };
            let qty = format_qty(order.quantity);
            let execution = proto::Execution {
                order_id: Some(order_id),
                exec_id: Some(exec_id.clone()),
                time: Some(Utc::now().format("%Y%m%d %H:%M:%S UTC").to_string()),
                acct_number: Some(order.order.account.clone().unwrap_or_else(|| self.account.clone())),
                exchange: Some("ISLAND".into()),
                side: Some(side.into()),
                shares: Some(qty.clone()),
                price: Some(price),
                perm_id: Some(order.perm_id),
                client_id: Some(client_id),
                cum_qty: Some(qty),
                avg_price: Some(price),
                order_ref: order.order.order_ref.clone(),
            };
            let commission = (order.quantity * 0.005).max(1.0);
            inner.executions.push(ExecRecord {
                client_id,
                contract: order.contract.clone(),
                execution: execution.clone(),
                commission,
            });
            vec![
                encode_proto(
                    incoming::EXECUTION_DATA,
                    &proto::ExecutionDetails {
                        req_id: Some(-1),
                        contract: Some(order.contract.clone()),
                        execution: Some(execution),
                    },
                ),
                open_order_frame(&order, self),
                order_status_frame(&order),
                encode_proto(incoming::COMMISSION_REPORT, &commission_report(&exec_id, commission)),
            ]
        };
        tracing::debug!(port = self.port(), client_id, order_id, "sim order filled");
        if let Some(outbox) = self.outbox_of(client_id) {
            for frame in frames {
                outbox.send(frame);
            }
        }
    }

    pub fn publish_conditions(&self) -> Conditions {
        self.conditions.borrow().clone()
    }
}

/// A start price derived from the symbol so every run quotes the same neighbourhood.
fn start_price(symbol: &str) -> f64 {
    let h = symbol.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    50.0 + f64::from(h % 45_000) / 100.0
}

/// A decimal quantity as TWS sends it: no trailing `.0` for whole numbers.
pub(crate) fn format_qty(q: f64) -> String {
    if q.fract() == 0.0 && q.abs() < 1e15 {
        format!("{}", q as i64)
    } else {
        q.to_string()
    }
}

/// A request-less notice (id −1), as TWS sends for farm and connectivity messages.
pub(crate) fn notice(code: i32, message: &str) -> Vec<u8> {
    error_frame(-1, code, message)
}

pub(crate) fn error_frame(id: i32, code: i32, message: &str) -> Vec<u8> {
    encode_proto(
        incoming::ERROR,
        &proto::ErrorMessage {
            id: Some(id),
            error_time: Some(Utc::now().timestamp_millis()),
            error_code: Some(code),
            error_msg: Some(message.to_owned()),
            advanced_order_reject_json: None,
        },
    )
}

pub(crate) fn commission_report(exec_id: &str, commission: f64) -> proto::CommissionAndFeesReport {
    proto::CommissionAndFeesReport {
        exec_id: Some(exec_id.to_owned()),
        commission_and_fees: Some(commission),
        currency: Some("USD".into()),
        realized_pnl: Some(f64::MAX),
    }
}

/// OpenOrder echoing the request's contract and order, stamped with the owner's client id.
pub(crate) fn open_order_frame(order: &BookOrder, gateway: &Gateway) -> Vec<u8> {
    let mut echoed = order.order.clone();
    echoed.client_id = Some(order.client_id);
    echoed.order_id = Some(order.order_id);
    echoed.perm_id = Some(order.perm_id);
    echoed.account.get_or_insert_with(|| gateway.account.clone());
    encode_proto(
        incoming::OPEN_ORDER,
        &proto::OpenOrder {
            order_id: Some(order.order_id),
            contract: Some(order.contract.clone()),
            order: Some(echoed),
            order_state: Some(proto::OrderState {
                status: Some(order.status.as_str().into()),
                commission_and_fees: None,
                commission_and_fees_currency: None,
                reject_reason: None,
                warning_text: None,
            }),
        },
    )
}

pub(crate) fn order_status_frame(order: &BookOrder) -> Vec<u8> {
    let filled = order.filled > 0.0;
    encode_proto(
        incoming::ORDER_STATUS,
        &proto::OrderStatus {
            order_id: Some(order.order_id),
            status: Some(order.status.as_str().into()),
            filled: Some(format_qty(order.filled)),
            remaining: Some(format_qty(order.quantity - order.filled)),
            avg_fill_price: Some(if filled { order.avg_fill_price } else { 0.0 }),
            perm_id: Some(order.perm_id),
            parent_id: Some(order.order.parent_id.unwrap_or(0)),
            last_fill_price: Some(if filled { order.avg_fill_price } else { 0.0 }),
            client_id: Some(order.client_id),
            why_held: None,
            mkt_cap_price: None,
        },
    )
}

impl BookOrder {
    pub(crate) fn is_open(&self) -> bool {
        self.status.is_open()
    }
}
