//! The chaos matrix: every way users have seen a gateway die, one after another against one
//! running supervisor, each followed by the same checks:
//! - while broken, the guard refuses orders with a reason, and none reaches the gateway;
//! - after the fault clears the account reconnects and orders flow again;
//! - attempts keep to the schedule (no storm);
//! - at the end: no meltdown, and every published state change is in the database.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::{EventKind, OrderEvent, StartOptions, Supervision};
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
const STEP_MS: i64 = 100;

struct Rig {
    sim: Simulator,
    supervision: Supervision,
    events: Events,
    database: String,
    orders_sent: usize,
}

/// Simulated paper and live gateways whose orders never fill (they stay working, to be
/// reconciled across faults).
/// Two gateways whose orders stay open (no fill traffic during the faults).
async fn parked_gateways() -> Simulator {
    two_gateways_with(SimOptions { fill_delay: Duration::from_secs(3600), ..SimOptions::default() }).await
}

impl Rig {
    async fn start() -> Rig {
        let sim = parked_gateways().await;
        let database = scratch_database();
        let settings = settings_for(
            &sim.addrs(),
            json!({
                "heartbeat": { "interval": "100ms", "probe_timeout": "100ms", "connect_timeout": "200ms" },
                "reconnect": { "schedule": [format!("{STEP_MS}ms")], "jitter": 0.1 },
                "supervisor": { "max_restarts": 10, "restart_window": "60s", "stuck_margin": "150ms" },
                "database": { "path": database },
            }),
        );
        let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
        supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
        let events = Events::record(supervision.events()).await;
        Rig { sim, supervision, events, database, orders_sent: 0 }
    }

    fn paper(&self) -> u16 {
        self.sim.port(0)
    }

    async fn wait_usable(&self, usable: bool, what: &str) {
        let found = self.supervision.board().wait_for(WAIT, |b| b.accounts[0].connected() == usable).await;
        assert!(found.is_ok(), "{what}: Paper never {}", if usable { "usable" } else { "unusable" });
    }

    /// Place one order on Paper; returns whether it was sent (else: refused with a reason).
    async fn order(&mut self) -> bool {
        let mut rx = buy_one(self.supervision.guard(), "Paper");
        match tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap() {
            OrderEvent::Sent { .. } => {
                self.orders_sent += 1;
                true
            }
            OrderEvent::Refused { reason, .. } => {
                assert!(!reason.to_string().is_empty(), "a refusal names its reason");
                false
            }
            other => panic!("unexpected first order event {other:?}"),
        }
    }

    /// The common checks around one broken period.
    async fn broken(&mut self, name: &str) {
        assert!(!self.order().await, "{name}: an order was sent into a broken connection");
        let paper_orders = self.sim.orders().iter().filter(|o| o.port == self.paper()).count();
        assert_eq!(paper_orders, self.orders_sent, "{name}: an order leaked to the gateway");
    }

    async fn recovered(&mut self, name: &str) {
        self.wait_usable(true, name).await;
        assert!(self.order().await, "{name}: orders flow again after the recovery");
        eventually(WAIT, "the order reached the gateway", || async {
            self.sim.orders().iter().filter(|o| o.port == self.paper()).count() == self.orders_sent
        })
        .await;
        assert!(self.supervision.board().snapshot().meltdown.is_none(), "{name}: process alive");
    }

    fn attempts_after(&self, since: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        self.events.attempts("Paper").into_iter().map(|a| a.0).filter(|t| *t >= since).collect()
    }
}

/// Attempts no closer than the schedule allows: a fallback-id retry (50 ms floor) or the step
/// minus jitter, with a little scheduling slack.
fn assert_no_storm(name: &str, attempts: &[DateTime<Utc>]) {
    for pair in attempts.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(gap >= 45, "{name}: attempts {gap} ms apart is a storm");
    }
    for window in attempts.windows(4) {
        let span = (window[3] - window[0]).num_milliseconds();
        assert!(span >= (STEP_MS as f64 * 0.9) as i64, "{name}: four attempts within {span} ms");
    }
}

