//! The supervisor side by side with its peers, in one run (`cargo bench --bench peers`).
//!
//! For each fault — drop (FIN), reset (RST), hang (half-open sockets, 10 s), stalled handshake
//! (sessions dropped, then every new connection accepted but never answered, 10 s) and a 30 s
//! refusal (the gateway process gone) — one fresh simulator gets one listener per peer, every
//! peer connects and trades, the fault hits every listener at the same instant, and the run
//! records per peer:
//!
//! - **noticed**: from the fault to the peer's own signal that the link is lost (the
//!   supervisor: its status board leaves `connected`; `ibapi`: `Client::is_connected()` turns
//!   false; ib_async: `disconnectedEvent`; IB's official client: `connectionClosed()`);
//! - **trading again**: from the fault to the first order placed after it that the gateway
//!   acknowledged (openOrder / orderStatus Submitted) within 1 s of being placed;
//! - **late orders**: orders placed after the fault that were acknowledged more than 1 s after
//!   they were placed — orders an engine believed sent into a live link and that fired later.
//!
//! The peers, each an engine that places a resting BUY 1 AAPL LMT 1.00 every 100 ms while its
//! library says it is connected:
//! - the supervisor with its shipped defaults (heartbeat 5 s, probe 2 s, reconnect 1-2-5-15 s),
//!   and with a tight heartbeat (1 s, probe 500 ms); the engine goes through the `Guard`;
//! - the Rust `ibapi` client alone, with its own automatic reconnect (`Client::connect`);
//! - ib_async 2.1.0 alone (no watchdog), `benches/peers/peer.py --lib ib_async`;
//! - IB's official Python client (`ibapi-latest` 10.51.1) alone, `peer.py --lib official`.
//!
//! "never" means not within the observation window printed with each fault. The Python
//! clients run from the venvs the tests build under `target/` (made on first use).

#[path = "../tests/common/python.rs"]
#[allow(dead_code)]
mod python;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ibapi::contracts::Contract;
use ibapi::orders::{order_builder, Action};
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ibapi::Client;
use ibkr_supervisor::actors::{OrderEvent, OrderRequest, StartOptions, Supervision};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How often every engine places an order.
const EVERY: Duration = Duration::from_millis(100);
/// An acknowledgement later than this after placing means the order waited in a dead link.
const LATE: f64 = 1.0;
/// How long every peer gets to connect and have a first order acknowledged.
const READY_WITHIN: Duration = Duration::from_secs(30);
const ACK_STATUSES: [&str; 3] = ["PreSubmitted", "Submitted", "Filled"];

#[derive(Clone, Copy, PartialEq)]
enum Peer {
    SupervisorDefaults,
    SupervisorTight,
    IbapiAlone,
    IbAsyncAlone,
    OfficialAlone,
}

const PEERS: [Peer; 5] =
    [Peer::SupervisorDefaults, Peer::SupervisorTight, Peer::IbapiAlone, Peer::IbAsyncAlone, Peer::OfficialAlone];

impl Peer {
    fn label(self) -> &'static str {
        match self {
            Peer::SupervisorDefaults => "supervisor (defaults: heartbeat 5s, probe 2s)",
            Peer::SupervisorTight => "supervisor (heartbeat 1s, probe 500ms)",
            Peer::IbapiAlone => "ibapi 5.5 alone (its own reconnect)",
            Peer::IbAsyncAlone => "ib_async 2.1.0 alone (no watchdog)",
            Peer::OfficialAlone => "IB official Python client alone",
        }
    }
}

/// What a peer reports, times in seconds since the epoch.
#[derive(Debug)]
enum Report {
    Ready,
    Down(f64),
    Ack { placed: f64, at: f64 },
    Fatal(String),
}

struct Scenario {
    label: &'static str,
    faults: Vec<Fault>,
    /// Lasting faults are cleared this long after they were injected.
    hold: Option<Duration>,
    window: Duration,
}

