//! Throughput of the guard's tick path and order latency through the guard under a tick flood,
//! measured against the simulated gateway over real TCP with the real `ibapi` client
//! (`cargo bench --bench guard`).
//!
//! One run measures:
//!
//! 1. Throughput in messages/s, beside a raw ractor baseline measured in the same run:
//!    - raw: a producer task sends N ticks to actor A, which forwards each to actor B with
//!      `send_message`; B counts them. Timed from the first send to B having counted N.
//!    - guard: the same producer and the same A, but A hands each tick to
//!      `Guard::send_tick(tick, sink)` (bounded queue of `TICK_QUEUE` -> pump task -> gate
//!      check -> sink), and the sink forwards into the same counting actor B.
//!      `send_tick` sheds (returns false) when the queue is full, so A respects backpressure
//!      with a credit window: the sink counts the ticks the pump has taken off the queue, and A
//!      never has more than `TICK_QUEUE` ticks between its `send_tick` and the sink; when the
//!      window is exhausted it yields until a credit returns. Nothing can then be shed; the
//!      guard's own counters (`Guard::counts`) are checked to confirm it (shed delta = 0,
//!      passed delta = N). Goal: guard >= 75 % of raw (median of the per-round ratios).
//!    - guard without backpressure (informational): A calls `send_tick` blindly; the shed
//!      ticks are reported and the rate counts only the ticks B received.
//! 2. Order latency through `Guard::place_order` while flood tasks offer ticks for the same
//!    account as fast as they can (yielding every `FLOOD_BATCH` offers, like a cooperative
//!    task must): per order, from the `place_order` call to `OrderEvent::Sent` on its sink (the
//!    order handed to ibapi on the live connection; timestamped inside the sink) and to
//!    `OrderEvent::Open` (the simulator's OpenOrder back over TCP). The same without a flood,
//!    first, as the baseline. Goal: `Sent` p99 <= 1 ms under the flood.
//! 3. The liveness gate (`silent.rs`): with `orders.max_silence` = 5 ms, place_order -> Sent on
//!    a fresh link and after 20 ms of silence (the gateway probes before it writes), side by
//!    side: the difference is one probe round trip.
//!
//! Everything (simulator, supervision tree, bench actors, producer, measuring tasks) runs as
//! tasks of one multi-thread tokio runtime with a worker per core. Besides the rates, each
//! throughput row shows the process CPU time per message, which depends less than the rate on
//! how the scheduler happened to spread the tasks over the workers.
//!
//! Environment: `GUARD_MESSAGES` (default 1 000 000), `GUARD_ROUNDS` (5 rounds of raw, guard
//! and guard without backpressure, interleaved), `GUARD_ORDERS` (1000 per phase),
//! `GUARD_FLOODERS` (2 flood tasks), `RUST_LOG` (default `warn`). The process exits 0 even
//! when a goal is missed: it is a measurement, and the verdicts are printed.

#[path = "guard/silent.rs"]
mod silent;
#[path = "support/mod.rs"]
mod support;

use support::{env_count, median, ms, stats, verdict, Stats, Table};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ibapi::contracts::Contract;
use ibapi::orders::{order_builder, Action};
use ibkr_supervisor::actors::guard::{GuardCounts, TICK_QUEUE};
use ibkr_supervisor::actors::{
    Guard, MarketEvent, OrderEvent, OrderRequest, OrderSink, StartOptions, Supervision, Tick, TickReceiver,
};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};

const ACCOUNT: &str = "Paper";
const OTHER: &str = "Live";
/// Guard throughput must be at least this fraction of the raw ractor forward.
const THROUGHPUT_GOAL: f64 = 0.75;
/// p99 of place_order -> Sent under the flood, milliseconds.
const SENT_P99_GOAL_MS: f64 = 1.0;
/// The producer yields to the scheduler after this many sends (both modes alike).
const PRODUCER_BATCH: u64 = 256;
/// A flood task yields after this many offers (tokio's own cooperative budget is 128).
const FLOOD_BATCH: u64 = 128;
/// Warm-up messages per mode before the measured rounds.
const WARMUP_MESSAGES: u64 = 100_000;
/// Flood before the first order is placed, so the queue is full when measuring starts.
const FLOOD_LEAD: Duration = Duration::from_millis(200);
/// Deadline for one throughput run and for one order event.
const RUN_DEADLINE: Duration = Duration::from_secs(120);
const EVENT_DEADLINE: Duration = Duration::from_secs(5);

