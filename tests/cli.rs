//! The `ibkr-supervisor` binary as an operator runs it: `--once` exit codes against gateways up
//! and down, SIGTERM shutdown within 2 s, flag mistakes exiting 2.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ibkr-supervisor");

async fn two_gateways() -> Simulator {
    Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap()
}

/// A settings file for the simulator's listeners, in a temp dir that lives as long as the guard.
fn config_file(sim: &Simulator, overrides: serde_json::Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let accounts: Vec<_> = ["Paper", "Live"]
        .iter()
        .zip(sim.addrs())
        .enumerate()
        .map(|(i, (name, addr))| {
            json!({ "name": name, "paper_trading": i == 0, "host": "127.0.0.1", "port": addr.port(), "client_id": 1 + i })
        })
        .collect();
    let mut settings = json!({
        "accounts": accounts,
        "heartbeat": { "interval": "100ms", "probe_timeout": "200ms", "connect_timeout": "500ms" },
        "reconnect": { "schedule": ["50ms"] },
        "reset_time": null,
        "database": { "path": dir.path().join("status.db") },
    });
    if let (Some(base), serde_json::Value::Object(over)) = (settings.as_object_mut(), overrides) {
        base.extend(over);
    }
    std::fs::write(&path, settings.to_string()).unwrap();
    (dir, path)
}

async fn run_once(path: &PathBuf) -> (i32, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(BIN).arg("--config").arg(path).arg("--once").kill_on_drop(true).output(),
    )
    .await
    .expect("--once is bounded by the connect timeout")
    .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn once_exits_0_when_every_account_is_connected() {
    let sim = two_gateways().await;
    let (_dir, path) = config_file(&sim, json!({}));
    let (code, stdout) = run_once(&path).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ✅"), "{stdout}");
    eventually(Duration::from_secs(5), "both sessions closed after --once", || async { sim.clients().is_empty() })
        .await;
}

#[tokio::test]
async fn once_exits_1_naming_the_account_that_is_down() {
    let sim = two_gateways().await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    let (_dir, path) = config_file(&sim, json!({}));
    let (code, stdout) = run_once(&path).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("Paper ✅ | Live ❌"), "{stdout}");
    assert!(stdout.contains("Live: ") && stdout.to_lowercase().contains("refused"), "{stdout}");

    // A gateway that accepts TCP but never answers: --once still ends, bounded.
    sim.inject(Fault::Clear, None).unwrap();
    sim.inject(Fault::StallHandshake, Some(sim.port(0))).unwrap();
    let started = Instant::now();
    let (code, stdout) = run_once(&path).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("Paper ❌ | Live ✅"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by the connect timeout: {:?}", started.elapsed());
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_within_two_seconds() {
    let sim = two_gateways().await;
    let (_dir, path) = config_file(&sim, json!({}));
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(5), "both accounts connected", || async { sim.clients().len() == 2 }).await;

    let pid = child.id().unwrap().to_string();
    let started = Instant::now();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await.expect("exits").unwrap();
    let took = started.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    eventually(Duration::from_secs(3), "clients disconnected", || async { sim.clients().is_empty() }).await;
}

#[tokio::test]
async fn a_bad_interval_flag_exits_2_naming_it() {
    let sim = two_gateways().await;
    let (_dir, path) = config_file(&sim, json!({}));
    for bad in ["-1", "0", "nan"] {
        let output = std::process::Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .args(["--interval", bad, "--once"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "--interval {bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--interval") && stderr.contains("seconds"), "--interval {bad}: {stderr}");
    }
}

#[tokio::test]
async fn demo_runs_the_supervisor_against_two_simulated_gateways() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--control-port", "0", "--http-port", "0", "--proxy-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let control: std::net::SocketAddr = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("simulator control: http://") {
                return url.trim_end_matches("/sim/state").parse().unwrap();
            }
        }
        panic!("demo printed no control URL");
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(10), "the supervisor connected to both simulated gateways", || async {
        let (status, body) = http(control, "GET", "/sim/state", None).await;
        status == 200
            && serde_json::from_str::<serde_json::Value>(&body).unwrap()["clients"].as_array().unwrap().len() == 2
    })
    .await;
    // A guarded port per account is printed, and an engine's handshake goes through it.
    let mut ports = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while ports.len() < 2 {
            let line = lines.next_line().await.unwrap().expect("the demo prints its guarded ports");
            if let Some(rest) = line.strip_prefix("guarded port ") {
                let addr = rest.split_whitespace().nth(1).unwrap();
                ports.push(addr.parse::<std::net::SocketAddr>().unwrap());
            }
        }
    })
    .await
    .expect("two guarded ports printed");
    eventually(Duration::from_secs(10), "the simulated gateway answers a handshake through the port", || async {
        let mut engine = RawClient::connect(ports[0]).await;
        engine.send_prefix("v213..226").await;
        // Closed at accept until the supervisor's own link is up.
        matches!(engine.read_handshake().await, Ok((226, _)))
    })
    .await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_example_engine_trades_through_the_guard() {
    // `cargo test` builds the examples next to the test binaries' directory.
    let exe = std::env::current_exe().unwrap();
    let engine = exe.parent().and_then(|deps| deps.parent()).unwrap().join("examples").join("engine");
    assert!(engine.exists(), "{} missing: build it with `cargo build --example engine`", engine.display());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/settings.json");
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(engine)
            .args(["--config", config, "--sim", "--seconds", "2", "--every", "3"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary = stdout.lines().find(|l| l.starts_with("engine summary:")).expect("a summary line");
    let count = |key: &str| -> u64 {
        summary.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{key}="))).unwrap().parse().unwrap()
    };
    assert!(count("sent") >= 1 && count("filled") >= 1, "{summary}");
    assert_eq!(count("refused"), 0, "{summary}");
}

#[tokio::test]
async fn logs_are_one_json_object_per_line_on_request() {
    let sim = two_gateways().await;
    let (_dir, path) = config_file(&sim, json!({}));
    let output = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .args(["--once", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "some log output");
    for line in &lines {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string() && entry["timestamp"].is_string(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"account\":\"Paper\"")),
        "structured fields survive as JSON keys: {stderr}"
    );
    // Without the flag: human-readable lines.
    let output = tokio::process::Command::new(BIN).arg("--config").arg(&path).arg("--once").output().await.unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.lines().any(|l| l.contains("INFO") && !l.trim_start().starts_with('{')), "{text}");
}
