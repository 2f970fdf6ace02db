//! Soak and scale, in one run (`cargo bench --bench soak_scale`):
//!
//! 1. Soak: `SOAK_CYCLES` (default 10 000) reconnect cycles, spread over `SOAK_ACCOUNTS`
//!    (default 20) accounts dropped together, against the simulator; resident memory, open file
//!    descriptors and live tokio tasks sampled along the way; afterwards the database must hold
//!    every state change (consistent) and a final "stopped" row per account.
//! 2. Scale: hard-drop detection with 200 accounts in one process against one simulator serving
//!    200 listeners, beside the same measurement with 2 accounts (goal: p99 ≤ 2× the 2-account
//!    figure); RSS and CPU reported.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ibkr_supervisor::actors::{StartOptions, Supervision};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use support::{env_count, ms, stats, verdict};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    println!("ibkr-supervisor soak and scale\ncommand: cargo bench --bench soak_scale   (SOAK_CYCLES, SOAK_ACCOUNTS, SCALE_ACCOUNTS, SCALE_TRIALS)");
    println!("machine: {} CPUs\n", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let soak_ok = runtime.block_on(soak(env_count("SOAK_CYCLES", 10_000), env_count("SOAK_ACCOUNTS", 20)));
    let scale_ok = runtime.block_on(scale(env_count("SCALE_ACCOUNTS", 200), env_count("SCALE_TRIALS", 200)));
    println!(
        "\nOverall: {} (exit code is 0 regardless: this is a measurement)",
        if soak_ok && scale_ok { "all goals met" } else { "NOT all goals met" }
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn settings(sim: &Simulator, interval: &str, schedule: &str, database: &std::path::Path) -> Settings {
    let accounts: Vec<serde_json::Value> = sim
        .addrs()
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            serde_json::json!({ "name": format!("A{i:03}"), "paper_trading": true, "host": "127.0.0.1", "port": addr.port(), "client_id": 1 })
        })
        .collect();
    let json = serde_json::json!({
        "accounts": accounts,
        "heartbeat": { "interval": interval, "probe_timeout": "500ms", "connect_timeout": "2s" },
        "reconnect": { "schedule": [schedule], "jitter": 0.0, "manual_min_interval": "0s" },
        "reset_time": null,
        "database": { "path": database },
    });
    Settings::from_json_str(&json.to_string()).expect("bench settings are valid")
}

async fn simulator(accounts: usize) -> Simulator {
    let mut config = SimConfig::default();
    for i in 0..accounts {
        config = config.loopback(format!("DU{i:07}"));
    }
    Simulator::start(config).await.expect("simulator")
}

async fn soak(cycles: usize, accounts: usize) -> bool {
    let rounds = cycles.div_ceil(accounts);
    println!("1. Soak: {} reconnect cycles = {rounds} rounds x {accounts} accounts dropped together (FIN), schedule 1 ms (50 ms floor)", rounds * accounts);
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("soak.db");
    let sim = simulator(accounts).await;
    let supervision =
        Supervision::start(settings(&sim, "1h", "1ms", &database), StartOptions::default()).await.expect("start");
    let board = supervision.board().clone();
    let all = |connected: bool| {
        move |b: &ibkr_supervisor::actors::BoardSnapshot| b.accounts.iter().all(|a| a.connected() == connected)
    };
    board.wait_for(Duration::from_secs(30), all(true)).await.expect("all connected");

    let cycle = |_: usize| {
        let (sim, board) = (&sim, &board);
        async move {
            sim.inject_all(Fault::Drop);
            board.wait_for(Duration::from_secs(10), all(false)).await.expect("all lost");
            board.wait_for(Duration::from_secs(10), all(true)).await.expect("all back");
        }
    };
    // Warm-up: caches, pools and the database reach their steady size.
    let warm = (rounds / 10).clamp(5, 50);
    for round in 0..warm {
        cycle(round).await;
    }
    let (rss0, fds0, tasks0) = (rss_kib(), open_fds(), tasks());
    let started = Instant::now();
    let mut samples = vec![];
    for round in 0..rounds {
        cycle(round).await;
        if (round + 1) % (rounds / 10).max(1) == 0 {
            samples.push((round + 1, rss_kib()));
        }
    }
    let took = started.elapsed();
    let (rss1, fds1, tasks1) = (rss_kib(), open_fds(), tasks());
    supervision.shutdown().await;
    sim.shutdown();

    let conn = rusqlite::Connection::open(&database).expect("database");
    let lost: i64 =
        conn.query_row("SELECT COUNT(*) FROM connection_events WHERE kind = 'lost'", [], |r| r.get(0)).unwrap_or(-1);
    let stopped: i64 =
        conn.query_row("SELECT COUNT(*) FROM ibkr_status WHERE state = 'stopped'", [], |r| r.get(0)).unwrap_or(-1);
    let expected_losses = ((rounds + warm) * accounts) as i64;

    let drift_kib = rss1 as i64 - rss0 as i64;
    println!(
        "   {} cycles in {:.1} s ({:.0} cycles/s)",
        rounds * accounts,
        took.as_secs_f64(),
        (rounds * accounts) as f64 / took.as_secs_f64()
    );
    println!("   RSS after warm-up {rss0} KiB, at the end {rss1} KiB: drift {drift_kib:+} KiB");
    println!(
        "   RSS along the way (round: KiB): {}",
        samples.iter().map(|(r, k)| format!("{r}: {k}")).collect::<Vec<_>>().join(", ")
    );
    println!("   open file descriptors {fds0} -> {fds1}; live tokio tasks {tasks0} -> {tasks1}");
    println!("   database: {lost} 'lost' events for {expected_losses} drops; {stopped}/{accounts} final status rows 'stopped'");
    let goals = [
        ("RSS drift <= 2 MB", drift_kib <= 2048, format!("{drift_kib:+} KiB")),
        ("no file-descriptor leak", fds1 <= fds0 + 2, format!("{fds0} -> {fds1}")),
        ("no task leak", tasks1 <= tasks0 + 2 * accounts, format!("{tasks0} -> {tasks1}")),
        (
            "database consistent",
            lost == expected_losses && stopped == accounts as i64,
            format!("{lost}/{expected_losses} losses, {stopped} stopped"),
        ),
    ];
    let mut ok = true;
    for (goal, pass, figure) in goals {
        println!("   {}  {goal:<28} {figure}", verdict(pass));
        ok &= pass;
    }
    ok
}

