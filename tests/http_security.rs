//! The operator's surface against an attacker, on real ports: no web page can change state
//! (415 for bodies a form can send, 403 across origins), no foreign `Host` is answered (421,
//! DNS rebinding), for the supervisor, the demo's fault route and the simulator's control API;
//! and a flood of idle and slow-header sockets never keeps `/healthz` from answering.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ibkr_supervisor::sim::{SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

async fn start(overrides: Value, demo: bool) -> (Simulator, Service, SocketAddr) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let mut over = json!({ "http": { "bind": "127.0.0.1:0" } });
    if let (Some(base), Value::Object(extra)) = (over.as_object_mut(), overrides) {
        for (k, v) in extra {
            match (base.get_mut(&k), v) {
                (Some(Value::Object(b)), Value::Object(v)) => b.extend(v),
                (_, v) => {
                    base.insert(k, v);
                }
            }
        }
    }
    let options = RunOptions {
        demo: demo.then(|| {
            Arc::new(ibkr_supervisor::demo::SimFaultPanel(sim.clone())) as Arc<dyn ibkr_supervisor::http::FaultPanel>
        }),
        ..Default::default()
    };
    let service = Service::start(settings_for(&sim.addrs(), over), options).await.unwrap();
    let addr = service.http_addr();
    (sim, service, addr)
}

/// One request written by hand (so every header is exactly what a browser or attacker sends),
/// `Connection: close`: (status, body).
async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await.expect("answered").unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// Content types a page can send without a CORS preflight, and cross-site markers, on `path`.
async fn refuses_what_a_page_can_send(addr: SocketAddr, path: &str, body: &str) {
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"] {
        let (code, text) = raw(addr, "POST", path, &[("content-type", content_type)], body).await;
        assert_eq!(code, 415, "{path} {content_type}: {text}");
        assert!(text.contains("application/json"), "{text}");
    }
    let (code, text) = raw(addr, "POST", path, &[], body).await;
    assert_eq!(code, 415, "{path} without Content-Type: {text}");
    let cross: [&[(&str, &str)]; 4] = [
        &[JSON, ("origin", "https://evil.example")],
        &[JSON, ("origin", "null")],
        &[JSON, ("sec-fetch-site", "cross-site")],
        &[JSON, ("sec-fetch-site", "same-site")],
    ];
    for headers in cross {
        let (code, text) = raw(addr, "POST", path, headers, body).await;
        assert_eq!(code, 403, "{path} {headers:?}: {text}");
        assert!(text.contains("cross-origin request refused"), "{text}");
    }
    // text/plain from evil.example: the exact request a hostile page's fetch() makes.
    let (code, _) =
        raw(addr, "POST", path, &[("content-type", "text/plain"), ("origin", "https://evil.example")], body).await;
    assert!(code == 403 || code == 415, "{code}");
}

async fn refuses_foreign_hosts(addr: SocketAddr, get: &str, post: &str, body: &str, key: &str) {
    for host in ["evil.example", "evil.example:8080", "127.0.0.1.nip.io"] {
        let (code, text) = raw(addr, "GET", get, &[("host", host)], "").await;
        assert_eq!(code, 421, "GET {get} Host {host}: {text}");
        assert!(text.contains(key), "the answer names {key}: {text}");
        let (code, _) = raw(addr, "POST", post, &[("host", host), JSON], body).await;
        assert_eq!(code, 421, "POST {post} Host {host}");
    }
    for host in [format!("localhost:{}", addr.port()), format!("127.0.0.1:{}", addr.port())] {
        assert_eq!(raw(addr, "GET", get, &[("host", &host)], "").await.0, 200, "{host}");
    }
}