fn main() {
    let config = Config {
        messages: env_count("GUARD_MESSAGES", 1_000_000) as u64,
        rounds: env_count("GUARD_ROUNDS", 5),
        orders: env_count("GUARD_ORDERS", 1000),
        flooders: env_count("GUARD_FLOODERS", 2),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    // Everything, the producer and the measuring tasks included, runs on the runtime's workers
    // (block_on alone would run them on the main thread, a third thread on these cores).
    runtime.block_on(async move { tokio::spawn(run(config)).await }).expect("the benchmark task");
}

#[derive(Clone, Copy)]
struct Config {
    messages: u64,
    rounds: usize,
    orders: usize,
    flooders: usize,
}

fn settings_json(sim: &Simulator, database: &std::path::Path) -> String {
    serde_json::json!({
        "accounts": [
            { "name": ACCOUNT, "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1 },
            { "name": OTHER, "paper_trading": false, "host": "127.0.0.1", "port": sim.port(1), "client_id": 2 },
        ],
        "heartbeat": { "interval": "1h", "probe_timeout": "2s", "connect_timeout": "5s" },
        "reconnect": { "auto": true, "schedule": ["50ms"], "jitter": 0.0, "manual_min_interval": "0s" },
        "reset_time": null,
        // Not the default ./ibkr_supervisor.db in the working tree.
        "database": { "path": database },
    })
    .to_string()
}

async fn run(config: Config) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321").options(SimOptions {
        // Orders stay open: no fill traffic during the measurement.
        fill_delay: Duration::from_secs(3600),
        ..SimOptions::default()
    }))
    .await
    .expect("the simulator starts");
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let database = scratch.path().join("guard-bench.db");
    let settings = Settings::from_json_str(&settings_json(&sim, &database)).expect("bench settings are valid");
    print_header(&settings, config);

    let supervision = Supervision::start(settings, StartOptions::default()).await.expect("supervision starts");
    for name in [ACCOUNT, OTHER] {
        let connected = supervision
            .board()
            .wait_for(Duration::from_secs(5), |b| b.account(name).is_some_and(|a| a.connected()))
            .await;
        if connected.is_err() {
            println!("ABORTED: {name} did not connect to the simulator within 5 s");
            supervision.shutdown().await;
            sim.shutdown();
            return;
        }
    }
    let guard = supervision.guard().clone();
    let started = Instant::now();
    let machine_before = machine_cpu();
    let own_before = process_cpu();

    // ---- 1. throughput ----
    eprintln!("  warm-up: {WARMUP_MESSAGES} messages per mode");
    for mode in [Mode::Raw, Mode::Guard, Mode::GuardUnbounded] {
        throughput_run(&guard, mode, WARMUP_MESSAGES.min(config.messages)).await;
    }
    let mut throughput = Throughput::default();
    for round in 0..config.rounds {
        for mode in [Mode::Raw, Mode::Guard, Mode::GuardUnbounded] {
            let result = throughput_run(&guard, mode, config.messages).await;
            eprintln!(
                "  round {}/{} {:<16} {:>12.0} msg/s  ({} delivered, {} shed, {:.3} s)",
                round + 1,
                config.rounds,
                mode.short(),
                result.rate(),
                result.delivered,
                result.shed,
                result.elapsed.as_secs_f64()
            );
            throughput.of(mode).push(result);
        }
    }

    // ---- 2. order latency, without and with the flood ----
    eprintln!("  orders: {} without a flood", config.orders);
    let quiet = order_phase(&guard, config.orders, Gap::Random).await;
    eprintln!("  orders: {} under a flood of {} task(s)", config.orders, config.flooders);
    let flood = flood_phase(&guard, config).await;
    let total = started.elapsed();
    let machine_after = machine_cpu();
    let own = process_cpu().saturating_sub(own_before);
    let machine = Machine {
        busy: Duration::from_millis(machine_after.0.saturating_sub(machine_before.0) * 10),
        steal: Duration::from_millis(machine_after.1.saturating_sub(machine_before.1) * 10),
        own,
    };

    let still_connected = supervision.board().account(ACCOUNT).is_some_and(|a| a.connected());
    supervision.shutdown().await;
    let silent_orders = (config.orders / 5).max(20);
    let silent = silent::run(&sim, &scratch.path().join("guard-bench-silent.db"), silent_orders).await;
    sim.shutdown();

    report(config, &throughput, &quiet, &flood, still_connected, total, &machine);
    report_silent(silent.as_ref());
}

/// CPU time over the measurement: the whole machine's busy time and steal, and this process's.
struct Machine {
    busy: Duration,
    steal: Duration,
    own: Duration,
}

