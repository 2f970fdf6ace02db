//! `GuardActor`: the only way engine orders reach a gateway. It lets an order through only
//! while that account's connection is usable (connected, not degraded, not in a reset window,
//! not paused, no meltdown) and answers every refused order at once with the reason; nothing
//! is dropped silently and nothing is queued to fire after a reconnect.
//!
//! The guard decides from the last *published* state (status events), with no I/O on its
//! path; the GatewayActor checks its own state again before placing, so an order racing a
//! disconnect is still refused by the owner of the fact.
//!
//! Ticks do not pass through the guard's mailbox, so a tick flood cannot starve orders: they
//! go through a bounded queue drained by a pump task that applies the same gate. Beyond the
//! queue's bound ticks are shed and counted; memory stays bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ibapi::contracts::Contract;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::engine::{OrderEvent, OrderRequest, Refusal, Tick, TickReceiver, TickSink};
use crate::gateway::GatewayMessage;
use crate::status::{ConnectionState, EventKind, EventPort, StatusBoard, StatusEvent};

/// Ticks waiting for the pump, at most; beyond it they are shed.
pub const TICK_QUEUE: usize = 4096;
/// At most one "ticks skipped" warning per account per this interval.
const SKIP_WARN_EVERY: Duration = Duration::from_secs(5);

/// What the guard knows per account, written only by the GuardActor.
#[derive(Debug, Clone)]
struct Gate {
    state: ConnectionState,
    paused_since: Option<DateTime<Utc>>,
}

/// The gates of every account; shared with the tick pump.
#[derive(Debug, Default)]
pub struct Gates {
    accounts: HashMap<String, Gate>,
    meltdown: Option<DateTime<Utc>>,
}

impl Gates {
    /// Why `account` is closed, or `None` when orders may flow.
    pub fn refusal(&self, account: &str) -> Option<Refusal> {
        let Some(gate) = self.accounts.get(account) else {
            return Some(Refusal::UnknownAccount { account: account.to_owned() });
        };
        if let Some(at) = self.meltdown {
            return Some(Refusal::Meltdown { at });
        }
        if let Some(since) = gate.paused_since {
            return Some(Refusal::PausedByOperator { since });
        }
        Refusal::from_state(&gate.state)
    }

    pub fn paused(&self, account: &str) -> bool {
        self.accounts.get(account).is_some_and(|g| g.paused_since.is_some())
    }
}

pub type SharedGates = Arc<RwLock<Gates>>;

fn read(gates: &SharedGates) -> std::sync::RwLockReadGuard<'_, Gates> {
    gates.read().unwrap_or_else(|p| p.into_inner())
}

/// Counters per account, for `/metrics`, and the account's gate mirrored for the tick pump.
#[derive(Debug, Default)]
pub struct AccountCounters {
    /// True while ticks may pass: written only by the GuardActor (after every change of the
    /// gates), read by the pump with one atomic load instead of a lock per tick.
    pub open: AtomicBool,
    pub orders_passed: AtomicU64,
    pub orders_refused: AtomicU64,
    pub ticks_passed: AtomicU64,
    pub ticks_skipped: AtomicU64,
    pub ticks_shed: AtomicU64,
}

/// All counters; fixed set of accounts.
#[derive(Debug, Default)]
pub struct GuardStats {
    accounts: HashMap<String, AccountCounters>,
}