fn scenarios() -> Vec<Scenario> {
    let hold = Duration::from_secs(10);
    vec![
        Scenario { label: "drop (FIN)", faults: vec![Fault::Drop], hold: None, window: Duration::from_secs(15) },
        Scenario { label: "reset (RST)", faults: vec![Fault::Reset], hold: None, window: Duration::from_secs(15) },
        Scenario {
            label: "hang 10 s (half-open)",
            faults: vec![Fault::Hang],
            hold: Some(hold),
            window: Duration::from_secs(25),
        },
        Scenario {
            label: "stalled handshake 10 s",
            faults: vec![Fault::StallHandshake, Fault::Drop],
            hold: Some(hold),
            window: Duration::from_secs(45),
        },
        Scenario {
            label: "refusal 30 s",
            faults: vec![Fault::Refuse { duration_ms: Some(30_000) }],
            hold: None,
            window: Duration::from_secs(50),
        },
    ]
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(run());
}

struct Row {
    scenario: &'static str,
    window: Duration,
    peer: Peer,
    noticed: Option<f64>,
    trading_again: Option<f64>,
    late: usize,
    note: Option<String>,
}

async fn run() {
    let ib_async = python::python_for(&python::IB_ASYNC).await;
    let official = python::python_for(&python::OFFICIAL).await;
    println!("ibkr-supervisor side by side with its peers");
    println!("===========================================");
    println!(
        "every peer places a resting BUY 1 AAPL LMT 1.00 every {} ms while it believes it is connected; \
         each fault hits all of them at once (one simulator, one listener each, {} tokio workers).",
        EVERY.as_millis(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let mut rows = Vec::new();
    for (index, scenario) in scenarios().into_iter().enumerate() {
        eprintln!("  {} (window {} s)…", scenario.label, scenario.window.as_secs());
        rows.extend(run_scenario(&scenario, index as i32, &ib_async, &official).await);
    }
    report(&rows);
}

async fn run_scenario(
    scenario: &Scenario,
    index: i32,
    ib_async: &std::path::Path,
    official: &std::path::Path,
) -> Vec<Row> {
    let mut config = SimConfig::default();
    for (i, _) in PEERS.iter().enumerate() {
        config = config.loopback(format!("DU{}", 1_000_000 + i));
    }
    let sim = Simulator::start(config).await.expect("the simulator starts");
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Report)>();
    let mut tasks = JoinSet::new();
    let mut supervisions = Vec::new();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    for (i, peer) in PEERS.iter().enumerate() {
        let port = sim.port(i);
        let client_id = 30 + index * 10 + i as i32;
        let tx = tx.clone();
        match peer {
            Peer::SupervisorDefaults | Peer::SupervisorTight => {
                let heartbeat = if *peer == Peer::SupervisorDefaults { ("5s", "2s") } else { ("1s", "500ms") };
                let db = scratch.path().join(format!("peer{i}.db"));
                let supervision = start_supervisor(port, client_id, heartbeat, &db).await;
                spawn_supervisor_engine(&mut tasks, &supervision, i, tx);
                supervisions.push(supervision);
            }
            Peer::IbapiAlone => {
                tasks.spawn(ibapi_alone(port, client_id, i, tx));
            }
            Peer::IbAsyncAlone | Peer::OfficialAlone => {
                let (python, lib) =
                    if *peer == Peer::IbAsyncAlone { (ib_async, "ib_async") } else { (official, "official") };
                tasks.spawn(python_peer(python.to_owned(), lib, port, client_id, i, tx));
            }
        }
    }
    drop(tx);

    // Every peer trading before the fault.
    let mut acked = vec![false; PEERS.len()];
    let mut fatal: Vec<Option<String>> = vec![None; PEERS.len()];
    let ready = tokio::time::timeout(READY_WITHIN, async {
        while acked.iter().zip(&fatal).any(|(a, f)| !a && f.is_none()) {
            match rx.recv().await {
                Some((i, Report::Ack { .. })) => acked[i] = true,
                Some((i, Report::Fatal(why))) => fatal[i] = Some(why),
                Some(_) => {}
                None => break,
            }
        }
    })
    .await;
    if ready.is_err() {
        for (i, a) in acked.iter().enumerate() {
            if !a && fatal[i].is_none() {
                fatal[i] = Some(format!("no order acknowledged within {} s of starting", READY_WITHIN.as_secs()));
            }
        }
    }
    while rx.try_recv().is_ok() {}

    let t0 = now();
    for fault in &scenario.faults {
        sim.inject_all(fault.clone());
    }
    let started = tokio::time::Instant::now();
    let clear_at = scenario.hold.map(|h| started + h);
    let end = started + scenario.window;
    let mut reports: Vec<Vec<Report>> = (0..PEERS.len()).map(|_| Vec::new()).collect();
    let mut cleared = false;
    loop {
        let wake = match clear_at {
            Some(at) if !cleared => at.min(end),
            _ => end,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                if wake >= end { break; }
                sim.inject_all(Fault::Clear);
                cleared = true;
            }
            next = rx.recv() => match next {
                Some((i, report)) => reports[i].push(report),
                None => tokio::time::sleep_until(wake).await,
            },
        }
    }

    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    for supervision in supervisions {
        supervision.shutdown().await;
    }
    sim.shutdown();

    PEERS
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            let noticed = reports[i].iter().find_map(|r| match r {
                Report::Down(t) if *t >= t0 => Some(t - t0),
                _ => None,
            });
            let acks = reports[i].iter().filter_map(|r| match r {
                Report::Ack { placed, at } if *placed >= t0 => Some((*placed, *at)),
                _ => None,
            });
            let trading_again = acks.clone().find(|(p, a)| a - p <= LATE).map(|(_, a)| a - t0);
            let late = acks.filter(|(p, a)| a - p > LATE).count();
            Row {
                scenario: scenario.label,
                window: scenario.window,
                peer: *peer,
                noticed,
                trading_again,
                late,
                note: fatal[i].clone(),
            }
        })
        .collect()
}