fn print_header(settings: &Settings, config: Config) {
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    let hb = &settings.heartbeat;
    let schedule: Vec<String> = settings.reconnect.schedule.iter().map(|d| fmt(*d)).collect();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("ibkr-supervisor guard benchmark");
    println!("===============================");
    println!(
        "command: cargo bench --bench guard   (GUARD_MESSAGES={} GUARD_ROUNDS={} GUARD_ORDERS={} GUARD_FLOODERS={})",
        config.messages, config.rounds, config.orders, config.flooders
    );
    println!(
        "machine: nproc {nproc}; cpu {}; kernel {}; load average (1/5/15 min) at start {}",
        cpu_model(),
        kernel(),
        loadavg()
    );
    println!(
        "runtime: one tokio multi-thread runtime ({nproc} worker threads) runs the simulator (2 listeners), the \
         supervision tree, the bench actors and the measuring tasks; tracing at {} (RUST_LOG) to stderr",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())
    );
    println!("settings (as parsed by Settings::from_json_str):");
    for account in &settings.accounts {
        println!("  account {:<6} {}:{} client_id {}", account.name, account.host, account.port, account.client_id);
    }
    println!(
        "  heartbeat.interval {} (no probe during the run), probe_timeout {}, connect_timeout {}",
        fmt(hb.interval),
        fmt(hb.probe_timeout),
        fmt(hb.connect_timeout)
    );
    println!("  reconnect.schedule [{}], reset_time null (no reset window)", schedule.join(", "));
    println!("  database.path {} (temporary)", settings.database.path.display());
    for warning in settings.warnings() {
        println!("  settings warning: {warning}");
    }
    println!("  simulator: fill_delay 1h (orders stay open, no fill traffic), no market-data subscriptions");
    println!(
        "guard: TICK_QUEUE {TICK_QUEUE}; producer yields every {PRODUCER_BATCH} sends; flood tasks yield every \
         {FLOOD_BATCH} offers; warm-up {WARMUP_MESSAGES} messages per mode (not reported)"
    );
    println!("running…");
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().into())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "?".into())
}

// ---- 1. throughput: actors A and B ----------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A -> B with ractor's send_message.
    Raw,
    /// A -> Guard::send_tick (credit window, no shedding) -> pump -> sink -> B.
    Guard,
    /// A -> Guard::send_tick blindly (sheds when the queue is full) -> pump -> sink -> B.
    GuardUnbounded,
}

impl Mode {
    fn short(self) -> &'static str {
        match self {
            Mode::Raw => "raw",
            Mode::Guard => "guard",
            Mode::GuardUnbounded => "guard (no bp)",
        }
    }
}

fn tick(i: u64) -> Tick {
    Tick {
        account: ACCOUNT.to_owned(),
        event: MarketEvent::Price {
            subscription: 1,
            tick_type: "last".to_owned(),
            price: 100.0 + (i % 100) as f64 * 0.01,
            size: Some(100.0),
        },
    }
}

enum BMsg {
    Tick(Tick),
    /// The number of ticks that will arrive in all (A sends it when some were shed).
    Expect(u64),
}

/// Actor B: counts ticks; reports the instant it has counted its target.
struct Counter;

struct CounterState {
    count: u64,
    target: u64,
    done: Option<oneshot::Sender<(Instant, u64)>>,
}

impl Actor for Counter {
    type Msg = BMsg;
    type State = CounterState;
    type Arguments = (u64, oneshot::Sender<(Instant, u64)>);

    async fn pre_start(
        &self,
        _: ActorRef<BMsg>,
        (target, done): (u64, oneshot::Sender<(Instant, u64)>),
    ) -> Result<CounterState, ActorProcessingErr> {
        Ok(CounterState { count: 0, target, done: Some(done) })
    }

    async fn handle(
        &self,
        _: ActorRef<BMsg>,
        message: BMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BMsg::Tick(tick) => {
                std::hint::black_box(&tick);
                state.count += 1;
            }
            BMsg::Expect(target) => state.target = target,
        }
        if state.count >= state.target {
            if let Some(done) = state.done.take() {
                let _ = done.send((Instant::now(), state.count));
            }
        }
        Ok(())
    }
}

/// A's credit window in front of the guard's queue: at most `TICK_QUEUE` ticks between A's
/// `send_tick` and the pump taking them off the queue (the sink counts those it is handed).
struct Window {
    taken: Arc<AtomicU64>,
    sent: u64,
    seen: u64,
    /// Times A found the window exhausted and yielded.
    stalls: u64,
}

impl Window {
    async fn acquire(&mut self) {
        let cap = TICK_QUEUE as u64;
        if self.sent - self.seen < cap {
            return;
        }
        self.seen = self.taken.load(Ordering::Acquire);
        while self.sent - self.seen >= cap {
            self.stalls += 1;
            tokio::task::yield_now().await;
            self.seen = self.taken.load(Ordering::Acquire);
        }
    }
}

enum Route {
    Raw,
    Guard { guard: Guard, sink: TickReceiver, window: Option<Window> },
}

struct ForwarderArgs {
    b: ActorRef<BMsg>,
    route: Route,
    expected: u64,
    done: Option<oneshot::Sender<ForwardReport>>,
}

struct ForwardReport {
    shed: u64,
    stalls: u64,
}

/// Actor A: receives the producer's ticks and forwards each, raw or through the guard.
struct Forwarder;

struct ForwarderState {
    args: ForwarderArgs,
    received: u64,
    shed: u64,
}

impl Actor for Forwarder {
    type Msg = Tick;
    type State = ForwarderState;
    type Arguments = ForwarderArgs;

    async fn pre_start(&self, _: ActorRef<Tick>, args: ForwarderArgs) -> Result<ForwarderState, ActorProcessingErr> {
        Ok(ForwarderState { args, received: 0, shed: 0 })
    }

