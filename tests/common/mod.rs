//! Fixtures shared by the integration tests: a simulator on free loopback ports, an ibapi
//! client configured as the supervisor configures it, a raw TWS socket for wire-level checks,
//! and `eventually` for waiting on a condition with a deadline.
#![allow(dead_code)]

pub mod engine;
pub mod proxy;
pub mod python;
pub mod smtp;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use ibapi::prelude::*;
use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ACCOUNT: &str = "DU1234567";

/// A simulator with one listener, fast fills and ticks.
pub async fn sim() -> Simulator {
    sim_with(SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(10),
        seed: Some(7),
        ..SimOptions::default()
    })
    .await
}

pub async fn sim_with(options: SimOptions) -> Simulator {
    Simulator::start(SimConfig::default().loopback(ACCOUNT).options(options)).await.expect("simulator starts")
}

/// A simulator with two listeners, a paper ("DU1234567") and a live ("U7654321") account.
pub async fn two_gateways_with(options: SimOptions) -> Simulator {
    Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321").options(options))
        .await
        .expect("the simulator starts")
}

/// [`two_gateways_with`] the default options.
pub async fn two_gateways() -> Simulator {
    two_gateways_with(SimOptions::default()).await
}

/// The `accounts` of a settings file for the simulator's listeners: "Paper", "Live", client
/// ids 1 and 2, no fallbacks.
pub fn listener_accounts(sim: &Simulator) -> Vec<serde_json::Value> {
    ["Paper", "Live"]
        .iter()
        .zip(sim.addrs())
        .enumerate()
        .map(|(i, (name, addr))| {
            serde_json::json!({ "name": name, "paper_trading": i == 0, "host": "127.0.0.1", "port": addr.port(), "client_id": 1 + i })
        })
        .collect()
}

/// An ibapi async client as the supervisor builds it: no reconnects of its own, a bounded
/// one-shot timeout, and the notice stream bound before the handshake.
pub async fn connect(addr: SocketAddr, client_id: i32) -> (Client, NoticeStream) {
    try_connect(addr, client_id).await.expect("ibapi connects to the simulator")
}

pub async fn try_connect(addr: SocketAddr, client_id: i32) -> Result<(Client, NoticeStream), ibapi::Error> {
    tokio::time::timeout(
        Duration::from_secs(5),
        Client::builder()
            .address(addr.to_string())
            .client_id(client_id)
            .max_reconnect_attempts(0)
            .one_shot_timeout(Duration::from_millis(500))
            .connect_with_notice_stream(),
    )
    .await
    .expect("connect does not hang")
}