async fn start_supervisor(
    port: u16,
    client_id: i32,
    (interval, probe): (&str, &str),
    db: &std::path::Path,
) -> Supervision {
    let json = serde_json::json!({
        "accounts": [{ "name": "Acct", "paper_trading": true, "host": "127.0.0.1", "port": port, "client_id": client_id }],
        "heartbeat": { "interval": interval, "probe_timeout": probe, "connect_timeout": "5s" },
        "reset_time": null,
        "http": { "bind": "127.0.0.1:0" },
        "database": { "path": db },
    });
    let settings = Settings::from_json_str(&json.to_string()).expect("peer settings are valid");
    Supervision::start(settings, StartOptions::default()).await.expect("the supervisor starts")
}

/// The engine behind the supervisor: orders through the guard; "down" when the board says so.
fn spawn_supervisor_engine(
    tasks: &mut JoinSet<()>,
    supervision: &Supervision,
    peer: usize,
    tx: mpsc::UnboundedSender<(usize, Report)>,
) {
    let mut board = supervision.board().subscribe();
    let down_tx = tx.clone();
    tasks.spawn(async move {
        let mut usable = false;
        loop {
            let now_usable = board.borrow_and_update().account("Acct").is_some_and(|a| a.state.is_usable());
            if usable && !now_usable {
                let _ = down_tx.send((peer, Report::Down(now())));
            }
            usable = now_usable;
            if board.changed().await.is_err() {
                return;
            }
        }
    });
    let guard = supervision.guard().clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let placed = now();
            let tx = tx.clone();
            let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
            guard.place_order(OrderRequest {
                account: "Acct".into(),
                order_id: None,
                contract: Contract::stock("AAPL").build(),
                order: order_builder::limit_order(Action::Buy, 1.0, 1.0),
                sink: Arc::new(move |event| {
                    if let OrderEvent::Status { status, .. } = &event {
                        if ACK_STATUSES.contains(&status.as_str())
                            && !once.swap(true, std::sync::atomic::Ordering::SeqCst)
                        {
                            let _ = tx.send((peer, Report::Ack { placed, at: now() }));
                        }
                    }
                    true
                }),
            });
        }
    });
}