    async fn handle(
        &self,
        _: ActorRef<Tick>,
        tick: Tick,
        state: &mut ForwarderState,
    ) -> Result<(), ActorProcessingErr> {
        match &mut state.args.route {
            Route::Raw => {
                let _ = state.args.b.send_message(BMsg::Tick(tick));
            }
            Route::Guard { guard, sink, window } => {
                if let Some(window) = window {
                    window.acquire().await;
                    window.sent += 1;
                }
                if !guard.send_tick(tick, Arc::clone(sink)) {
                    state.shed += 1;
                }
            }
        }
        state.received += 1;
        if state.received == state.args.expected {
            if state.shed > 0 {
                let _ = state.args.b.send_message(BMsg::Expect(state.args.expected - state.shed));
            }
            let stalls = match &state.args.route {
                Route::Guard { window: Some(w), .. } => w.stalls,
                _ => 0,
            };
            if let Some(done) = state.args.done.take() {
                let _ = done.send(ForwardReport { shed: state.shed, stalls });
            }
        }
        Ok(())
    }
}

#[derive(Default, Clone)]
struct RunResult {
    messages: u64,
    delivered: u64,
    /// Shed as A saw it (send_tick returned false).
    shed: u64,
    /// The guard's own counters for the account over the run.
    guard_passed: u64,
    guard_shed: u64,
    guard_skipped: u64,
    stalls: u64,
    elapsed: Duration,
    /// Process CPU time (user + system, all threads) over the run.
    cpu: Duration,
    timed_out: bool,
}

impl RunResult {
    /// Delivered messages per second.
    fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Process CPU nanoseconds per offered message.
    fn cpu_ns(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e9 / self.messages.max(1) as f64
    }
}

/// CPU time of this process (all threads, user + system) from /proc/self/stat, in USER_HZ ticks
/// (10 ms); zero where unavailable.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// (busy, steal) jiffies of the whole machine from /proc/stat.
fn machine_cpu() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return (0, 0) };
    let Some(line) = stat.lines().next() else { return (0, 0) };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum();
    (busy, v.get(7).copied().unwrap_or(0))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn paper_counts(guard: &Guard) -> GuardCounts {
    guard.counts().into_iter().find(|c| c.account == ACCOUNT).expect("the account has guard counters")
}

