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
//! 3. The liveness gate (`silent.rs`): with `orders.max_silence` = 100 ms, place_order -> Sent
//!    on a fresh link and after 150 ms of silence (the gateway probes before it writes), side by
//!    side: the difference is one probe round trip.
//!
//! Everything (simulator, supervision tree, bench actors, producer, measuring tasks) runs as
//! tasks of one multi-thread tokio runtime with a worker per core. Besides the rates, each
//! throughput row shows the process CPU time per message, which depends less than the rate on
//! how the scheduler happened to spread the tasks over the workers.
//!
//! Environment: `GUARD_MESSAGES` (default 1 000 000), `GUARD_ROUNDS` (5 rounds of raw, guard
//! and guard without backpressure, interleaved), `GUARD_ORDERS` (300 per phase, ~30 ms apart),
//! `GUARD_FLOODERS` (2 flood tasks), `RUST_LOG` (default `warn`). The process exits 0 even
//! when a goal is missed: it is a measurement, and the verdicts are printed.

#[path = "guard/report.rs"]
mod report;
#[path = "guard/silent.rs"]
mod silent;
#[path = "support/mod.rs"]
mod support;
#[path = "guard/throughput.rs"]
mod throughput;

use report::{report, report_silent};
use support::env_count;
use throughput::*;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ibapi::contracts::Contract;
use ibapi::orders::{order_builder, Action};
use ibkr_supervisor::actors::gateway::GatewayMessage;
use ibkr_supervisor::actors::guard::{GuardCounts, TICK_QUEUE};
use ibkr_supervisor::actors::{
    Guard, MarketEvent, OrderEvent, OrderRequest, OrderSink, StartOptions, Supervision, Tick, TickReceiver,
};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};

pub(crate) const ACCOUNT: &str = "Paper";
pub(crate) const OTHER: &str = "Live";
/// Guard throughput must be at least this fraction of the raw ractor forward.
pub(crate) const THROUGHPUT_GOAL: f64 = 0.75;
/// p99 of place_order -> Sent under the flood, milliseconds.
pub(crate) const SENT_P99_GOAL_MS: f64 = 1.0;
/// The producer yields to the scheduler after this many sends (both modes alike).
pub(crate) const PRODUCER_BATCH: u64 = 256;
/// A flood task yields after this many offers (tokio's own cooperative budget is 128).
pub(crate) const FLOOD_BATCH: u64 = 128;
/// Warm-up messages per mode before the measured rounds.
pub(crate) const WARMUP_MESSAGES: u64 = 100_000;
/// Flood before the first order is placed, so the queue is full when measuring starts.
pub(crate) const FLOOD_LEAD: Duration = Duration::from_millis(200);
/// Deadline for one throughput run and for one order event.
pub(crate) const RUN_DEADLINE: Duration = Duration::from_secs(120);
pub(crate) const EVENT_DEADLINE: Duration = Duration::from_secs(5);

fn main() {
    let config = Config {
        messages: env_count("GUARD_MESSAGES", 1_000_000) as u64,
        rounds: env_count("GUARD_ROUNDS", 5),
        orders: env_count("GUARD_ORDERS", 300),
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
pub(crate) struct Config {
    pub(crate) messages: u64,
    pub(crate) rounds: usize,
    pub(crate) orders: usize,
    pub(crate) flooders: usize,
}

pub(crate) fn settings_json(sim: &Simulator, database: &std::path::Path) -> String {
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

pub(crate) async fn run(config: Config) {
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
    // The orders keep under IB's message rate: the gateway's pacer must have held none back,
    // or the latencies would include waits for the rate.
    if let Some(gateway) = supervision.gateway(ACCOUNT) {
        if let Ok(ractor::rpc::CallResult::Success(snapshot)) =
            gateway.call(GatewayMessage::Snapshot, Some(Duration::from_secs(2))).await
        {
            println!(
                "  gateway pacer: {} message(s) waited for IB's message rate during phases 1-2",
                snapshot.paced_delayed
            );
        }
    }
    supervision.shutdown().await;
    let silent_orders = (config.orders / 5).max(20);
    let silent = silent::run(&sim, &scratch.path().join("guard-bench-silent.db"), silent_orders).await;
    sim.shutdown();

    report(config, &throughput, &quiet, &flood, still_connected, total, &machine);
    report_silent(silent.as_ref());
}

/// CPU time over the measurement: the whole machine's busy time and steal, and this process's.
pub(crate) struct Machine {
    pub(crate) busy: Duration,
    pub(crate) steal: Duration,
    pub(crate) own: Duration,
}

pub(crate) fn print_header(settings: &Settings, config: Config) {
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

pub(crate) fn cpu_model() -> String {
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

pub(crate) fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "?".into())
}

// ---- 2. order latency -----------------------------------------------------------------------

#[derive(Default)]
pub(crate) struct OrderPhase {
    /// place_order -> Sent, timestamped inside the sink (the goal's figure).
    pub(crate) sent: Vec<Duration>,
    /// place_order -> the measuring task receiving Sent from the sink's channel.
    pub(crate) sent_seen: Vec<Duration>,
    /// place_order -> Open, timestamped inside the sink.
    pub(crate) open: Vec<Duration>,
    pub(crate) refused: Vec<String>,
    pub(crate) failed: Vec<String>,
    /// Orders with no Sent or no Open within the deadline.
    pub(crate) missing: usize,
    pub(crate) elapsed: Duration,
}

pub(crate) fn order_request(sink: OrderSink) -> OrderRequest {
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
pub(crate) enum Gap {
    /// 30-40 ms at random: about 29 orders a second, under IB's message rate (the gateway's
    /// pacer, `pacing.max_messages_per_second` 45, holds none back, so the figure is the
    /// guard's and the gateway's path, not a wait for the rate), and the next order lands at a
    /// random phase of the scheduler's (and the flood's) work.
    Random,
    /// Exactly this long (longer than `orders.max_silence`: the link has gone quiet).
    Fixed(Duration),
}

pub(crate) async fn order_phase(guard: &Guard, orders: usize, gap: Gap) -> OrderPhase {
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
            Gap::Random => Duration::from_micros(rand::random_range(30_000..40_000)),
            Gap::Fixed(pause) => pause,
        };
        tokio::time::sleep(pause).await;
    }
    out.elapsed = started.elapsed();
    out
}

pub(crate) struct FloodPhase {
    pub(crate) orders: OrderPhase,
    pub(crate) flooders: usize,
    /// Offers made by the flood tasks, and how many send_tick accepted into the queue.
    pub(crate) offered: u64,
    pub(crate) accepted: u64,
    /// The guard's counters over the flood (lead-in + orders).
    pub(crate) passed: u64,
    pub(crate) shed: u64,
    pub(crate) skipped: u64,
    /// Ticks the flood's sink received.
    pub(crate) delivered: u64,
    /// Ticks shed before the first order was placed (the queue was saturated).
    pub(crate) shed_at_first_order: u64,
    pub(crate) duration: Duration,
}

pub(crate) async fn flood_phase(guard: &Guard, config: Config) -> FloodPhase {
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