/// Hard-drop detection latencies (ms) over `trials` drops spread over the accounts.
async fn detection(accounts: usize, trials: usize) -> (Vec<f64>, u64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(accounts).await;
    let supervision =
        Supervision::start(settings(&sim, "1s", "20ms", &dir.path().join("scale.db")), StartOptions::default())
            .await
            .expect("start");
    let board = supervision.board().clone();
    board
        .wait_for(Duration::from_secs(60), |b| b.accounts.iter().all(|a| a.connected()))
        .await
        .expect("all accounts connected");
    let mut latencies = vec![];
    for trial in 0..trials {
        let index = (trial * 7919) % accounts;
        let mut rx = board.subscribe();
        let started = Instant::now();
        sim.inject(Fault::Drop, Some(sim.port(index))).unwrap();
        rx.wait_for(|b| !b.accounts[index].connected()).await.expect("board");
        latencies.push(started.elapsed());
        board.wait_for(Duration::from_secs(10), |b| b.accounts[index].connected()).await.expect("reconnected");
    }
    // Steady state with heartbeats probing every account each second.
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await; // measuring CPU over a fixed interval
    let cpu_pct = (cpu_time() - cpu0).as_secs_f64() * 100.0 / wall0.elapsed().as_secs_f64();
    let rss = rss_kib();
    supervision.shutdown().await;
    sim.shutdown();
    (ms(&latencies), rss, cpu_pct)
}

async fn scale(accounts: usize, trials: usize) -> bool {
    println!("\n2. Scale: hard-drop (FIN) detection, {trials} drops each, heartbeat 1 s, with 2 and with {accounts} accounts");
    let (two, rss2, cpu2) = detection(2, trials).await;
    let (many, rss_many, cpu_many) = detection(accounts, trials).await;
    let (two, many) = (stats(&two).expect("samples"), stats(&many).expect("samples"));
    println!("   accounts      p50 ms    p99 ms    max ms    RSS KiB   CPU % (steady, probes every 1 s)");
    println!("   {:>8}  {:>8.2}  {:>8.2}  {:>8.2}  {:>9}   {cpu2:.1}", 2, two.p50, two.p99, two.max, rss2);
    println!(
        "   {:>8}  {:>8.2}  {:>8.2}  {:>8.2}  {:>9}   {cpu_many:.1}",
        accounts, many.p50, many.p99, many.max, rss_many
    );
    let pass = many.p99 <= 2.0 * two.p99;
    println!(
        "   {}  p99 with {accounts} accounts <= 2 x the 2-account p99: {:.2} ms vs {:.2} ms",
        verdict(pass),
        many.p99,
        two.p99
    );
    pass
}
