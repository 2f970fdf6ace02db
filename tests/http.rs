//! The HTTP surface on a real port, against the supervisor and the simulated gateways:
//! every endpoint, and every kind of bad input answered with a clear 4xx.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::OrderEvent;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

async fn start(overrides: Value) -> (Simulator, Service, SocketAddr) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let mut over = json!({ "http": { "bind": "127.0.0.1:0" } });
    if let (Some(base), Value::Object(extra)) = (over.as_object_mut(), overrides) {
        base.extend(extra);
    }
    let service = Service::start(settings_for(&sim.addrs(), over), RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    (sim, service, addr)
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, None).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = http(addr, "POST", path, Some(body.as_bytes())).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Wait on the status board, then read `/status` (which serves the same board).
async fn wait_state(service: &Service, addr: SocketAddr, account: usize, state: &str) -> Value {
    let reached = service.handle().board().wait_for(WAIT, |b| b.accounts[account].state.name() == state).await;
    assert!(reached.is_ok(), "account {account} never {state}: {:?}", reached.map(|_| ()));
    let (_, status) = get_json(addr, "/status").await;
    assert_eq!(status["accounts"][account]["state"], state);
    status
}

#[tokio::test]
async fn status_actors_health_and_readiness() {
    let (sim, service, addr) = start(json!({ "reconnect": { "schedule": ["5s"] } })).await;
    let status = wait_state(&service, addr, 0, "connected").await;
    wait_state(&service, addr, 1, "connected").await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["started_at"].is_string());
    let paper = &status["accounts"][0];
    for field in [
        "name",
        "paper_trading",
        "state",
        "connected",
        "host",
        "port",
        "client_id",
        "last_checked",
        "last_connected",
        "reconnect_attempts",
        "next_attempt_at",
        "error_message",
        "probe_rtt_ms",
        "in_reset_window",
        "reset_window_ends_at",
        "uptime_today_pct",
    ] {
        assert!(paper.get(field).is_some(), "/status lacks {field}: {paper}");
    }
    assert_eq!((paper["name"].as_str(), paper["connected"].as_bool()), (Some("Paper"), Some(true)));
    assert_eq!(paper["port"], sim.port(0));

    assert_eq!(get_json(addr, "/healthz").await.0, 200);
    let (code, ready) = get_json(addr, "/readyz").await;
    assert_eq!((code, ready["status"].as_str()), (200, Some("ready")));

    // The gateway goes away: /status says so at once, with the countdown to the next attempt.
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(0))).unwrap();
    let status = wait_state(&service, addr, 0, "disconnected").await;
    let paper = &status["accounts"][0];
    assert_eq!(paper["connected"], false);
    assert!(paper["next_attempt_at"].is_string(), "{paper}");
    assert!(paper["error_message"].is_string(), "{paper}");
    let (code, ready) = get_json(addr, "/readyz").await;
    assert_eq!(code, 503);
    assert!(ready["reasons"][0].as_str().unwrap().starts_with("Paper is disconnected"), "{ready}");
    assert_eq!(get_json(addr, "/healthz").await.0, 200, "alive even when not ready");

    let (code, actors) = get_json(addr, "/actors").await;
    assert_eq!(code, 200);
    let names: Vec<&str> = actors.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    for expected in ["gateway:Live", "gateway:Paper", "guard", "reconnect", "watchdog"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let paper_actor = actors.as_array().unwrap().iter().find(|a| a["name"] == "gateway:Paper").unwrap();
    assert_eq!(paper_actor["kind"], "GatewayActor");
    assert_eq!(paper_actor["status"], "running");
    assert_eq!(paper_actor["restarts"], 0);
    assert_eq!(paper_actor["snapshot"]["state"]["state"], "disconnected");
    service.shutdown().await;
}