async fn throughput_run(guard: &Guard, mode: Mode, n: u64) -> RunResult {
    let (b_done_tx, b_done_rx) = oneshot::channel();
    let (b, b_handle) = Actor::spawn(None, Counter, (n, b_done_tx)).await.expect("B starts");
    let taken = Arc::new(AtomicU64::new(0));
    let route = match mode {
        Mode::Raw => Route::Raw,
        Mode::Guard | Mode::GuardUnbounded => {
            let sink: TickReceiver = {
                let (b, taken) = (b.clone(), Arc::clone(&taken));
                Arc::new(move |tick| {
                    taken.fetch_add(1, Ordering::Release);
                    b.send_message(BMsg::Tick(tick)).is_ok()
                })
            };
            let window =
                (mode == Mode::Guard).then(|| Window { taken: Arc::clone(&taken), sent: 0, seen: 0, stalls: 0 });
            Route::Guard { guard: guard.clone(), sink, window }
        }
    };
    let (a_done_tx, a_done_rx) = oneshot::channel();
    let args = ForwarderArgs { b: b.clone(), route, expected: n, done: Some(a_done_tx) };
    let (a, a_handle) = Actor::spawn(None, Forwarder, args).await.expect("A starts");

    let before = paper_counts(guard);
    let cpu_before = process_cpu();
    let start = Instant::now();
    for i in 0..n {
        a.send_message(tick(i)).expect("A is alive");
        if (i + 1) % PRODUCER_BATCH == 0 {
            tokio::task::yield_now().await;
        }
    }
    let finished = tokio::time::timeout(RUN_DEADLINE, b_done_rx).await;
    let end = Instant::now();
    let cpu_after = process_cpu();
    let report = tokio::time::timeout(Duration::from_secs(5), a_done_rx).await.ok().and_then(|r| r.ok());
    let cpu = cpu_after.saturating_sub(cpu_before);
    let mut result = RunResult { messages: n, cpu, ..RunResult::default() };
    match finished {
        Ok(Ok((at, count))) => {
            result.elapsed = at - start;
            result.delivered = count;
        }
        _ => {
            result.elapsed = end - start;
            result.timed_out = true;
        }
    }
    if let Some(report) = report {
        result.shed = report.shed;
        result.stalls = report.stalls;
    }
    // The pump bumps ticks_passed just after the sink returns: let it catch up.
    if mode != Mode::Raw {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let now = paper_counts(guard);
            let accounted = (now.ticks_passed - before.ticks_passed) + (now.ticks_shed - before.ticks_shed);
            if accounted >= n || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let after = paper_counts(guard);
    result.guard_passed = after.ticks_passed - before.ticks_passed;
    result.guard_shed = after.ticks_shed - before.ticks_shed;
    result.guard_skipped = after.ticks_skipped - before.ticks_skipped;
    a.stop(None);
    b.stop(None);
    let _ = a_handle.await;
    let _ = b_handle.await;
    result
}

#[derive(Default)]
struct Throughput {
    raw: Vec<RunResult>,
    guard: Vec<RunResult>,
    unbounded: Vec<RunResult>,
}

impl Throughput {
    fn of(&mut self, mode: Mode) -> &mut Vec<RunResult> {
        match mode {
            Mode::Raw => &mut self.raw,
            Mode::Guard => &mut self.guard,
            Mode::GuardUnbounded => &mut self.unbounded,
        }
    }
}

// ---- 2. order latency -----------------------------------------------------------------------

#[derive(Default)]
struct OrderPhase {
    /// place_order -> Sent, timestamped inside the sink (the goal's figure).
    sent: Vec<Duration>,
    /// place_order -> the measuring task receiving Sent from the sink's channel.
    sent_seen: Vec<Duration>,
    /// place_order -> Open, timestamped inside the sink.
    open: Vec<Duration>,
    refused: Vec<String>,
    failed: Vec<String>,
    /// Orders with no Sent or no Open within the deadline.
    missing: usize,
    elapsed: Duration,
}

fn order_request(sink: OrderSink) -> OrderRequest {
    OrderRequest {
        account: ACCOUNT.into(),
        order_id: None,
        contract: Contract::stock("AAPL").build(),
        order: order_builder::limit_order(Action::Buy, 1.0, 100.0),
        sink,
    }
}

/// The pause before each order of a phase.
#[derive(Clone, Copy)]
enum Gap {
    /// 0-1 ms at random: the next order lands at a random phase of the scheduler's work.
    Random,
    /// Exactly this long (longer than `orders.max_silence`: the link has gone quiet).
    Fixed(Duration),
}

async fn order_phase(guard: &Guard, orders: usize, gap: Gap) -> OrderPhase {
    let mut out = OrderPhase::default();
    let started = Instant::now();
    for _ in 0..orders {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, OrderEvent)>();
        let request = order_request(Arc::new(move |event| tx.send((Instant::now(), event)).is_ok()));
        let placed = Instant::now();
        guard.place_order(request);
        let mut got_sent = false;
        loop {
            match tokio::time::timeout(EVENT_DEADLINE, rx.recv()).await {
                Ok(Some((at, OrderEvent::Sent { .. }))) => {
                    out.sent.push(at - placed);
                    out.sent_seen.push(placed.elapsed());
                    got_sent = true;
                }
                Ok(Some((at, OrderEvent::Open { .. }))) => {
                    out.open.push(at - placed);
                    if !got_sent {
                        out.missing += 1;
                    }
                    break;
                }
                Ok(Some((_, OrderEvent::Refused { reason, .. }))) => {
                    out.refused.push(reason.to_string());
                    break;
                }
                Ok(Some((_, OrderEvent::Failed { error, .. }))) => {
                    out.failed.push(error);
                    break;
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => {
                    out.missing += 1;
                    break;
                }
            }
        }
        let pause = match gap {
            // Land the next order at a random phase of the scheduler's (and the flood's) work.
            Gap::Random => Duration::from_micros(rand::random_range(0..1000)),
            Gap::Fixed(pause) => pause,
        };
        tokio::time::sleep(pause).await;
    }
    out.elapsed = started.elapsed();
    out
}

struct FloodPhase {
    orders: OrderPhase,
    flooders: usize,
    /// Offers made by the flood tasks, and how many send_tick accepted into the queue.
    offered: u64,
    accepted: u64,
    /// The guard's counters over the flood (lead-in + orders).
    passed: u64,
    shed: u64,
    skipped: u64,
    /// Ticks the flood's sink received.
    delivered: u64,
    /// Ticks shed before the first order was placed (the queue was saturated).
    shed_at_first_order: u64,
    duration: Duration,
}

async fn flood_phase(guard: &Guard, config: Config) -> FloodPhase {
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let sink: TickReceiver = {
        let delivered = Arc::clone(&delivered);
        Arc::new(move |tick| {
            std::hint::black_box(&tick);
            delivered.fetch_add(1, Ordering::Relaxed);
            true
        })
    };
    let before = paper_counts(guard);
    let started = Instant::now();
    let flooders: Vec<_> = (0..config.flooders)
        .map(|_| {
            let (guard, sink, stop) = (guard.clone(), Arc::clone(&sink), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut offered, mut accepted) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..FLOOD_BATCH {
                        if guard.send_tick(tick(offered), Arc::clone(&sink)) {
                            accepted += 1;
                        }
                        offered += 1;
                    }
                    tokio::task::yield_now().await;
                }
                (offered, accepted)
            })
        })
        .collect();
    tokio::time::sleep(FLOOD_LEAD).await;
    let shed_at_first_order = paper_counts(guard).ticks_shed - before.ticks_shed;
    let orders = order_phase(guard, config.orders, Gap::Random).await;
    stop.store(true, Ordering::Relaxed);
    let (mut offered, mut accepted) = (0, 0);
    for flooder in flooders {
        let (o, a) = flooder.await.expect("a flood task");
        offered += o;
        accepted += a;
    }
    let duration = started.elapsed();
    // Let the pump drain what is queued.
    let deadline = Instant::now() + Duration::from_secs(2);
    while paper_counts(guard).ticks_passed - before.ticks_passed < accepted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = paper_counts(guard);
    FloodPhase {
        orders,
        flooders: config.flooders,
        offered,
        accepted,
        passed: after.ticks_passed - before.ticks_passed,
        shed: after.ticks_shed - before.ticks_shed,
        skipped: after.ticks_skipped - before.ticks_skipped,
        delivered: delivered.load(Ordering::Relaxed),
        shed_at_first_order,
        duration,
    }
}