/// `ibapi` alone: its own reconnect, `is_connected()` polled for the loss.
async fn ibapi_alone(port: u16, client_id: i32, peer: usize, tx: mpsc::UnboundedSender<(usize, Report)>) {
    let client = match Client::connect(&format!("127.0.0.1:{port}"), client_id).await {
        Ok(client) => Arc::new(client),
        Err(e) => {
            let _ = tx.send((peer, Report::Fatal(e.to_string())));
            return;
        }
    };
    let _ = tx.send((peer, Report::Ready));
    let mut orders = JoinSet::new();
    let mut tick = tokio::time::interval(EVERY);
    let mut watch = tokio::time::interval(Duration::from_millis(2));
    let mut connected = true;
    loop {
        tokio::select! {
            _ = watch.tick() => {
                let now_connected = client.is_connected();
                if connected && !now_connected {
                    let _ = tx.send((peer, Report::Down(now())));
                }
                connected = now_connected;
            }
            _ = tick.tick() => {
                if !client.is_connected() { continue; }
                let client = Arc::clone(&client);
                let tx = tx.clone();
                orders.spawn(async move {
                    let placed = now();
                    let id = client.next_order_id();
                    let order = order_builder::limit_order(Action::Buy, 1.0, 1.0);
                    let Ok(mut events) = client.place_order(id, &Contract::stock("AAPL").build(), &order).await else {
                        return;
                    };
                    while let Some(Ok(item)) = events.next().await {
                        if let SubscriptionItem::Data(ibapi::orders::PlaceOrder::OpenOrder(_) | ibapi::orders::PlaceOrder::OrderStatus(_)) = item {
                            let _ = tx.send((peer, Report::Ack { placed, at: now() }));
                            return;
                        }
                    }
                });
            }
            Some(_) = orders.join_next(), if !orders.is_empty() => {}
        }
    }
}

/// A Python engine alone: `benches/peers/peer.py`, its JSON lines turned into reports.
async fn python_peer(
    python: std::path::PathBuf,
    lib: &'static str,
    port: u16,
    client_id: i32,
    peer: usize,
    tx: mpsc::UnboundedSender<(usize, Report)>,
) {
    let script = python::workspace().join("benches/peers/peer.py");
    let spawned = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--lib", lib, "--port", &port.to_string(), "--client-id", &client_id.to_string()])
        .args(["--every", &EVERY.as_secs_f64().to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = tx.send((peer, Report::Fatal(format!("cannot run {}: {e}", python.display()))));
            return;
        }
    };
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let report = match v["e"].as_str() {
            Some("ready") => Report::Ready,
            Some("down") => Report::Down(v["t"].as_f64().unwrap_or_default()),
            Some("ack") => Report::Ack {
                placed: v["placed"].as_f64().unwrap_or_default(),
                at: v["t"].as_f64().unwrap_or_default(),
            },
            Some("fatal") => Report::Fatal(v["why"].as_str().unwrap_or("?").to_owned()),
            _ => continue,
        };
        let _ = tx.send((peer, report));
    }
    let _ = tx.send((peer, Report::Fatal(format!("{lib} peer exited: {:?}", child.wait().await))));
}

fn report(rows: &[Row]) {
    let secs = |v: Option<f64>| match v {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1e3),
        Some(s) => format!("{s:.1} s"),
        None => "never".to_owned(),
    };
    println!();
    println!("{:<24} {:<46} {:>10} {:>14} {:>12}", "fault (window)", "peer", "noticed", "trading again", "late orders");
    let mut last = "";
    for row in rows {
        let fault =
            if row.scenario != last { format!("{} ({} s)", row.scenario, row.window.as_secs()) } else { String::new() };
        last = row.scenario;
        match &row.note {
            Some(why) if row.noticed.is_none() && row.trading_again.is_none() => {
                println!("{fault:<24} {:<46} did not start: {why}", row.peer.label())
            }
            _ => println!(
                "{fault:<24} {:<46} {:>10} {:>14} {:>12}",
                row.peer.label(),
                secs(row.noticed),
                secs(row.trading_again),
                row.late
            ),
        }
    }
    println!();
    println!(
        "noticed: fault → the peer's own loss signal. trading again: fault → first order placed after it and \
         acknowledged within {LATE} s. late orders: placed after the fault, acknowledged more than {LATE} s later \
         (they waited in a dead link and fired when it woke)."
    );
}
