//! The guarded port against the simulated gateway directly, the same `ibapi` client both ways,
//! interleaved in one run so machine load hits both alike:
//!
//! - order round trip, `placeOrder` → first `openOrder` (a resting limit, so no fill timing):
//!   p50/p99 direct and through the port, and the overhead (goal: p99 overhead ≤ 100 µs);
//! - tick relay throughput: ticks per second over the same subscriptions, alternating rounds
//!   (goal: ≥ 90 % of direct);
//! - CPU per relayed MB: the process's CPU time (user + system, `/proc/self/stat`) in the port
//!   rounds minus the direct rounds, divided by the MB the port relayed.
//!
//! `cargo bench --bench proxy`; `PROXY_BENCH_ORDERS` (default 400) and `PROXY_BENCH_ROUNDS`
//! (default 6 rounds of 1 s each way) scale it.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ibapi::orders::PlaceOrder;
use ibapi::prelude::*;
use ibkr_supervisor::actors::{StartOptions, Supervision};
use ibkr_supervisor::settings::{ProxySettings, Settings};
use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use support::{env_count, stats, verdict, Table};

async fn client(addr: std::net::SocketAddr, client_id: i32) -> Client {
    Client::builder().address(addr.to_string()).client_id(client_id).max_reconnect_attempts(0).connect().await.unwrap()
}

async fn round_trip(client: &Client, order_id: i32) -> Duration {
    let contract = Contract::stock("AAPL").build();
    let order = order_builder::limit_order(Action::Buy, 1.0, 1.0);
    let start = Instant::now();
    let mut events = client.place_order(order_id, &contract, &order).await.unwrap();
    loop {
        match events.next().await {
            Some(Ok(SubscriptionItem::Data(PlaceOrder::OpenOrder(_)))) => return start.elapsed(),
            Some(_) => continue,
            None => panic!("order stream ended"),
        }
    }
}

/// Ticks received over `within` on `subscriptions` fresh subscriptions.
async fn tick_rate(client: &Client, subscriptions: usize, within: Duration) -> f64 {
    let symbols = ["AAPL", "MSFT", "IBM", "SPY"];
    let mut streams = Vec::new();
    for i in 0..subscriptions {
        streams
            .push(client.market_data(&Contract::stock(symbols[i % symbols.len()]).build()).subscribe().await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + within;
    let counts = futures::future::join_all(streams.iter_mut().map(|s| async move {
        let mut n = 0u64;
        while let Ok(Some(_)) = tokio::time::timeout_at(deadline, s.next()).await {
            n += 1;
        }
        n
    }))
    .await;
    counts.iter().sum::<u64>() as f64 / within.as_secs_f64()
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

#[tokio::main]
async fn main() {
    let orders = env_count("PROXY_BENCH_ORDERS", 400);
    let rounds = env_count("PROXY_BENCH_ROUNDS", 6);
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").options(SimOptions {
        fill_delay: Duration::from_secs(3600),
        tick_interval: Duration::from_millis(1),
        seed: Some(11),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let mut settings = Settings::default();
    settings.accounts.truncate(1);
    settings.accounts[0].port = sim.addr(0).port();
    settings.accounts[0].proxy = Some(ProxySettings::new("127.0.0.1:0".parse().unwrap()));
    settings.reset_time = None;
    settings.database.path = std::env::temp_dir().join(format!("proxy-bench-{}.db", std::process::id()));
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    supervision
        .board()
        .wait_for(Duration::from_secs(10), |b| b.account("Paper").is_some_and(|a| a.connected()))
        .await
        .unwrap();
    let port_stats = supervision.proxies().port("Paper").unwrap().clone();
    let port = port_stats.local_addr().unwrap();

    let direct = client(sim.addr(0), 60).await;
    let guarded = client(port, 61).await;
    let (mut next_direct, mut next_guarded) =
        (direct.next_valid_order_id().await.unwrap(), guarded.next_valid_order_id().await.unwrap() + 1_000_000);
    // Warm-up, then interleaved samples.
    for _ in 0..20 {
        round_trip(&direct, next_direct).await;
        round_trip(&guarded, next_guarded).await;
        next_direct += 1;
        next_guarded += 1;
    }
    let (mut d, mut g) = (Vec::with_capacity(orders), Vec::with_capacity(orders));
    for i in 0..orders {
        if i % 2 == 0 {
            d.push(round_trip(&direct, next_direct).await);
            g.push(round_trip(&guarded, next_guarded).await);
        } else {
            g.push(round_trip(&guarded, next_guarded).await);
            d.push(round_trip(&direct, next_direct).await);
        }
        next_direct += 1;
        next_guarded += 1;
    }
    let us = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64() * 1e6).collect::<Vec<f64>>();
    let (ds, gs) = (stats(&us(&d)), stats(&us(&g)));
    let table = Table { label: 34, n: 5, bound: 18, decimals: 1 };
    println!("order round trip placeOrder -> openOrder, µs       n      p50      p90      p99      max");
    table.row("direct to the simulator", &ds, None, "");
    table.row("through the guarded port", &gs, None, "");
    let (ds, gs) = (ds.unwrap(), gs.unwrap());
    let (o50, o99) = (gs.p50 - ds.p50, gs.p99 - ds.p99);
    println!("overhead: p50 {o50:.1} µs, p99 {o99:.1} µs (goal p99 ≤ 100 µs): {}", verdict(o99 <= 100.0));

    // Tick relay, alternating 1 s rounds; fresh connections per round so subscriptions do not pile up.
    let (mut direct_rates, mut guarded_rates) = (Vec::new(), Vec::new());
    let (mut direct_cpu, mut guarded_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut relayed = 0u64;
    for round in 0..rounds {
        for through_port in [round % 2 == 0, round % 2 == 1] {
            let (addr, id) = if through_port { (port, 80 + round as i32) } else { (sim.addr(0), 90 + round as i32) };
            let c = client(addr, id).await;
            let before_bytes: u64 = port_stats.snapshot().sessions.iter().map(|s| s.bytes_to_engine).sum();
            let before = cpu();
            let rate = tick_rate(&c, 16, Duration::from_secs(1)).await;
            let spent = cpu().saturating_sub(before);
            let after_bytes: u64 = port_stats.snapshot().sessions.iter().map(|s| s.bytes_to_engine).sum();
            if through_port {
                guarded_rates.push(rate);
                guarded_cpu += spent;
                relayed += after_bytes.saturating_sub(before_bytes);
            } else {
                direct_rates.push(rate);
                direct_cpu += spent;
            }
            drop(c);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (dr, gr) = (mean(&direct_rates), mean(&guarded_rates));
    let ratio = gr / dr;
    println!(
        "tick relay: direct {dr:.0} ticks/s, through the port {gr:.0} ticks/s: {:.1} % of direct (goal ≥ 90 %): {}",
        ratio * 100.0,
        verdict(ratio >= 0.9)
    );
    let mb = relayed as f64 / 1e6;
    let extra = guarded_cpu.saturating_sub(direct_cpu).as_secs_f64() * 1e3;
    println!(
        "CPU: {:.0} ms in port rounds vs {:.0} ms direct; {mb:.2} MB relayed: {:.1} ms CPU per relayed MB",
        guarded_cpu.as_secs_f64() * 1e3,
        direct_cpu.as_secs_f64() * 1e3,
        extra / mb.max(1e-9)
    );
    let _ = supervision.shutdown().await;
    sim.shutdown();
}