// ---- statistics and the report ------------------------------------------------------------

/// Milliseconds with three decimals.
const TABLE: Table = Table { label: 48, n: 5, bound: 14, decimals: 3 };

fn latency_row(label: &str, s: &Option<Stats>, bound: Option<f64>, bound_text: &str) {
    TABLE.row(label, s, bound, bound_text)
}

fn mps(rate: f64) -> String {
    format!("{:.3} M", rate / 1e6)
}

/// Prints the row; returns the median rate and the median CPU ns per message.
fn throughput_row(label: &str, runs: &[RunResult]) -> (f64, f64) {
    let mut rates: Vec<f64> = runs.iter().map(RunResult::rate).collect();
    let med = median(&mut rates);
    let (min, max) = (rates.first().copied().unwrap_or(0.0), rates.last().copied().unwrap_or(0.0));
    let delivered: u64 = runs.iter().map(|r| r.delivered).sum();
    let messages: u64 = runs.iter().map(|r| r.messages).sum();
    let shed: u64 = runs.iter().map(|r| r.shed).sum();
    let guard_shed: u64 = runs.iter().map(|r| r.guard_shed).sum();
    let guard_passed: u64 = runs.iter().map(|r| r.guard_passed).sum();
    let stalls: u64 = runs.iter().map(|r| r.stalls).sum();
    let each: Vec<String> = runs.iter().map(|r| format!("{:.2}", r.rate() / 1e6)).collect();
    let mut cpu: Vec<f64> = runs.iter().map(RunResult::cpu_ns).collect();
    let cpu = median(&mut cpu);
    println!(
        "{label:<48} {:>10} {:>10} {:>10} {cpu:>8.0}  {delivered:>9}/{messages:<9} {:>13}",
        mps(med),
        mps(min),
        mps(max),
        if label.starts_with("raw") { "-".into() } else { format!("{shed}/{guard_shed}") },
    );
    if !label.starts_with("raw") {
        println!(
            "{:<48} guard counters: passed {guard_passed}, shed {guard_shed}; window stalls (A yielded) {stalls}; \
             each run (M/s, in order) {}",
            "",
            each.join(", ")
        );
    } else {
        println!("{:<48} each run (M/s, in order) {}", "", each.join(", "));
    }
    (med, cpu)
}