/// Poll `check` until it returns true or `within` elapses.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Next notice with one of `codes`, skipping others, within `within`.
pub async fn notice_with(notices: &mut NoticeStream, codes: &[i32], within: Duration) -> Notice {
    tokio::time::timeout(within, async {
        loop {
            match notices.next().await {
                Some(n) if codes.contains(&n.code) => return n,
                Some(_) => continue,
                None => panic!("notice stream ended while waiting for {codes:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no notice {codes:?} within {within:?}"))
}

/// A TWS socket driven by hand, for checks below what a client library shows.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).unwrap();
        Self { stream }
    }

    /// Send `API\0` + the version string.
    pub async fn send_prefix(&mut self, versions: &str) {
        let mut bytes = b"API\0".to_vec();
        bytes.extend_from_slice(&(versions.len() as u32).to_be_bytes());
        bytes.extend_from_slice(versions.as_bytes());
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// Read the handshake reply: (server version, connection time).
    pub async fn read_handshake(&mut self) -> std::io::Result<(i32, String)> {
        let body = self.read_body().await?;
        let text = String::from_utf8(body).unwrap();
        let mut fields = text.split_terminator('\0');
        let version = fields.next().unwrap().parse().unwrap();
        Ok((version, fields.next().unwrap_or_default().to_owned()))
    }

    /// Full session start with `client_id`; returns the frames up to NextValidId.
    pub async fn start(addr: SocketAddr, client_id: u8) -> Self {
        let mut client = Self::connect(addr).await;
        client.send_prefix("v213..226").await;
        client.read_handshake().await.unwrap();
        client.send_frame(271, &[0x08, client_id]).await;
        loop {
            let (id, _) = client.read_frame().await.unwrap();
            if id == 209 {
                return client;
            }
        }
    }

    pub async fn send_frame(&mut self, wire_id: i32, payload: &[u8]) {
        let mut bytes = ((payload.len() + 4) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&wire_id.to_be_bytes());
        bytes.extend_from_slice(payload);
        self.stream.write_all(&bytes).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// One frame: (wire id, payload).
    pub async fn read_frame(&mut self) -> std::io::Result<(i32, Vec<u8>)> {
        let mut body = self.read_body().await?;
        let payload = body.split_off(4);
        Ok((i32::from_be_bytes([body[0], body[1], body[2], body[3]]), payload))
    }

    async fn read_body(&mut self) -> std::io::Result<Vec<u8>> {
        let len = self.stream.read_u32().await? as usize;
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await?;
        Ok(body)
    }

    /// Read until the peer closes: Ok(()) on FIN, the error on RST.
    pub async fn read_to_close(&mut self) -> std::io::Result<()> {
        let mut sink = Vec::new();
        self.stream.read_to_end(&mut sink).await.map(|_| ())
    }
}

/// Decode an ErrorMessage payload's (id, code, message) — fields 1, 3, 4.
pub fn error_fields(payload: &[u8]) -> (i64, i64, String) {
    let (mut id, mut code, mut msg) = (0, 0, String::new());
    let mut buf = payload;
    while !buf.is_empty() {
        let key = read_varint(&mut buf);
        match (key >> 3, key & 7) {
            (field, 0) => {
                let v = read_varint(&mut buf) as i64;
                match field {
                    1 => id = v as i32 as i64,
                    3 => code = v,
                    _ => {}
                }
            }
            (field, 2) => {
                let len = read_varint(&mut buf) as usize;
                if field == 4 {
                    msg = String::from_utf8_lossy(&buf[..len]).into_owned();
                }
                buf = &buf[len..];
            }
            (_, 1) => buf = &buf[8..],
            (_, 5) => buf = &buf[4..],
            other => panic!("unexpected wire type {other:?}"),
        }
    }
    (id, code, msg)
}

fn read_varint(buf: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = buf[0];
        *buf = &buf[1..];
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// One HTTP/1.1 request with `ureq` (on a blocking thread, so the server's runtime keeps
/// running): (status, body). Every status is an answer, 4xx and 5xx included.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    http_with_headers(addr, method, path, body, &[]).await
}

pub async fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let (method, url) = (method.to_owned(), format!("http://{addr}{path}"));
    let body = body.unwrap_or_default().to_vec();
    let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut request =
            ureq::http::Request::builder().method(method.as_str()).uri(&url).header("content-type", "application/json");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request.body(body).expect("a well-formed request");
        let mut response = agent.run(request).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let text = response.body_mut().read_to_vec().unwrap_or_else(|e| panic!("{method} {url}: body: {e}"));
        (response.status().as_u16(), String::from_utf8_lossy(&text).into_owned())
    })
    .await
    .expect("the HTTP request ran")
}

// ---- supervision fixtures ------------------------------------------------------------------

use std::sync::{Arc, Mutex};

use ibapi::orders::{order_builder, Action};
use ibkr_supervisor::actors::status::EventPort;
use ibkr_supervisor::actors::{EventKind, OrderEvent, OrderRequest, StatusEvent};
use ibkr_supervisor::settings::Settings;
use tokio::sync::mpsc::UnboundedReceiver;

/// Settings for accounts "Paper" and "Live" on the given simulator listeners, with fast
/// millisecond timings; `overrides` is merged over them (objects merge, other values replace).
pub fn settings_for(addrs: &[SocketAddr], overrides: serde_json::Value) -> Settings {
    let names = ["Paper", "Live"];
    let accounts: Vec<serde_json::Value> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            serde_json::json!({
                "name": names.get(i).map(|n| n.to_string()).unwrap_or_else(|| format!("Account{i}")),
                "paper_trading": i == 0,
                "host": addr.ip().to_string(),
                "port": addr.port(),
                "client_id": 1 + i as i32,
                "fallback_client_ids": [11 + i as i32, 21 + i as i32],
            })
        })
        .collect();
    let mut base = serde_json::json!({
        "accounts": accounts,
        "heartbeat": { "interval": "60s", "probe_timeout": "200ms", "connect_timeout": "500ms" },
        "reconnect": { "auto": true, "schedule": ["50ms"], "jitter": 0.0, "manual_min_interval": "0s" },
        "reset_time": null,
        // Off: the tests run on the system clock on any day, and on a Sunday every outage
        // would be the weekly login's. The tests of the weekly login turn it on.
        "reauth": { "weekly": null },
        "supervisor": { "max_restarts": 5, "restart_window": "60s", "stuck_margin": "200ms" },
        "database": { "path": scratch_database() },
    });
    merge(&mut base, overrides);
    Settings::from_json_str(&base.to_string()).expect("test settings are valid")
}

