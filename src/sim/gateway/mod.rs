//! One simulated gateway: a listener for one account, its connected clients, the fault
//! conditions its sessions obey (`faults`), its market (`market` module: instruments, prices,
//! orders, executions, the account's portfolio) and the clock that moves it (`clock`), and the
//! log of orders received (`order_log`).
//!
//! Lock discipline: `inner` is a std `Mutex` held only for short, non-async sections (never
//! across `.await`). Conditions that sessions wait on (hang, stall, latency, upstream) live in
//! a `watch` channel so a session can sleep until they change.

mod clock;
mod faults;
mod order_log;
mod portfolio;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use clock::Watching;
pub use order_log::OrderLogEntry;
pub use portfolio::{PortfolioState, PositionState, PriceError};

use super::fault::Fault;
use super::market::{Market, MarketOptions};
use super::msg::Reply;
use super::outbox::Outbox;
use super::session::{self, SessionControl};
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
    /// Data farms whose connection is broken (a market-data one stops ticks).
    pub farms_broken: BTreeSet<String>,
    /// A competing live session: 10197, no market data.
    pub competing_session: bool,
}

impl Conditions {
    /// Whether market data stops: a broken market-data farm or a competing live session.
    pub fn market_data_halted(&self) -> bool {
        self.competing_session || super::farms::market_data_broken(&self.farms_broken)
    }
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

/// A connected client as shown by `GET /sim/state`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client_id: i32,
    pub peer: SocketAddr,
    pub since: DateTime<Utc>,
    pub port: u16,
    /// The negotiated server version.
    pub server_version: i32,
    /// The most messages this client sent in one second (IB's limit is 50: above it, 100).
    pub max_messages_per_second: u32,
}

/// Control messages a session accepts; a full queue means it is already busy closing.
pub(crate) const CONTROL_QUEUE: usize = 16;

/// A live socket, registered from accept until close.
pub(crate) struct SessionEntry {
    pub peer: SocketAddr,
    pub control: mpsc::Sender<SessionControl>,
    /// Set once StartApi was accepted.
    pub client: Option<(i32, DateTime<Utc>, Outbox)>,
    /// The most messages the client sent in one second.
    pub max_messages_per_second: u32,
}

pub(crate) struct Inner {
    sessions: HashMap<u64, SessionEntry>,
    held_client_ids: HashMap<i32, Instant>,
    next_session_id: u64,
    accept_task: Option<AbortHandle>,
    /// Bumped on every refuse/clear so a stale timed restore does nothing.
    refuse_epoch: u64,
    last_fault: Option<Fault>,
    order_log: order_log::OrderLog,
    /// NextValidId: above every order id a client used.
    next_order_id: i32,
}