/// `/actors` for every child: ractor's own status (`alive`) and a snapshot the actor itself
/// answered; a gateway frozen in a handler shows as unresponsive but alive, then answers again.
#[tokio::test]
async fn actors_shows_every_actor_alive_with_its_own_snapshot() {
    let (_sim, service, addr) = start(json!({ "alerts": { "webhook_url": "http://127.0.0.1:9/hook" } })).await;
    wait_state(&service, addr, 0, "connected").await;
    wait_state(&service, addr, 1, "connected").await;
    let actors = || async {
        let (code, actors) = get_json(addr, "/actors").await;
        assert_eq!(code, 200);
        let actors = actors.as_array().unwrap().clone();
        let by_name: std::collections::BTreeMap<String, Value> =
            actors.into_iter().map(|a| (a["name"].as_str().unwrap().to_owned(), a)).collect();
        by_name
    };
    let tree = actors().await;
    assert_eq!(
        tree.keys().map(String::as_str).collect::<Vec<_>>(),
        ["alert", "gateway:Live", "gateway:Paper", "guard", "persistence", "reconnect", "watchdog"]
    );
    for (name, actor) in &tree {
        assert_eq!(actor["alive"], true, "{name}: {actor}");
        assert_eq!(actor["status"], "running", "{name}: {actor}");
        let snapshot = &actor["snapshot"];
        assert!(snapshot.is_object() || snapshot.is_array(), "{name} has no snapshot: {actor}");
    }
    let paper = &tree["gateway:Paper"]["snapshot"];
    assert_eq!((paper["account"].as_str(), paper["state"]["state"].as_str()), (Some("Paper"), Some("connected")));
    let guard = &tree["guard"]["snapshot"];
    let gates = guard["gates"].as_array().unwrap();
    assert_eq!(gates.iter().map(|g| g["account"].as_str().unwrap()).collect::<Vec<_>>(), ["Live", "Paper"]);
    assert!(gates.iter().all(|g| g["state"] == "connected" && g["refusal"].is_null()), "{guard}");
    assert!(guard["meltdown_at"].is_null() && guard["counts"].as_array().unwrap().len() == 2, "{guard}");
    let persistence = &tree["persistence"]["snapshot"];
    assert!(persistence["database"].as_str().unwrap().ends_with("status.db"), "{persistence}");
    assert!(persistence["health"]["pending"].is_u64(), "{persistence}");
    let reconnect = tree["reconnect"]["snapshot"].as_array().unwrap();
    assert_eq!(reconnect.iter().map(|r| r["account"].as_str().unwrap()).collect::<Vec<_>>(), ["Paper", "Live"]);
    assert_eq!(tree["watchdog"]["snapshot"]["interval_ms"], 60_000);
    assert_eq!(tree["alert"]["snapshot"]["open_episodes"], json!([]));

    // A handler that does not return: the actor is alive (ractor runs it) but cannot answer.
    let gateway = service.handle().gateway("Paper").unwrap();
    gateway.send_message(GatewayMessage::Drill(Drill::Freeze(Duration::from_secs(3)))).unwrap();
    let tree = actors().await;
    let paper = &tree["gateway:Paper"];
    assert_eq!((paper["status"].as_str(), paper["alive"].as_bool()), (Some("unresponsive"), Some(true)), "{paper}");
    assert!(paper["snapshot"].is_null(), "{paper}");
    assert_eq!(tree["gateway:Live"]["status"], "running", "the others answer meanwhile");
    eventually(WAIT, "the frozen gateway answers again", || async {
        actors().await["gateway:Paper"]["status"] == "running"
    })
    .await;
    service.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let (_sim, service, addr) = start(json!({})).await;
    wait_state(&service, addr, 0, "connected").await;
    let (code, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition");
    let value = |metric: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
            .map(|s| s.value.clone())
            .unwrap_or_else(|| panic!("no {metric}{{{}={}}}", label.0, label.1))
    };
    assert_eq!(value("ibkr_account_usable", ("account", "Paper")), prometheus_parse::Value::Gauge(1.0));
    assert!(matches!(value("ibkr_guard_orders_total", ("outcome", "refused")), prometheus_parse::Value::Counter(_)));
    assert!(matches!(
        value("ibkr_actor_restarts_total", ("actor", "gateway:Paper")),
        prometheus_parse::Value::Counter(_)
    ));
    assert!(matches!(
        value("ibkr_loss_detection_window_seconds", ("account", "Paper")),
        prometheus_parse::Value::Histogram(_)
    ));
    let states: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "ibkr_account_state" && s.labels.get("account") == Some("Paper"))
        .collect();
    assert_eq!(states.len(), 6);
    assert_eq!(states.iter().filter(|s| s.value == prometheus_parse::Value::Gauge(1.0)).count(), 1);
    for name in ["ibkr_reconnect_attempts", "ibkr_probe_rtt_seconds", "ibkr_guard_ticks_total", "ibkr_meltdown"] {
        assert!(scrape.docs.contains_key(name), "{name} documented");
    }
    service.shutdown().await;
}

