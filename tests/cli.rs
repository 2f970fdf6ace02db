//! The `ibkr-supervisor` binary as an operator runs it: `--once` exit codes against gateways up
//! and down, SIGTERM shutdown within 2 s, flag mistakes exiting 2.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use ibkr_supervisor::sim::{Fault, Simulator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ibkr-supervisor");

/// A settings file for the simulator's listeners, in a temp dir that lives as long as the guard.
fn config_file(sim: &Simulator, overrides: serde_json::Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    let accounts = listener_accounts(sim);
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

/// A scripted timeline written into a real database file: Paper down 40 minutes two days ago,
/// Live degraded across last midnight.
fn history_database(dir: &std::path::Path) -> (PathBuf, chrono::NaiveDate) {
    use chrono::{Duration as D, Utc};
    let db = dir.join("history.db");
    let conn = ibkr_supervisor::actors::persistence::open_database(&db).unwrap();
    let day = Utc::now().date_naive() - D::days(2);
    let t = |days: i64, h: u32, m: u32, s: u32| (day + D::days(days)).and_hms_opt(h, m, s).unwrap().and_utc();
    let state = |name: &str, since: chrono::DateTime<Utc>, extra: serde_json::Value| {
        let mut v = json!({ "state": name, "since": since, "client_id": 1 });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let script = [
        ("Paper", t(0, 7, 59, 0), "disconnected", t(0, 8, 0, 0), "connected", json!({})),
        (
            "Paper",
            t(0, 8, 0, 0),
            "connected",
            t(0, 10, 0, 0),
            "disconnected",
            json!({"last_error": "connection closed by the gateway"}),
        ),
        ("Paper", t(0, 10, 0, 0), "disconnected", t(0, 10, 0, 2), "connecting", json!({"attempt": 1})),
        ("Paper", t(0, 10, 0, 2), "connecting", t(0, 10, 40, 0), "connected", json!({})),
        ("Live", t(0, 8, 59, 0), "disconnected", t(0, 9, 0, 0), "connected", json!({})),
        (
            "Live",
            t(0, 9, 0, 0),
            "connected",
            t(1, 23, 30, 0),
            "degraded",
            json!({"code": 1100, "reason": "Connectivity between IB and TWS has been lost"}),
        ),
        ("Live", t(1, 23, 30, 0), "degraded", t(2, 0, 15, 0), "connected", json!({})),
    ];
    for (account, since, from, at, to, extra) in script {
        let detail = json!({ "account": account, "at": at, "kind": "state_changed",
            "from": state(from, since, json!({})), "to": state(to, at, extra) });
        conn.execute(
            "INSERT INTO connection_events (at, account, kind, from_state, to_state, detail) VALUES (?1, ?2, 'state_changed', ?3, ?4, ?5)",
            rusqlite::params![ibkr_supervisor::actors::persistence::timestamp(at), account, from, to, detail.to_string()],
        )
        .unwrap();
    }
    (db, day)
}

#[tokio::test]
async fn history_prints_uptime_per_day_and_the_outages_as_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let (db, day) = history_database(dir.path());
    let config = dir.path().join("settings.json");
    let settings = json!({
        "accounts": [{ "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1 },
                     { "name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2 }],
        "timezone": "UTC",
        "database": { "path": db },
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let history = |args: &[&str]| {
        let output =
            std::process::Command::new(BIN).arg("--config").arg(&config).arg("history").args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = history(&["--days", "3"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Uptime per day (UTC) from "), "{out}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        ["account", "day", "up", "avail", "down", "degraded", "reset", "unknown", "outages", "longest", "attempts"]
    );
    let row = |account: &str, day: chrono::NaiveDate| -> Vec<String> {
        let prefix = format!("{account} ");
        let line = lines
            .iter()
            .find(|l| l.starts_with(&prefix) && l.contains(&day.to_string()))
            .unwrap_or_else(|| panic!("no {account} {day} in\n{out}"));
        let mut cells = Vec::new();
        let mut words = line.split_whitespace().peekable();
        while let Some(w) = words.next() {
            // Durations are "40m 00s" / "1h 05m": two words, one cell.
            match words.peek() {
                Some(next)
                    if w.ends_with(['h', 'm'])
                        && w[..w.len() - 1].parse::<u64>().is_ok()
                        && next.ends_with(['m', 's']) =>
                {
                    cells.push(format!("{w} {}", words.next().unwrap()))
                }
                _ => cells.push(w.to_owned()),
            }
        }
        cells
    };
    // Paper two days ago: unknown until 07:59, down 1 minute then 40, up the rest.
    let paper = row("Paper", day);
    assert_eq!(&paper[4..], ["41m 00s", "0s", "0s", "7h 59m", "2", "40m 00s", "0"], "{out}");
    assert_eq!(&row("Paper", day + chrono::Duration::days(1))[2..4], ["100.00%", "100.00%"]);
    // Live: degraded from 23:30, across midnight, 45 minutes in all.
    let live = row("Live", day + chrono::Duration::days(1));
    assert_eq!((live[4].as_str(), live[5].as_str(), live[8].as_str()), ("30m 00s", "30m 00s", "1"), "{out}");
    assert_eq!(&row("Live", day + chrono::Duration::days(2))[4..6], ["15m 00s", "15m 00s"], "{out}");
    // The outages, oldest first, with their causes.
    let start = lines.iter().position(|l| *l == "Outages (UTC)").expect("an outage table");
    let outages: Vec<&str> = lines[start + 2..].to_vec();
    // The minute before each account's first recorded change (down since the start) is an
    // outage too, as the day's figures count it.
    assert_eq!(outages.len(), 4, "{out}");
    let cells = |line: &str| -> Vec<String> {
        line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
    };
    let (d1, d2) = (day + chrono::Duration::days(1), day + chrono::Duration::days(2));
    assert_eq!(cells(outages[0]), ["Paper", &format!("{day} 07:59:00"), &format!("{day} 08:00:00"), "1m 00s"], "{out}");
    assert_eq!(cells(outages[1]), ["Live", &format!("{day} 08:59:00"), &format!("{day} 09:00:00"), "1m 00s"], "{out}");
    assert_eq!(
        cells(outages[2]),
        [
            "Paper",
            &format!("{day} 10:00:00"),
            &format!("{day} 10:40:00"),
            "40m 00s",
            "connection closed by the gateway"
        ],
        "{out}"
    );
    assert_eq!(
        cells(outages[3]),
        [
            "Live",
            &format!("{d1} 23:30:00"),
            &format!("{d2} 00:15:00"),
            "45m 00s",
            "Connectivity between IB and TWS has been lost"
        ],
        "{out}"
    );

    let (code, out, _) = history(&["--days", "3", "--account", "Live"]);
    assert_eq!(code, Some(0));
    assert!(!out.contains("Paper") && out.contains("Live"), "{out}");
    let (code, _, err) = history(&["--account", "Nope"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--account") && err.contains("\"Nope\"") && err.contains("Live, Paper"), "{err}");
}