/// One simulated gateway (one listener, one account).
pub(crate) struct Gateway {
    pub addr: SocketAddr,
    pub account: String,
    pub options: Arc<SimOptions>,
    conditions: watch::Sender<Conditions>,
    inner: Mutex<Inner>,
    /// Held for short, non-async sections only, like `inner`; never both at once.
    market: Mutex<Market>,
    /// The gateway's zone (the handshake's), for times on the wire and "today".
    pub tz: chrono_tz::Tz,
    /// Bumped after every clock round (prices moved); streaming subscriptions wait on it.
    round: watch::Sender<u64>,
    /// Bumped after a fill; account subscriptions wait on it.
    portfolio: watch::Sender<u64>,
    interest: clock::Interest,
    /// Live market-data subscriptions over all sessions.
    subscriptions: AtomicI64,
    /// reqMktData requests received, ever.
    market_data_requests: AtomicU64,
    /// TCP connections accepted, ever (whatever became of them).
    connections_accepted: AtomicU64,
    /// Milliseconds added to the wall clock for every market time (`Simulator::advance_clock`).
    clock_offset_ms: AtomicI64,
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
        let tz = zone(&options.time_zone);
        let mut market = Market::new(
            seed,
            MarketOptions {
                fill_delay: options.fill_delay,
                display_size: options.display_size,
                starting_cash: options.starting_cash,
                time_zone: tz,
                master_client_id: options.master_client_id,
            },
        );
        market.open_account(&account, Utc::now());
        let gateway = Arc::new(Gateway {
            addr,
            account,
            conditions,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                held_client_ids: HashMap::new(),
                next_session_id: 1,
                accept_task: None,
                refuse_epoch: 0,
                last_fault: None,
                order_log: order_log::OrderLog::default(),
                next_order_id: options.first_order_id,
            }),
            market: Mutex::new(market),
            tz,
            round: watch::channel(0).0,
            portfolio: watch::channel(0).0,
            interest: clock::Interest::default(),
            options,
            subscriptions: AtomicI64::new(0),
            market_data_requests: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            clock_offset_ms: AtomicI64::new(0),
            shutdown,
        });
        gateway.spawn_accept_loop(listener);
        gateway.spawn_clock();
        Ok(gateway)
    }

    /// The gateway's time: the wall clock plus what [`Gateway::advance_clock`] added. Fills,
    /// executions, completed orders, "today" and reqCurrentTime all read it.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Move the gateway's time forward (e.g. past midnight, to stage an outage that spans it).
    pub(crate) fn advance_clock(&self, by: Duration) {
        self.clock_offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// The market; held only for short, non-async sections.
    pub(crate) fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Announces every clock round.
    pub(crate) fn rounds(&self) -> watch::Receiver<u64> {
        self.round.subscribe()
    }

    /// Announces every fill.
    pub(crate) fn portfolio_changes(&self) -> watch::Receiver<u64> {
        self.portfolio.subscribe()
    }

    /// The next order id a client may use (NextValidId).
    pub(crate) fn next_valid_id(&self) -> i32 {
        self.lock().next_order_id
    }

    /// A client used `order_id`: NextValidId moves past it.
    pub(crate) fn note_order_id(&self, order_id: i32) {
        let mut inner = self.lock();
        inner.next_order_id = inner.next_order_id.max(order_id.saturating_add(1));
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

    pub fn publish_conditions(&self) -> Conditions {
        self.conditions.borrow().clone()
    }

    fn spawn_accept_loop(self: &Arc<Self>, listener: TcpListener) {
        let gateway = Arc::clone(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = gateway.shutdown.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            gateway.connections_accepted.fetch_add(1, Ordering::Relaxed);
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

    pub(crate) fn register_session(&self, peer: SocketAddr, control: mpsc::Sender<SessionControl>) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_session_id;
        inner.next_session_id += 1;
        inner.sessions.insert(id, SessionEntry { peer, control, client: None, max_messages_per_second: 0 });
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

    /// Every connected client's outbox, with its client id.
    pub(crate) fn outboxes(&self) -> Vec<(i32, Outbox)> {
        self.lock().sessions.values().filter_map(|s| s.client.as_ref().map(|(id, _, o)| (*id, o.clone()))).collect()
    }

    fn broadcast_control(&self, control: impl Fn() -> SessionControl) {
        for entry in self.lock().sessions.values() {
            // Full: the session is already handling a close; nothing is lost.
            let _ = entry.control.try_send(control());
        }
    }

    /// The most messages session `session_id` sent in one second so far.
    pub(crate) fn record_message_rate(&self, session_id: u64, max_per_second: u32) {
        if let Some(entry) = self.lock().sessions.get_mut(&session_id) {
            entry.max_messages_per_second = max_per_second;
        }
    }

    /// `reply` to every connected client, each encoded for its own version.
    pub(crate) fn broadcast(&self, reply: &Reply) {
        for (_, outbox) in self.outboxes() {
            outbox.send(reply);
        }
    }

    pub fn clients(&self) -> Vec<ClientInfo> {
        let mut clients: Vec<ClientInfo> = self
            .lock()
            .sessions
            .values()
            .filter_map(|s| {
                s.client.as_ref().map(|(client_id, since, outbox)| ClientInfo {
                    client_id: *client_id,
                    peer: s.peer,
                    since: *since,
                    port: self.port(),
                    server_version: outbox.version().unwrap_or(0),
                    max_messages_per_second: s.max_messages_per_second,
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

    /// TCP connections accepted since start, including those refused later (a client id in
    /// use, a stalled handshake): every session a client tried to open.
    pub fn connections_accepted(&self) -> u64 {
        self.connections_accepted.load(Ordering::Relaxed)
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

    pub fn last_fault(&self) -> Option<Fault> {
        self.lock().last_fault.clone()
    }
}

/// The zone named in the handshake (`UTC`, `EST`, an IANA name), for the market's "today".
fn zone(name: &str) -> chrono_tz::Tz {
    match name {
        "EST" | "EDT" | "US/Eastern" => chrono_tz::America::New_York,
        "CST" | "CDT" | "US/Central" => chrono_tz::America::Chicago,
        "PST" | "PDT" | "US/Pacific" => chrono_tz::America::Los_Angeles,
        other => other.parse().unwrap_or(chrono_tz::UTC),
    }
}

/// A request-less notice (id −1), as TWS sends for farm and connectivity messages.
pub(crate) fn notice(code: i32, message: &str) -> Reply {
    Reply::error(-1, code, message)
}
