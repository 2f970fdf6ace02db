//! `GET /status` under load, beside a warp hello-world measured in the same run by the same
//! client at the same concurrency (`cargo bench --bench http_status`).
//!
//! Servers, all in this process on 127.0.0.1 with free ports:
//! - the service (`Service::start`) supervising two simulated accounts, both connected;
//! - `warp::serve(warp::path!("hello").map(|| "hello"))`, the floor of what warp can do here;
//! - for reference, a warp route answering a constant copy of the `/status` body: the same bytes
//!   on the wire without the handler's work, which tells the payload's cost from the handler's.
//!
//! Client: a hand-written HTTP/1.1 keep-alive load generator on tokio: `HTTP_CONNECTIONS`
//! connections (default 32), each sending its next request as soon as the previous response
//! (read by its Content-Length) is complete, for `HTTP_SECONDS` (default 5) per target after a
//! 1 s warm-up, the targets alternating in 1 s slices so that all see the same machine. Latency
//! is per request, from the write to the last body byte. Client and servers share the
//! machine's cores, identically for every target.
//!
//! Goals: `/status` >= 70 % of hello-world's requests/s, and `/status` p99 <= 5 ms. The process
//! exits 0 even when a goal is missed: it is a measurement, and the verdicts are printed.

#[path = "support/mod.rs"]
mod support;

use support::{env_count, verdict};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warp::Filter;

const WARMUP: Duration = Duration::from_secs(1);
const RATIO_GOAL: f64 = 0.70;
const P99_GOAL: Duration = Duration::from_millis(5);