/// A database path of its own for every supervisor a test starts (kept under the system temp
/// directory; the files are small).
pub fn scratch_database() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join("ibkr-supervisor-tests").join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("status.db").to_string_lossy().into_owned()
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// Place a buy limit order for 1 AAPL at 100 on `account` through the guard; every event of
/// the order arrives on the returned receiver (a refusal at once).
pub fn buy_one(guard: &ibkr_supervisor::actors::Guard, account: &str) -> UnboundedReceiver<OrderEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    guard.place_order(OrderRequest {
        account: account.into(),
        order_id: None,
        contract: Contract::stock("AAPL").build(),
        order: order_builder::limit_order(Action::Buy, 1.0, 100.0),
        sink: Arc::new(move |e| tx.send(e).is_ok()),
    });
    rx
}

/// Every status event published after `record` was called.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<StatusEvent>>>);

struct Recorder;

impl ractor::Actor for Recorder {
    type Msg = StatusEvent;
    type State = Events;
    type Arguments = Events;

    async fn pre_start(
        &self,
        _: ractor::ActorRef<StatusEvent>,
        events: Events,
    ) -> Result<Events, ractor::ActorProcessingErr> {
        Ok(events)
    }

    async fn handle(
        &self,
        _: ractor::ActorRef<StatusEvent>,
        event: StatusEvent,
        events: &mut Events,
    ) -> Result<(), ractor::ActorProcessingErr> {
        events.0.lock().unwrap().push(event);
        Ok(())
    }
}

impl Events {
    pub async fn record(port: &EventPort) -> Events {
        let events = Events::default();
        let (recorder, _) = ractor::Actor::spawn(None, Recorder, events.clone()).await.unwrap();
        port.subscribe(recorder, Some);
        events
    }

    pub fn all(&self) -> Vec<StatusEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn of(&self, account: &str) -> Vec<StatusEvent> {
        self.all().into_iter().filter(|e| e.account == account).collect()
    }

    /// (time, attempt, client id) of every attempt started for `account`.
    pub fn attempts(&self, account: &str) -> Vec<(chrono::DateTime<chrono::Utc>, u32, i32)> {
        self.of(account)
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::AttemptStarted { attempt, client_id } => Some((e.at, attempt, client_id)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, account: &str, matches: impl Fn(&EventKind) -> bool) -> usize {
        self.of(account).iter().filter(|e| matches(&e.kind)).count()
    }
}

// ---- the classic text protocol ---------------------------------------------------------------

/// A TWS socket speaking the text protocol (server versions below 201: text message ids).
pub struct TextClient {
    pub raw: RawClient,
}

impl TextClient {
    /// Connect announcing `range` (e.g. `v157..178`), read the handshake, send a text StartApi
    /// for `client_id`; returns once NextValidId arrived, with the server version.
    pub async fn start(addr: SocketAddr, range: &str, client_id: i32) -> (Self, i32) {
        let mut raw = RawClient::connect(addr).await;
        raw.send_prefix(range).await;
        let (version, _) = raw.read_handshake().await.expect("handshake reply");
        let mut client = Self { raw };
        client.send(&["71", "2", &client_id.to_string(), ""]).await;
        client.until(|f| f[0] == "9").await;
        (client, version)
    }

    /// Send one message: `fields[0]` is the message id, every field NUL-terminated.
    pub async fn send(&mut self, fields: &[&str]) {
        let body: Vec<u8> = fields.iter().flat_map(|f| f.bytes().chain([0])).collect();
        self.raw.send_raw(&((body.len() as u32).to_be_bytes())).await;
        self.raw.send_raw(&body).await;
    }

    /// Send an already-built body behind a length prefix.
    pub async fn send_body(&mut self, body: &[u8]) {
        self.raw.send_raw(&((body.len() as u32).to_be_bytes())).await;
        self.raw.send_raw(body).await;
    }

    /// The next message's fields, the message id first.
    pub async fn read(&mut self) -> std::io::Result<Vec<String>> {
        let len = self.raw.stream.read_u32().await? as usize;
        let mut body = vec![0; len];
        self.raw.stream.read_exact(&mut body).await?;
        let text = String::from_utf8(body).expect("text frames are UTF-8");
        let mut fields: Vec<String> = text.split('\0').map(str::to_owned).collect();
        assert_eq!(fields.pop().as_deref(), Some(""), "every field is NUL-terminated: {text:?}");
        Ok(fields)
    }

    /// The next message matching `wanted`, skipping others, within 5 s.
    pub async fn until(&mut self, wanted: impl Fn(&[String]) -> bool) -> Vec<String> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let fields = self.read().await.expect("a frame");
                if wanted(&fields) {
                    return fields;
                }
            }
        })
        .await
        .expect("the expected message within 5 s")
    }

    /// The next error message (id 4) with `code`: its fields.
    pub async fn error_with(&mut self, code: i32) -> Vec<String> {
        let code = code.to_string();
        self.until(|f| f[0] == "4" && f.iter().skip(2).take(2).any(|c| *c == code)).await
    }
}