#[tokio::test]
async fn no_web_page_can_flip_the_trading_switch() {
    let (_sim, service, addr) = start(json!({}), true).await;
    let pause = r#"{"account":"Paper","active":false}"#;
    refuses_what_a_page_can_send(addr, "/trading", pause).await;
    refuses_what_a_page_can_send(addr, "/connect_ib", r#"{"account":"Paper"}"#).await;
    refuses_what_a_page_can_send(addr, "/demo/fault", r#"{"kind":"drop"}"#).await;
    assert!(!service.handle().guard().is_paused("Paper"), "none of them paused trading");
    // The dashboard's own request (same origin, JSON) and a script without a browser (curl) work.
    let own = [JSON, ("origin", &*format!("http://{addr}")), ("sec-fetch-site", "same-origin")];
    let (code, text) = raw(addr, "POST", "/trading", &own, pause).await;
    assert_eq!(code, 200, "{text}");
    assert!(service.handle().guard().is_paused("Paper"));
    let (code, text) = raw(addr, "POST", "/trading", &[JSON], r#"{"account":"Paper","active":true}"#).await;
    assert!(code == 200 || code == 409, "curl reaches the handler: {code} {text}");
    service.shutdown().await;
}

#[tokio::test]
async fn the_token_stays_on_top_of_the_origin_checks() {
    let token = "s3cret-token-0123456789";
    let (_sim, service, addr) = start(json!({ "http": { "token": token } }), false).await;
    let body = r#"{"account":"Paper","active":false}"#;
    let bearer = format!("Bearer {token}");
    let lower = format!("bearer {token}");
    let (code, text) =
        raw(addr, "POST", "/trading", &[("content-type", "text/plain"), ("authorization", &bearer)], body).await;
    assert_eq!(code, 415, "a token does not make a form post acceptable: {text}");
    assert_eq!(raw(addr, "POST", "/trading", &[JSON], body).await.0, 401);
    let wrong = format!("Bearer {token}x");
    assert_eq!(raw(addr, "POST", "/trading", &[JSON, ("authorization", &wrong)], body).await.0, 403);
    assert_eq!(raw(addr, "POST", "/trading", &[JSON, ("authorization", "Bearer short")], body).await.0, 403);
    let (code, text) = raw(addr, "POST", "/trading", &[JSON, ("authorization", &lower)], body).await;
    assert_eq!(code, 200, "the scheme is case-insensitive (RFC 9110): {text}");
    service.shutdown().await;
}

#[tokio::test]
async fn a_foreign_host_is_misdirected_on_every_route() {
    let (_sim, service, addr) = start(json!({ "http": { "allowed_hosts": ["trader.lan"] } }), true).await;
    refuses_foreign_hosts(addr, "/status", "/trading", r#"{"account":"Paper","active":false}"#, "http.allowed_hosts")
        .await;
    for path in ["/events", "/trades", "/healthz", "/metrics"] {
        assert_eq!(raw(addr, "GET", path, &[("host", "evil.example")], "").await.0, 421, "{path}");
    }
    assert_eq!(raw(addr, "POST", "/demo/fault", &[("host", "evil.example"), JSON], r#"{"kind":"drop"}"#).await.0, 421);
    assert!(!service.handle().guard().is_paused("Paper"));
    let (code, _) = raw(addr, "GET", "/status", &[("host", "Trader.LAN:8080")], "").await;
    assert_eq!(code, 200, "a name in http.allowed_hosts is answered");
    let (_, metrics) = raw(addr, "GET", "/metrics", &[], "").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("ibkr_http_requests_refused_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    service.shutdown().await;
}

#[tokio::test]
async fn the_simulator_control_api_has_the_same_protections() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567")).await.unwrap();
    let control = sim.serve_control("127.0.0.1:0".parse().unwrap()).await.unwrap();
    refuses_what_a_page_can_send(control, "/sim/fault", r#"{"kind":"drop"}"#).await;
    refuses_what_a_page_can_send(control, "/sim/price", r#"{"symbol":"AAPL","price":100}"#).await;
    refuses_foreign_hosts(control, "/sim/state", "/sim/fault", r#"{"kind":"clear"}"#, "the simulator answers only")
        .await;
    let (code, text) = raw(control, "POST", "/sim/fault", &[JSON], r#"{"kind":"clear"}"#).await;
    assert_eq!(code, 200, "{text}");
    sim.shutdown();
}

/// More idle sockets and slow-header sockets than `http.max_connections`: `/healthz` answers
/// throughout (the longest-idle connection makes room), the slow ones are closed by the
/// header-read timeout, the idle ones by the idle timeout, and never more than the cap are open.
#[tokio::test]
async fn a_flood_of_idle_and_slow_sockets_never_stops_healthz() {
    let cap = 8;
    let (_sim, service, addr) = start(
        json!({ "http": { "max_connections": cap, "header_read_timeout": "500ms", "idle_timeout": "1500ms" } }),
        false,
    )
    .await;
    let opened = tokio::time::Instant::now();
    let mut slow = Vec::new();
    for _ in 0..cap * 2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-slow: ").as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let mut idle = Vec::new();
    for _ in 0..cap * 2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    for round in 0..cap * 3 {
        let (code, body) = raw(addr, "GET", "/healthz", &[], "").await;
        assert_eq!((code, body.as_str()), (200, r#"{"status":"alive"}"#), "round {round}");
    }
    let (_, metrics) = raw(addr, "GET", "/metrics", &[], "").await;
    let open: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ibkr_http_connections_open "))
        .and_then(|v| v.parse().ok())
        .expect("the gauge is exported");
    assert!(open as usize <= cap as usize, "never more than the cap open: {open}");

    // Every flood socket is closed by the server: read returns end-of-file or a reset.
    let mut closed_at = Vec::new();
    for mut stream in slow.into_iter().chain(idle) {
        let mut buf = [0u8; 256];
        let ended = tokio::time::timeout(WAIT, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 or 400 answer before the close is fine
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "a flood socket was still open {WAIT:?} later");
        closed_at.push(opened.elapsed());
    }
    // A slow-header socket that was not evicted lasts at least its timeout: the cap alone did
    // not close everything at once.
    assert!(closed_at.iter().any(|t| *t >= Duration::from_millis(500)), "{closed_at:?}");
    let (code, _) = raw(addr, "GET", "/healthz", &[], "").await;
    assert_eq!(code, 200, "and the server is still there");
    service.shutdown().await;
}

/// The dashboard cannot be framed and runs scripts from this server only (no inline script,
/// no inline handler: its buttons carry `data-post`).
#[tokio::test]
async fn the_dashboard_cannot_be_framed_and_runs_only_its_own_scripts() {
    let (_sim, service, addr) = start(json!({}), true).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /trades HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, page) = answer.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-frame-options: deny"), "{head}");
    let csp = head.lines().find_map(|l| l.strip_prefix("content-security-policy: ")).expect("a CSP");
    for directive in ["frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(!page.contains("onclick=") && !page.contains("<script>"), "no inline script on the page");
    assert!(page.contains(r#"<script src="/assets/dashboard.js"></script>"#), "{page}");
    assert!(page.contains(r#"data-post="/trading""#) && page.contains(r#"data-post="/demo/fault""#));
    service.shutdown().await;
}