#[tokio::test]
async fn the_chaos_matrix() {
    let mut rig = Rig::start().await;
    let port = rig.paper();

    // Socket deaths: FIN and RST (each followed by handshakes that stall, so the outage lasts
    // and the attempts time out), half-open, refused for a long stretch.
    let socket_faults: [(&str, Vec<Fault>); 4] = [
        ("FIN, then stalled handshakes", vec![Fault::StallHandshake, Fault::Drop]),
        ("RST, then stalled handshakes", vec![Fault::StallHandshake, Fault::Reset]),
        ("hang (half-open)", vec![Fault::Hang]),
        ("refused", vec![Fault::Refuse { duration_ms: None }]),
    ];
    for (name, faults) in socket_faults {
        let since = Utc::now();
        for fault in faults {
            rig.sim.inject(fault, Some(port)).unwrap();
        }
        rig.wait_usable(false, name).await;
        rig.broken(name).await;
        // Let the schedule run a few rounds against the broken gateway.
        eventually(WAIT, "three attempts against the broken gateway", || async {
            rig.attempts_after(since).len() >= 3
        })
        .await;
        rig.sim.inject(Fault::Clear, Some(port)).unwrap();
        rig.recovered(name).await;
        assert_no_storm(name, &rig.attempts_after(since));
    }

    // A client id held after the drop: fallback ids, then the schedule.
    let since = Utc::now();
    rig.sim.inject(Fault::HoldClientId { duration_ms: 700 }, Some(port)).unwrap();
    rig.sim.inject(Fault::Drop, Some(port)).unwrap();
    rig.wait_usable(false, "326 held").await;
    rig.broken("326 held").await;
    rig.recovered("326 held").await;
    assert_no_storm("326 held", &rig.attempts_after(since));
    rig.sim.inject(Fault::Clear, Some(port)).unwrap();

    // IB's upstream: 1100 degrades, 1101 and 1102 restore.
    for data_lost in [false, true] {
        let name = if data_lost { "1100 then 1101" } else { "1100 then 1102" };
        rig.sim.inject(Fault::UpstreamLost { message: None }, Some(port)).unwrap();
        rig.wait_usable(false, name).await;
        assert_eq!(rig.supervision.board().account("Paper").unwrap().state.name(), "degraded");
        rig.broken(name).await;
        rig.sim.inject(Fault::UpstreamRestored { data_lost }, Some(port)).unwrap();
        rig.recovered(name).await;
    }

    // A flapping gateway: down and up every 200 ms for a (scaled) minute.
    let since = Utc::now();
    for round in 0..10 {
        let fault = if round % 2 == 0 { Fault::Refuse { duration_ms: None } } else { Fault::Clear };
        rig.sim.inject(fault, Some(port)).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // the flapping itself is the test input
    }
    rig.sim.inject(Fault::Clear, Some(port)).unwrap();
    rig.recovered("flapping").await;
    assert_no_storm("flapping", &rig.attempts_after(since));

    // A panicking and a stuck actor.
    for (name, drill) in [("panicking actor", Drill::Panic), ("stuck actor", Drill::Freeze(Duration::from_secs(30)))] {
        let before = rig.supervision.gateway("Paper").unwrap();
        before.send_message(GatewayMessage::Drill(drill)).unwrap();
        eventually(WAIT, "the gateway actor was replaced", || async {
            rig.supervision.gateway("Paper").is_some_and(|g| g.get_id() != before.get_id())
        })
        .await;
        rig.recovered(name).await;
    }

    // The database locked by another connection during an outage: supervision goes on.
    let locker = rusqlite::Connection::open(&rig.database).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    rig.sim.inject(Fault::Refuse { duration_ms: Some(300) }, Some(port)).unwrap();
    rig.wait_usable(false, "database locked").await;
    rig.broken("database locked").await;
    rig.recovered("database locked").await;
    let failing = rig.supervision.board().wait_for(WAIT, |b| b.persistence.as_ref().is_some_and(|p| !p.ok)).await;
    assert!(failing.is_ok(), "the database error is visible in status");
    locker.execute_batch("COMMIT").unwrap();
    let healthy = rig
        .supervision
        .board()
        .wait_for(WAIT, |b| b.persistence.as_ref().is_some_and(|p| p.ok && p.pending == 0))
        .await;
    assert!(healthy.is_ok(), "pending writes land once the lock is gone");

    // The other account never noticed any of it.
    assert_eq!(rig.events.count("Live", |k| matches!(k, EventKind::Lost { .. })), 0);

    // Nothing published was lost on the way to the database.
    let published: Vec<(String, String)> = rig
        .events
        .all()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { to, .. } => Some((e.account, to.name().to_owned())),
            _ => None,
        })
        .collect();
    let database = rig.database.clone();
    rig.supervision.shutdown().await;
    let conn = rusqlite::Connection::open(&database).unwrap();
    let stored: Vec<(String, String)> = conn
        .prepare("SELECT account, to_state FROM connection_events WHERE kind = 'state_changed' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rest = stored.iter();
    for change in &published {
        assert!(rest.any(|s| s == change), "state change {change:?} missing from the database (in order)");
    }
    let final_state: String =
        conn.query_row("SELECT state FROM ibkr_status WHERE account = 'Paper'", [], |r| r.get(0)).unwrap();
    assert_eq!(final_state, "stopped", "the final status was written at shutdown");
}