fn report(
    config: Config,
    throughput: &Throughput,
    quiet: &OrderPhase,
    flood: &FloodPhase,
    still_connected: bool,
    total: Duration,
    machine: &Machine,
) {
    let mut verdicts: Vec<(String, bool, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    println!();
    println!(
        "1. Throughput, delivered messages per second (M = 10^6/s); N = {} per run, {} rounds interleaved \
         raw/guard/no-bp",
        config.messages, config.rounds
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>8}  {:>19} {:>13}",
        "pipeline", "median", "min", "max", "CPU ns", "delivered/offered", "shed A/G"
    );
    println!("{}", "-".repeat(124));
    let (raw, raw_cpu) = throughput_row("raw ractor: producer -> A -> B", &throughput.raw);
    let (guarded, guard_cpu) = throughput_row("guard: A -> send_tick -> pump -> sink -> B", &throughput.guard);
    throughput_row("guard, no backpressure (informational)", &throughput.unbounded);
    println!("{}", "-".repeat(124));
    // The verdict uses the median of the per-round ratios: a raw run and the guard run right after
    // it share the machine's conditions (other processes, frequency), which drift between rounds.
    let mut paired: Vec<f64> = throughput
        .raw
        .iter()
        .zip(&throughput.guard)
        .map(|(r, g)| if r.rate() > 0.0 { g.rate() / r.rate() } else { 0.0 })
        .collect();
    let paired_text: Vec<String> = paired.iter().map(|p| format!("{:.1}", p * 100.0)).collect();
    let ratio = median(&mut paired);
    let ratio_of_medians = if raw > 0.0 { guarded / raw } else { 0.0 };
    let complete = throughput.guard.iter().all(|r| {
        !r.timed_out && r.delivered == r.messages && r.shed == 0 && r.guard_shed == 0 && r.guard_passed == r.messages
    }) && throughput.raw.iter().all(|r| !r.timed_out && r.delivered == r.messages);
    println!(
        "guard / raw per round (%): {}; median {:.1} % (goal >= {:.0} %); ratio of the medians {:.1} %",
        paired_text.join(", "),
        ratio * 100.0,
        THROUGHPUT_GOAL * 100.0,
        ratio_of_medians * 100.0
    );
    let mut paired_unbounded: Vec<f64> = throughput
        .raw
        .iter()
        .zip(&throughput.unbounded)
        .map(|(r, u)| if r.rate() > 0.0 { u.rate() / r.rate() } else { 0.0 })
        .collect();
    println!(
        "without backpressure the guard delivered {:.1} % of raw (median per-round ratio) and shed {:.1} % of what A \
         offered",
        median(&mut paired_unbounded) * 100.0,
        {
            let offered: u64 = throughput.unbounded.iter().map(|r| r.messages).sum();
            let shed: u64 = throughput.unbounded.iter().map(|r| r.shed).sum();
            shed as f64 / offered.max(1) as f64 * 100.0
        }
    );
    if raw_cpu > 0.0 && guard_cpu > 0.0 {
        println!(
            "CPU per message: raw {raw_cpu:.0} ns, guard {guard_cpu:.0} ns: the guard path costs {:.0} ns more \
             (+{:.0} %); raw/guard CPU = {:.1} % (the rate ratio tends to this when both pipelines keep the cores busy)",
            guard_cpu - raw_cpu,
            (guard_cpu / raw_cpu - 1.0) * 100.0,
            raw_cpu / guard_cpu * 100.0
        );
    }
    if !complete {
        notes.push(
            "throughput: a raw or guard run did not deliver every message, shed some, or timed out (see rows)".into(),
        );
    }
    let skipped: u64 = throughput.guard.iter().chain(&throughput.unbounded).map(|r| r.guard_skipped).sum();
    if skipped > 0 {
        notes.push(format!("throughput: {skipped} ticks skipped by the gate (account not usable during a run)"));
    }
    verdicts.push((
        "guard throughput >= 75 % of raw ractor A -> B".into(),
        complete && ratio >= THROUGHPUT_GOAL,
        format!("{:.1} % (median per-round ratio; {} vs {} msg/s medians)", ratio * 100.0, mps(guarded), mps(raw)),
    ));

    println!();
    println!(
        "2. Order latency through Guard::place_order, {} orders per phase, one at a time, 0-1 ms apart (ms)",
        config.orders
    );
    println!("{:<48} {:>5} {:>9} {:>9} {:>9} {:>9}   {:<14}", "measurement", "n", "p50", "p90", "p99", "max", "bound");
    println!("{}", "-".repeat(124));
    println!("Without a flood (baseline)");
    latency_row("  place_order -> Sent (on the sink)", &stats(&ms(&quiet.sent)), None, "");
    latency_row("  place_order -> Sent (seen by the waiting task)", &stats(&ms(&quiet.sent_seen)), None, "");
    latency_row("  place_order -> Open (gateway ack over TCP)", &stats(&ms(&quiet.open)), None, "");
    println!(
        "With {} flood task(s) offering ticks for {ACCOUNT} as fast as they can (queue saturated)",
        flood.flooders
    );
    let sent_flood = stats(&ms(&flood.orders.sent));
    latency_row(
        "  place_order -> Sent (on the sink)",
        &sent_flood,
        Some(SENT_P99_GOAL_MS),
        &format!("p99 <= {SENT_P99_GOAL_MS} ms"),
    );
    latency_row("  place_order -> Sent (seen by the waiting task)", &stats(&ms(&flood.orders.sent_seen)), None, "");
    latency_row("  place_order -> Open (gateway ack over TCP)", &stats(&ms(&flood.orders.open)), None, "");
    println!("{}", "-".repeat(124));
    let secs = flood.duration.as_secs_f64();
    println!(
        "flood over {:.2} s: offered {} ({} /s), accepted into the queue {}, guard counters: passed {} ({} /s), \
         shed {} ({:.1} % of offered), skipped {}; the flood sink received {}; {} shed before the first order",
        secs,
        flood.offered,
        mps(flood.offered as f64 / secs),
        flood.accepted,
        flood.passed,
        mps(flood.passed as f64 / secs),
        flood.shed,
        flood.shed as f64 / flood.offered.max(1) as f64 * 100.0,
        flood.skipped,
        flood.delivered,
        flood.shed_at_first_order
    );
    for (name, phase) in [("baseline", quiet), ("flood", &flood.orders)] {
        println!(
            "{name} phase: {} orders in {:.2} s; refused {}, failed {}, without Sent/Open in {EVENT_DEADLINE:?} {}",
            config.orders,
            phase.elapsed.as_secs_f64(),
            phase.refused.len(),
            phase.failed.len(),
            phase.missing
        );
        if let Some(reason) = phase.refused.first() {
            notes.push(format!("{name}: first refusal: {reason}"));
        }
        if let Some(error) = phase.failed.first() {
            notes.push(format!("{name}: first failure: {error}"));
        }
    }
    let saturated = flood.shed > 0 && flood.shed_at_first_order > 0;
    if !saturated {
        notes.push("flood: the queue was not saturated (no ticks shed) — the flood did not load the guard".into());
    }
    let orders_ok = flood.orders.refused.is_empty()
        && flood.orders.failed.is_empty()
        && flood.orders.missing == 0
        && flood.orders.sent.len() == config.orders;
    let p99 = sent_flood.as_ref().map(|s| s.p99);
    verdicts.push((
        "order place_order -> Sent p99 <= 1 ms under the flood".into(),
        orders_ok && saturated && p99.is_some_and(|v| v <= SENT_P99_GOAL_MS),
        format!("{} ms", p99.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())),
    ));

    println!();
    println!("What is measured:");
    println!(
        "  throughput: from the producer's first send to A until B has counted the last message (B's own \
         Instant). Each message is a Tick {{ account, Price {{ tick_type, price, size }} }} built by the producer \
         (same in every mode). In the guard row A keeps at most TICK_QUEUE ({TICK_QUEUE}) ticks between its \
         send_tick and the pump (the sink counts what the pump hands it), yielding when the window is used up, so \
         the queue never overflows: 'shed A/G' is what A saw refused / what the guard counted as shed, both \
         must be 0 there. The no-backpressure row calls send_tick blindly; its rate counts delivered ticks only. \
         'CPU ns' is this process's CPU time (all threads, /proc/self/stat, 10 ms ticks) over the run divided by N \
         (median over the rounds): the work per message, less sensitive than the rate to how tokio happened to \
         spread the tasks over the two workers."
    );
    println!(
        "  order latency: Instant::now() just before guard.place_order(request) to Instant::now() inside the \
         order's sink when it is called with Sent (after ibapi's place_order wrote the order) and with \
         Open (ibapi's OpenOrder from the simulator). 'seen by the waiting task' adds the wake-up of the task \
         waiting on the sink's channel. Orders are placed one at a time (the next after the previous one's Open)."
    );
    if !still_connected {
        notes.push(format!("{ACCOUNT} was not connected at the end of the run"));
    }
    for note in &notes {
        println!("  NOTE {note}");
    }
    println!(
        "  CPU over the measurement: machine busy {:.1} s (of which hypervisor steal {:.1} s), this process {:.1} s: \
         {:.1} s were other processes'",
        machine.busy.as_secs_f64(),
        machine.steal.as_secs_f64(),
        machine.own.as_secs_f64(),
        machine.busy.saturating_sub(machine.own + machine.steal).as_secs_f64()
    );
    println!(
        "  total measuring time: {:.1} s; load average (1/5/15 min) at the end {} (other processes on these {} \
         cores disturb the throughput figures: compare rows of the same run only)",
        total.as_secs_f64(),
        loadavg(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    println!();
    println!("Goals:");
    for (goal, pass, figure) in &verdicts {
        println!("  {:<4}  {goal:<52} {figure}", verdict(*pass));
    }
    let all = verdicts.iter().all(|v| v.1);
    println!(
        "Overall: {} (exit code is 0 regardless: this is a measurement)",
        if all { "all goals met" } else { "NOT all goals met" }
    );
}

fn report_silent(phase: Option<&silent::SilentPhase>) {
    println!();
    let Some(phase) = phase else {
        println!("3. Liveness gate: ABORTED, the phase's tree did not connect to the simulator within 5 s");
        return;
    };
    println!(
        "3. Liveness gate: orders.max_silence = {:?}; {} orders per row, one at a time (ms)",
        silent::MAX_SILENCE,
        phase.fresh.sent.len().max(phase.silent.sent.len())
    );
    println!("{:<48} {:>5} {:>9} {:>9} {:>9} {:>9}   {:<14}", "measurement", "n", "p50", "p90", "p99", "max", "bound");
    println!("{}", "-".repeat(124));
    let fresh = stats(&ms(&phase.fresh.sent));
    let quiet = stats(&ms(&phase.silent.sent));
    latency_row("  fresh link (0-1 ms apart): place -> Sent", &fresh, None, "");
    latency_row(&format!("  silent {:?} > max_silence: place -> Sent", silent::SILENT_GAP), &quiet, None, "");
    latency_row("  silent: place -> Open (gateway ack over TCP)", &stats(&ms(&phase.silent.open)), None, "");
    println!("{}", "-".repeat(124));
    if let (Some(fresh), Some(quiet)) = (fresh, quiet) {
        println!(
            "the probe first adds {:.3} ms at p50 and {:.3} ms at p99 (one reqCurrentTime round trip); \
             refused/failed/missing: fresh {}/{}/{}, silent {}/{}/{}",
            quiet.p50 - fresh.p50,
            quiet.p99 - fresh.p99,
            phase.fresh.refused.len(),
            phase.fresh.failed.len(),
            phase.fresh.missing,
            phase.silent.refused.len(),
            phase.silent.failed.len(),
            phase.silent.missing
        );
    }
}