impl GuardStats {
    pub fn new<'a>(accounts: impl IntoIterator<Item = &'a str>) -> Self {
        Self { accounts: accounts.into_iter().map(|a| (a.to_owned(), AccountCounters::default())).collect() }
    }

    fn bump(&self, account: &str, counter: impl Fn(&AccountCounters) -> &AtomicU64) {
        if let Some(c) = self.accounts.get(account) {
            counter(c).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Mirror every account's gate into its `open` flag.
    fn sync_open(&self, gates: &Gates) {
        for (account, counters) in &self.accounts {
            counters.open.store(gates.refusal(account).is_none(), Ordering::Release);
        }
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Vec<GuardCounts> {
        let mut counts: Vec<GuardCounts> = self
            .accounts
            .iter()
            .map(|(account, c)| GuardCounts {
                account: account.clone(),
                orders_passed: c.orders_passed.load(Ordering::Relaxed),
                orders_refused: c.orders_refused.load(Ordering::Relaxed),
                ticks_passed: c.ticks_passed.load(Ordering::Relaxed),
                ticks_skipped: c.ticks_skipped.load(Ordering::Relaxed),
                ticks_shed: c.ticks_shed.load(Ordering::Relaxed),
            })
            .collect();
        counts.sort_by(|a, b| a.account.cmp(&b.account));
        counts
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardCounts {
    pub account: String,
    pub orders_passed: u64,
    pub orders_refused: u64,
    pub ticks_passed: u64,
    pub ticks_skipped: u64,
    pub ticks_shed: u64,
}

pub enum GuardMessage {
    /// Place an order if the account is usable; else answer `Refused` on its sink at once.
    Order(Box<OrderRequest>),
    /// Keep a market-data subscription for the engine (re-requested after reconnects);
    /// its ticks reach `sink` only while the account is usable.
    Subscribe {
        account: String,
        contract: Box<Contract>,
        sink: TickReceiver,
        reply: RpcReplyPort<Result<u64, Refusal>>,
    },
    /// The operator's switch: a paused account refuses every order ("paused by operator").
    SetPaused { account: String, paused: bool, reply: RpcReplyPort<Result<(), Refusal>> },
    /// A published status event.
    Event(StatusEvent),
}

#[derive(Clone)]
pub struct GuardArgs {
    pub accounts: Vec<String>,
    pub gates: SharedGates,
    pub stats: Arc<GuardStats>,
    pub ticks: TickQueue,
    pub directory: Directory,
    pub board: StatusBoard,
    pub events: EventPort,
    pub clock: SharedClock,
    /// Accounts paused when the process starts (persisted by the operator's switch).
    pub paused: Vec<(String, DateTime<Utc>)>,
}

pub struct GuardActor;

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
                gates.accounts.insert(account.name.clone(), Gate { state: account.state.clone(), paused_since });
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
            GuardMessage::Order(request) => state.order(*request),
            GuardMessage::Subscribe { account, contract, sink, reply } => {
                let _ = reply.send(state.subscribe(account, contract, sink).await);
            }
            GuardMessage::SetPaused { account, paused, reply } => {
                let now = state.args.clock.now();
                let mut gates = state.args.gates.write().unwrap_or_else(|p| p.into_inner());
                let result = match gates.accounts.get_mut(&account) {
                    Some(gate) => {
                        gate.paused_since = paused.then(|| gate.paused_since.unwrap_or(now));
                        tracing::warn!(%account, paused, "trading {} by operator", if paused { "paused" } else { "activated" });
                        Ok(())
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
            GuardMessage::Event(event) => {
                let mut gates = state.args.gates.write().unwrap_or_else(|p| p.into_inner());
                match event.kind {
                    EventKind::StateChanged { to, .. } => {
                        if let Some(gate) = gates.accounts.get_mut(&event.account) {
                            gate.state = to;
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
    fn order(&mut self, request: OrderRequest) {
        let account = request.account.clone();
        let refusal = read(&self.args.gates).refusal(&account);
        let refusal = match refusal {
            Some(refusal) => Some(refusal),
            None => match self.args.directory.gateway(&account) {
                Some(gateway) => match gateway.send_message(GatewayMessage::PlaceOrder(Box::new(request.clone()))) {
                    Ok(()) => None,
                    Err(_) => Some(gateway_restarting(self.args.clock.now())),
                },
                None => Some(gateway_restarting(self.args.clock.now())),
            },
        };
        match refusal {
            None => self.args.stats.bump(&account, |c| &c.orders_passed),
            Some(reason) => {
                self.args.stats.bump(&account, |c| &c.orders_refused);
                tracing::warn!(%account, order_id = ?request.order_id, %reason, "order refused");
                (request.sink)(OrderEvent::Refused { account, order_id: request.order_id, reason });
            }
        }
    }

    async fn subscribe(
        &mut self,
        account: String,
        contract: Box<Contract>,
        sink: TickReceiver,
    ) -> Result<u64, Refusal> {
        if !read(&self.args.gates).accounts.contains_key(&account) {
            return Err(Refusal::UnknownAccount { account });
        }
        let gateway = self.args.directory.gateway(&account).ok_or_else(|| gateway_restarting(self.args.clock.now()))?;
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
        let call = gateway.call(
            |reply| GatewayMessage::SubscribeMarketData { contract, sink: for_gateway, reply },
            Some(Duration::from_secs(2)),
        );
        match call.await {
            Ok(CallResult::Success(id)) => Ok(id),
            _ => Err(gateway_restarting(self.args.clock.now())),
        }
    }
}

fn gateway_restarting(now: DateTime<Utc>) -> Refusal {
    Refusal::Disconnected { since: now, last_error: Some("gateway actor restarting".into()) }
}

/// A tick on its way to the engine.
struct Queued {
    tick: Tick,
    sink: TickReceiver,
    /// For supervisor subscriptions: cleared when the engine's receiver is gone.
    alive: Option<Arc<AtomicBool>>,
}

/// The bounded queue in front of the tick pump.
#[derive(Clone)]
pub struct TickQueue {
    tx: mpsc::Sender<Queued>,
}

impl TickQueue {
    /// Enqueue, or give the tick back when the queue is full (it is shed).
    fn offer(&self, tick: Tick, sink: TickReceiver, alive: Option<Arc<AtomicBool>>) -> Result<(), Tick> {
        self.tx.try_send(Queued { tick, sink, alive }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q.tick,
        })
    }
}

/// Ticks the pump takes off the queue per wake-up.
const PUMP_BATCH: usize = 256;

/// Start the pump that delivers queued ticks through the gate; it lives as long as the queue.
/// Per tick: one hash lookup and one atomic load; no lock, no allocation.
pub fn tick_pump(gates: SharedGates, stats: Arc<GuardStats>) -> TickQueue {
    let (tx, mut rx) = mpsc::channel::<Queued>(TICK_QUEUE);
    tokio::spawn(async move {
        let mut last_warning: HashMap<String, Instant> = HashMap::new();
        let mut batch = Vec::with_capacity(PUMP_BATCH);
        while rx.recv_many(&mut batch, PUMP_BATCH).await > 0 {
            for Queued { tick, sink, alive } in batch.drain(..) {
                let Some(counters) = stats.accounts.get(&tick.account) else { continue };
                if counters.open.load(Ordering::Acquire) {
                    if sink(tick) {
                        counters.ticks_passed.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(alive) = alive {
                        alive.store(false, Ordering::Relaxed);
                    }
                    continue;
                }
                counters.ticks_skipped.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if last_warning.get(&tick.account).is_none_or(|t| now.duration_since(*t) >= SKIP_WARN_EVERY) {
                    last_warning.insert(tick.account.clone(), now);
                    let reason = read(&gates).refusal(&tick.account).map(|r| r.to_string()).unwrap_or_default();
                    tracing::warn!(account = %tick.account, %reason, "ticks skipped while the account is not usable");
                }
            }
            // A flood must not hold the worker: orders and heartbeats run between batches.
            tokio::task::yield_now().await;
        }
    });
    TickQueue { tx }
}

/// The engine's handle on the guard; cheap to clone, survives guard restarts.
#[derive(Clone)]
pub struct Guard {
    directory: Directory,
    gates: SharedGates,
    stats: Arc<GuardStats>,
    ticks: TickQueue,
    clock: SharedClock,
}

impl Guard {
    pub(crate) fn new(
        directory: Directory,
        gates: SharedGates,
        stats: Arc<GuardStats>,
        ticks: TickQueue,
        clock: SharedClock,
    ) -> Self {
        Self { directory, gates, stats, ticks, clock }
    }

    /// Send an order; every outcome arrives on `request.sink`, a refusal at once.
    pub fn place_order(&self, request: OrderRequest) {
        match self.directory.guard() {
            Some(guard) => {
                if let Err(ractor::MessagingErr::SendErr(GuardMessage::Order(request))) =
                    guard.send_message(GuardMessage::Order(Box::new(request)))
                {
                    self.refuse(*request);
                }
            }
            None => self.refuse(request),
        }
    }

    fn refuse(&self, request: OrderRequest) {
        let reason = Refusal::Disconnected { since: self.clock.now(), last_error: Some("guard restarting".into()) };
        self.stats.bump(&request.account, |c| &c.orders_refused);
        (request.sink)(OrderEvent::Refused { account: request.account.clone(), order_id: request.order_id, reason });
    }

    /// Offer a tick from the engine's own feed to `sink`, gated like the supervisor's ticks.
    /// Returns false when it was shed (the queue is full).
    pub fn send_tick(&self, tick: Tick, sink: TickReceiver) -> bool {
        match self.ticks.offer(tick, sink, None) {
            Ok(()) => true,
            Err(shed) => {
                self.stats.bump(&shed.account, |c| &c.ticks_shed);
                false
            }
        }
    }

    /// Subscribe `sink` to market data for `contract` on `account`.
    pub async fn subscribe_market_data(
        &self,
        account: &str,
        contract: Contract,
        sink: TickReceiver,
    ) -> Result<u64, Refusal> {
        let guard = self.directory.guard().ok_or(Refusal::ShuttingDown)?;
        let account = account.to_owned();
        let call = guard.call(
            |reply| GuardMessage::Subscribe { account, contract: Box::new(contract), sink, reply },
            Some(Duration::from_secs(3)),
        );
        match call.await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(Refusal::ShuttingDown),
        }
    }

    /// The operator's switch.
    pub async fn set_paused(&self, account: &str, paused: bool) -> Result<(), Refusal> {
        let guard = self.directory.guard().ok_or(Refusal::ShuttingDown)?;
        let account = account.to_owned();
        let call = guard.call(|reply| GuardMessage::SetPaused { account, paused, reply }, Some(Duration::from_secs(2)));
        match call.await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(Refusal::ShuttingDown),
        }
    }

    /// Why `account` is closed right now, or `None` when open (a cheap read for engines).
    pub fn refusal(&self, account: &str) -> Option<Refusal> {
        read(&self.gates).refusal(account)
    }

    pub fn is_paused(&self, account: &str) -> bool {
        read(&self.gates).paused(account)
    }

    pub fn counts(&self) -> Vec<GuardCounts> {
        self.stats.snapshot()
    }
}