#[tokio::test]
async fn sigterm_in_the_middle_of_reconnecting() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    sim.inject(Fault::StallHandshake, Some(sim.port(0))).unwrap();
    let database = scratch_database();
    let http_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = std::path::Path::new(&database).with_file_name("settings.json");
    let settings = json!({
        "accounts": [
            { "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1 },
            { "name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": sim.port(1), "client_id": 2 },
        ],
        "heartbeat": { "interval": "100ms", "probe_timeout": "100ms", "connect_timeout": "300ms" },
        "reconnect": { "schedule": ["50ms"] },
        "reset_time": null,
        "http": { "bind": format!("127.0.0.1:{http_port}") },
        "database": { "path": database },
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ibkr-supervisor"))
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http_port));
    eventually(WAIT, "Paper retrying against a stalled gateway, an attempt in flight", || async {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else { return false };
        drop(stream);
        let (code, body) = http(addr, "GET", "/status", None).await;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        code == 200
            && status["accounts"][0]["reconnect_attempts"].as_u64() >= Some(2)
            && status["accounts"][0]["state"] == "connecting"
    })
    .await;

    let started = std::time::Instant::now();
    std::process::Command::new("kill").args(["-TERM", &child.id().unwrap().to_string()]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "exit took {:?}", started.elapsed());
    let conn = rusqlite::Connection::open(&database).unwrap();
    let states: Vec<String> = conn
        .prepare("SELECT state FROM ibkr_status ORDER BY account")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(states, ["stopped", "stopped"], "the final status of both accounts was written");
}

#[tokio::test]
async fn an_outage_inside_a_reset_window() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    let sim = parked_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "1s",
                "reconnect": { "schedule": [format!("{STEP_MS}ms")] } }),
    );
    // 23:44:59.700 New York: the window opens 300 ms in and lasts 1 s.
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:44:59.700Z").unwrap().with_timezone(&Utc);
    let options = StartOptions { clock: Arc::new(OffsetClock::starting_at(start)), ..StartOptions::default() };
    let supervision = Supervision::start(settings, options).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.unwrap();
    let events = Events::record(supervision.events()).await;
    supervision.board().wait_for(WAIT, |b| b.accounts[0].state.name() == "reset_window").await.unwrap();
    let window_end = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:45:01Z").unwrap().with_timezone(&Utc);
    sim.inject(Fault::Refuse { duration_ms: Some(500) }, Some(sim.port(0))).unwrap();

    let mut rx = buy_one(supervision.guard(), "Paper");
    match tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap() {
        OrderEvent::Refused { reason, .. } => assert!(reason.to_string().starts_with("scheduled reset window until")),
        other => panic!("{other:?}"),
    }
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.unwrap();
    let attempts = events.attempts("Paper");
    assert!(
        !attempts.is_empty() && attempts.iter().all(|a| a.0 >= window_end),
        "no attempt inside the window: {attempts:?}"
    );
    assert!(sim.orders().is_empty(), "no order leaked");
    assert!(supervision.board().snapshot().meltdown.is_none());
    supervision.shutdown().await;
}