#[tokio::test]
async fn connect_ib_starts_one_attempt_and_refuses_what_it_must() {
    let (sim, service, addr) = start(json!({ "reconnect": { "auto": false, "manual_min_interval": "10s" } })).await;
    let attempted =
        service.handle().board().wait_for(Duration::from_millis(100), |b| b.accounts[0].reconnect_attempts > 0).await;
    assert!(attempted.is_err(), "no automatic attempt");
    let (_, status) = get_json(addr, "/status").await;
    assert_eq!(status["accounts"][0]["state"], "disconnected");

    let (code, body) = post(addr, "/connect_ib", r#"{"account":"Paper"}"#).await;
    assert_eq!(code, 202, "{body}");
    wait_state(&service, addr, 0, "connected").await;
    assert_eq!(sim.clients().len(), 1);
    let (code, body) = post(addr, "/connect_ib", r#"{"account":"Paper"}"#).await;
    assert_eq!(code, 409, "already connected: {body}");
    let (code, _) = post(addr, "/connect_ib", r#"{"account":"Live"}"#).await;
    assert_eq!(code, 202);
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    wait_state(&service, addr, 1, "disconnected").await;
    let (code, body) = post(addr, "/connect_ib", r#"{"account":"Live"}"#).await;
    assert_eq!(code, 429, "rate-limited: {body}");
    assert!(body["error"].as_str().unwrap().contains("retry"), "{body}");
    let (code, body) = post(addr, "/connect_ib", r#"{"account":"Nope"}"#).await;
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("Nope"));
    service.shutdown().await;
}

#[tokio::test]
async fn the_trading_switch_is_real() {
    let (sim, service, addr) = start(json!({})).await;
    wait_state(&service, addr, 0, "connected").await;
    let guard = service.handle().guard().clone();
    let place = |guard: &ibkr_supervisor::actors::Guard| buy_one(guard, "Paper");

    let (code, body) = post(addr, "/trading", r#"{"account":"Paper","active":false}"#).await;
    assert_eq!((code, body["active"].as_bool()), (200, Some(false)));
    let (_, status) = get_json(addr, "/status").await;
    assert_eq!(status["accounts"][0]["trading_active"], false);
    let mut rx = place(&guard);
    match tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap() {
        OrderEvent::Refused { reason, .. } => assert!(reason.to_string().starts_with("paused by operator")),
        other => panic!("a paused account's order must be refused: {other:?}"),
    }
    assert!(sim.orders().is_empty());

    let (code, _) = post(addr, "/trading", r#"{"account":"Paper","active":true}"#).await;
    assert_eq!(code, 200);
    let mut rx = place(&guard);
    assert!(matches!(tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap(), OrderEvent::Sent { .. }));
    eventually(WAIT, "the order reached the gateway", || async { sim.orders().len() == 1 }).await;

    // Activating an account that is not usable is refused, as the disabled button says.
    post(addr, "/trading", r#"{"account":"Live","active":false}"#).await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    wait_state(&service, addr, 1, "disconnected").await;
    let (code, body) = post(addr, "/trading", r#"{"account":"Live","active":true}"#).await;
    assert_eq!(code, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not usable"));
    assert_eq!(post(addr, "/trading", r#"{"account":"Nope","active":true}"#).await.0, 404);
    service.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_clear_4xx_answers() {
    let (_sim, service, addr) = start(json!({})).await;
    let cases: [(&str, &str, &[u8], u16, &str); 9] = [
        ("GET", "/connect_ib", b"", 405, "method not allowed"),
        ("DELETE", "/status", b"", 405, "method not allowed"),
        ("POST", "/connect_ib", b"{not json", 400, "must be JSON"),
        ("POST", "/connect_ib", br#"{"acount":"Paper"}"#, 400, "unknown field"),
        ("POST", "/trading", br#"{"account":"Paper","active":"yes"}"#, 400, "must be JSON"),
        ("GET", "/events?limit=0", b"", 400, "limit must be a whole number from 1 to 1000"),
        ("GET", "/events?since=yesterday", b"", 400, "RFC 3339"),
        ("GET", "/uptime?days=abc&x=1", b"", 400, "unknown query parameter"),
        ("GET", "/nothing-here", b"", 404, "no such endpoint"),
    ];
    for (method, path, body, expected, reason) in cases {
        let (code, text) = http(addr, method, path, Some(body)).await;
        assert_eq!(code, expected, "{method} {path}: {text}");
        assert!(text.contains(reason), "{method} {path}: {text:?} should say {reason:?}");
    }
    let huge = format!(r#"{{"account":"{}"}}"#, "x".repeat(20_000));
    assert_eq!(http(addr, "POST", "/connect_ib", Some(huge.as_bytes())).await.0, 413);
    service.shutdown().await;
}

#[tokio::test]
async fn off_loopback_every_post_needs_the_token() {
    let token = "s3cret-token-0123456789";
    let (_sim, service, addr) = start(json!({ "http": { "bind": "0.0.0.0:0", "token": token } })).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    let body = br#"{"account":"Paper","active":false}"#;
    let (code, text) = http(addr, "POST", "/trading", Some(body)).await;
    assert_eq!(code, 401, "{text}");
    let (code, _) = http_with_headers(addr, "POST", "/trading", Some(body), &[("Authorization", "Bearer wrong")]).await;
    assert_eq!(code, 403);
    let bearer = format!("Bearer {token}");
    let (code, text) =
        http_with_headers(addr, "POST", "/trading", Some(body), &[("Authorization", bearer.as_str())]).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(http(addr, "GET", "/status", None).await.0, 200, "reading needs no token");
    service.shutdown().await;
}

#[tokio::test]
async fn gateway_text_is_escaped_on_the_dashboard() {
    let (sim, service, addr) = start(json!({})).await;
    wait_state(&service, addr, 0, "connected").await;
    let hostile = r#"<script>alert("pwned")</script>"#;
    sim.inject(Fault::UpstreamLost { message: Some(hostile.into()) }, Some(sim.port(0))).unwrap();
    let status = wait_state(&service, addr, 0, "degraded").await;
    assert!(status["accounts"][0]["error_message"].as_str().unwrap().contains(hostile), "JSON carries it verbatim");
    let (code, page) = http(addr, "GET", "/trades/status", None).await;
    assert_eq!(code, 200);
    assert!(!page.contains("<script>alert"), "markup from the gateway must not reach the page raw");
    assert!(page.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"), "{page}");
    let (code, full) = http(addr, "GET", "/trades", None).await;
    assert_eq!(code, 200);
    assert!(full.contains(r#"<script src="/assets/htmx.min.js"></script>"#));
    assert!(!full.contains("<script>alert"));
    let (code, js) = http(addr, "GET", "/assets/htmx.min.js", None).await;
    assert_eq!(code, 200);
    assert!(js.starts_with("var htmx="), "htmx served by the binary, no CDN");
    service.shutdown().await;
}

#[tokio::test]
async fn events_and_uptime_come_from_the_database() {
    let (sim, service, addr) = start(json!({ "reconnect": { "schedule": ["50ms"] } })).await;
    wait_state(&service, addr, 0, "connected").await;
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&service, addr, 0, "disconnected").await;
    wait_state(&service, addr, 0, "connected").await;

    let kinds = || async {
        let (_, events) = get_json(addr, "/events?account=Paper&limit=100").await;
        events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    eventually(WAIT, "the loss and the reconnect are in the history", || async {
        let kinds = kinds().await;
        kinds.iter().any(|k| k == "lost") && kinds.iter().filter(|k| *k == "connected").count() >= 2
    })
    .await;
    let kinds = kinds().await;
    assert!(kinds.iter().any(|k| k == "lost"), "the loss is in the history: {kinds:?}");
    let (_, events) = get_json(addr, "/events?account=Paper&limit=100").await;
    assert!(events.as_array().unwrap().iter().all(|e| e["account"] == "Paper"));
    let (code, _) = get_json(addr, "/events?account=Nope").await;
    assert_eq!(code, 404);

    let (code, uptime) = get_json(addr, "/uptime?days=1").await;
    assert_eq!(code, 200);
    let accounts: Vec<&str> = uptime.as_array().unwrap().iter().map(|d| d["account"].as_str().unwrap()).collect();
    assert!(accounts.contains(&"Paper") && accounts.contains(&"Live"), "{uptime}");
    service.shutdown().await;
}

#[tokio::test]
async fn the_operator_switch_survives_a_restart() {
    let database = scratch_database();
    let (sim, service, addr) = start(json!({ "database": { "path": database } })).await;
    wait_state(&service, addr, 0, "connected").await;
    assert_eq!(post(addr, "/trading", r#"{"account":"Paper","active":false}"#).await.0, 200);
    service.shutdown().await;

    let settings =
        settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" }, "database": { "path": database } }));
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    let (_, status) = get_json(addr, "/status").await;
    assert_eq!(status["accounts"][0]["trading_active"], false, "still paused after the restart");
    assert_eq!(status["accounts"][1]["trading_active"], true);
    service.shutdown().await;
}

/// The demo's fault panel reaches the simulator through the `FaultPanel` seam; without the
/// demo there is no panel and no endpoint.
#[tokio::test]
async fn the_demo_fault_panel_injects_through_its_seam() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let settings = settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" } }));
    let panel = Arc::new(ibkr_supervisor::demo::SimFaultPanel(sim.clone()));
    let service = Service::start(settings, RunOptions { demo: Some(panel), ..Default::default() }).await.unwrap();
    let addr = service.http_addr();
    wait_state(&service, addr, 0, "connected").await;
    let (_, page) = http(addr, "GET", "/trades", None).await;
    assert!(page.contains(r#"id="demo""#) && page.contains(">drop</button>"), "the panel is on the page");
    let body = format!(r#"{{"kind":"drop","port":{}}}"#, sim.port(0));
    let (code, answer) = post(addr, "/demo/fault", &body).await;
    assert_eq!((code, answer["applied"].as_str()), (200, Some("drop")), "{answer}");
    wait_state(&service, addr, 0, "disconnected").await;
    let (code, answer) = post(addr, "/demo/fault", r#"{"kind":"meteor"}"#).await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("meteor"), "{answer}");
    service.shutdown().await;

    let (_sim, service, addr) = start(json!({})).await;
    let (_, page) = http(addr, "GET", "/trades", None).await;
    assert!(!page.contains(r#"id="demo""#), "no panel outside the demo");
    assert_eq!(post(addr, "/demo/fault", r#"{"kind":"drop"}"#).await.0, 404);
    service.shutdown().await;
}

/// Run options whose clock reads `now` at the start.
fn with_clock_at(now: chrono::DateTime<chrono::Utc>) -> RunOptions {
    use ibkr_supervisor::actors::clock::OffsetClock;
    use ibkr_supervisor::actors::StartOptions;
    let start = StartOptions { clock: Arc::new(OffsetClock::starting_at(now)), ..StartOptions::default() };
    RunOptions { start, ..Default::default() }
}

#[tokio::test]
async fn status_shows_the_next_reset_window_of_each_preset() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    // Tuesday 2026-06-02 04:14:50 UTC: 00:14:50 in New York (EDT), 06:14:50 in Zurich (CEST),
    // 12:14:50 in Hong Kong.
    let now = chrono::DateTime::parse_from_rfc3339("2026-06-02T04:14:50Z").unwrap().with_timezone(&chrono::Utc);
    for (preset, start, end) in [
        ("ib-north-america", "2026-06-02T04:15:00Z", "2026-06-02T05:45:00Z"), // 00:15-01:45 ET
        ("ib-europe", "2026-06-02T04:25:00Z", "2026-06-02T05:45:00Z"),        // 06:25-07:45 Zurich
        ("ib-asia", "2026-06-02T12:15:00Z", "2026-06-02T13:15:00Z"),          // 20:15-21:15 HK
    ] {
        let settings = settings_for(
            &sim.addrs(),
            json!({ "http": { "bind": "127.0.0.1:0" }, "reset_preset": preset, "guard": { "quiesce_before_reset": "0s" } }),
        );
        let service = Service::start(settings, with_clock_at(now)).await.unwrap();
        let (code, status) = get_json(service.http_addr(), "/status").await;
        assert_eq!(code, 200);
        assert_eq!(status["reset"]["current"], Value::Null, "{preset}: {}", status["reset"]);
        assert_eq!(status["reset"]["next"]["start"], start, "{preset}: {}", status["reset"]);
        assert_eq!(status["reset"]["next"]["end"], end, "{preset}: {}", status["reset"]);
        service.shutdown().await;
    }
}

/// Thursday 20:59 New York: `/status` and the dashboard show the next weekly login, Sunday
/// 01:00 EDT, counted from the server's clock.
#[tokio::test]
async fn status_and_dashboard_show_the_next_weekly_login() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567")).await.unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-06-12T00:59:00Z").unwrap().with_timezone(&chrono::Utc);
    let settings = settings_for(
        &sim.addrs(),
        json!({ "http": { "bind": "127.0.0.1:0" },
                "reauth": { "weekly": { "weekday": "sun", "time": "01:00", "timezone": "America/New_York" }, "grace": "20m" } }),
    );
    let service = Service::start(settings, with_clock_at(now)).await.unwrap();
    let (code, status) = get_json(service.http_addr(), "/status").await;
    assert_eq!(code, 200);
    let reauth = &status["reauth"];
    assert_eq!(reauth["next_login"]["at"], "2026-06-14T05:00:00Z", "{reauth}");
    assert_eq!(reauth["grace_seconds"], 1200, "{reauth}");
    assert_eq!(reauth["held_for_login"], json!([]), "{reauth}");
    let served_at = chrono::DateTime::parse_from_rfc3339(status["now"].as_str().unwrap()).unwrap();
    let login_at = chrono::DateTime::parse_from_rfc3339("2026-06-14T05:00:00Z").unwrap();
    assert_eq!(reauth["next_login"]["in_seconds"], (login_at - served_at).num_seconds(), "{reauth}");

    let (_, fragment) = http(service.http_addr(), "GET", "/trades/status", None).await;
    assert!(
        fragment.contains(r#"id="next-login">Next weekly login Sun 14 Jun 01:00 EDT, in <span data-until="2026-06-14T05:00:00+00:00">2 d 4 h</span>"#),
        "{fragment}"
    );
    assert!(fragment.contains("a gateway still down 20 m 0 s after it gets one"), "{fragment}");
    service.shutdown().await;
}