fn main() {
    let connections = env_count("HTTP_CONNECTIONS", 32);
    let seconds = env_count("HTTP_SECONDS", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(run(connections, Duration::from_secs(seconds as u64)));
}

async fn run(connections: usize, duration: Duration) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321"))
        .await
        .expect("the simulator starts");
    let db = tempfile::tempdir().expect("a temp dir");
    let settings = serde_json::json!({
        "accounts": [
            { "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1 },
            { "name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": sim.port(1), "client_id": 2 },
        ],
        "heartbeat": { "interval": "5s", "probe_timeout": "2s", "connect_timeout": "5s" },
        "http": { "bind": "127.0.0.1:0" },
        "database": { "path": db.path().join("bench.db") },
        "reset_time": null,
    });
    let settings = Settings::from_json_str(&settings.to_string()).expect("bench settings are valid");
    let service = Service::start(settings, RunOptions::default()).await.expect("the service starts");
    let status_addr = service.http_addr();

    // Both accounts connected before measuring.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let board = service.handle().board().snapshot();
        if board.accounts.iter().all(|a| a.connected()) {
            break;
        }
        if Instant::now() > deadline {
            println!("ABORTED: the accounts did not connect to the simulator within 10 s");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status_body = one_body(status_addr, "/status").await;

    // The reference: warp's hello-world. And, to tell the payload's cost from the handler's, a
    // warp route answering a constant copy of that /status body (same bytes on the wire, no work).
    let hello_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let hello_addr = hello_listener.local_addr().unwrap();
    tokio::spawn(warp::serve(warp::path!("hello").map(|| "hello")).incoming(hello_listener).run());
    let fixed: &'static str = String::from_utf8(status_body.clone()).expect("UTF-8 JSON").leak();
    let fixed_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let fixed_addr = fixed_listener.local_addr().unwrap();
    let fixed_route =
        warp::path!("fixed").map(move || warp::reply::with_header(fixed, "content-type", "application/json"));
    tokio::spawn(warp::serve(fixed_route).incoming(fixed_listener).run());
    let hello_body = one_body(hello_addr, "/hello").await;

    println!(
        "command:      cargo bench --bench http_status   (HTTP_CONNECTIONS={connections} HTTP_SECONDS={})",
        duration.as_secs()
    );
    println!(
        "client:       {connections} keep-alive HTTP/1.1 connections, back-to-back requests, {} s per target",
        duration.as_secs()
    );
    println!("              in alternating 1 s slices, after a {} s warm-up per target", WARMUP.as_secs());
    println!(
        "machine:      {} CPUs (client and servers share them)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("/status:      http://{status_addr}/status, two accounts connected, {} byte JSON body", status_body.len());
    println!("hello-world:  http://{hello_addr}/hello, {} byte body", hello_body.len());
    println!(
        "fixed-body:   http://{fixed_addr}/fixed, warp answering a constant copy of that /status body (for reference)"
    );
    println!("load average: {} (other processes share the cores: a busy machine widens the tails)", load_average());
    println!();

    // Warm every target, then alternate one-second slices so that all see the same machine
    // (other processes on a shared CI box come and go).
    let targets = [
        ("hello-world", hello_addr, "/hello"),
        ("/status", status_addr, "/status"),
        ("fixed-body", fixed_addr, "/fixed"),
    ];
    for (_, addr, path) in targets {
        load(addr, path, connections, WARMUP).await;
    }
    let slices = duration.as_secs().max(1) as u32;
    let slice = duration / slices;
    let mut results: Vec<Load> = targets.iter().map(|_| Load::default()).collect();
    for _ in 0..slices {
        for ((_, addr, path), result) in targets.iter().zip(&mut results) {
            result.merge(load(*addr, path, connections, slice).await);
        }
    }
    for result in &mut results {
        result.latencies.sort_unstable();
    }

    println!(
        "{:<14} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "target", "requests", "req/s", "p50", "p90", "p99", "max", "errors"
    );
    for ((name, _, _), result) in targets.iter().zip(&results) {
        println!(
            "{:<14} {:>10} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>7}",
            name,
            result.latencies.len(),
            result.rps(),
            fmt(result.percentile(0.50)),
            fmt(result.percentile(0.90)),
            fmt(result.percentile(0.99)),
            fmt(result.percentile(1.0)),
            result.errors
        );
    }
    let (hello, status, fixed) = (&results[0], &results[1], &results[2]);
    let ratio = status.rps() / hello.rps().max(f64::MIN_POSITIVE);
    let p99 = status.percentile(0.99);
    println!();
    println!(
        "/status / hello-world req/s: {:.1} %   goal >= {:.0} %   {}",
        ratio * 100.0,
        RATIO_GOAL * 100.0,
        verdict(ratio >= RATIO_GOAL && status.errors == 0)
    );
    println!(
        "/status p99: {}   goal <= {}   {}",
        fmt(p99),
        fmt(P99_GOAL),
        verdict(p99 <= P99_GOAL && status.errors == 0)
    );
    let share = |a: &Load, b: &Load| a.rps() / b.rps().max(f64::MIN_POSITIVE) * 100.0;
    println!("reference: fixed-body / hello-world req/s: {:.1} % (the cost of the payload alone)", share(fixed, hello));
    println!(
        "reference: /status / fixed-body req/s:     {:.1} % (the cost of the handler alone)",
        share(status, fixed)
    );
    println!("load average after: {}", load_average());

    service.shutdown().await;
    sim.shutdown();
}

/// `/proc/loadavg`'s first three fields, or "unknown".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

#[derive(Default)]
struct Load {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Load {
    fn merge(&mut self, other: Load) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[index]
    }
}

/// `connections` keep-alive connections hammering `path` for `duration`.
async fn load(addr: SocketAddr, path: &str, connections: usize, duration: Duration) -> Load {
    let request: &'static [u8] = Box::leak(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n").into_bytes().into_boxed_slice(),
    );
    let start = Instant::now();
    let until = start + duration;
    let tasks: Vec<_> = (0..connections).map(|_| tokio::spawn(connection(addr, request, until))).collect();
    let mut result = Load::default();
    for task in tasks {
        let (latencies, errors) = task.await.expect("a load task");
        result.latencies.extend(latencies);
        result.errors += errors;
    }
    result.elapsed = start.elapsed();
    result
}

/// One connection: request, full response, next request, until `until`. (latencies, errors)
async fn connection(addr: SocketAddr, request: &'static [u8], until: Instant) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(64 * 1024);
    let mut errors = 0;
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    while Instant::now() < until {
        if stream.is_none() {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    s.set_nodelay(true).unwrap();
                    stream = Some(s);
                    buf.clear();
                }
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let s = stream.as_mut().unwrap();
        let sent = Instant::now();
        match exchange(s, request, &mut buf).await {
            Ok(200) => latencies.push(sent.elapsed()),
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                stream = None;
            }
        }
    }
    (latencies, errors)
}

/// Write one request and read its response (Content-Length framed); the status code.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 head"))?;
            let status: u16 =
                head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status line"))?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| bad("no Content-Length"))?;
            let total = end + 4 + length;
            while buf.len() < total {
                read_more(stream, buf).await?;
            }
            buf.drain(..total);
            return Ok(status);
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// One response body, to print its size and check the route answers.
async fn one_body(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response") + 4;
    assert!(response.starts_with(b"HTTP/1.1 200"), "{path}: {}", String::from_utf8_lossy(&response));
    response.split_off(end)
}
