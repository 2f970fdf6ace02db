//! systemd integration: the unit file verifies, and the binary sends READY=1, WATCHDOG=1 on
//! heartbeats and STOPPING=1 to a (fake) NOTIFY_SOCKET.

mod common;

use std::time::Duration;

use common::*;
use ibkr_supervisor::sim::{SimConfig, Simulator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ibkr-supervisor");

#[test]
fn the_unit_file_verifies() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/ibkr-supervisor.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    // The HTTP connection cap must bind before the descriptor limit does.
    let nofile: u32 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse().ok())
        .expect("the unit sets LimitNOFILE");
    let cap = ibkr_supervisor::settings::Settings::default().http.max_connections;
    assert!(nofile >= 4 * cap, "LimitNOFILE={nofile} leaves too little above http.max_connections={cap}");
    let analyze = std::process::Command::new("systemd-analyze").arg("--version").output();
    assert!(analyze.is_ok(), "systemd-analyze missing: apt-get install systemd");
    // Point ExecStart at the binary under test so verify can check it exists and is executable.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ibkr-supervisor.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/ibkr-supervisor", BIN)).unwrap();
    let output = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "systemd-analyze verify failed: {stderr}");
    assert!(!stderr.contains("ibkr-supervisor.service:"), "warnings about the unit: {stderr}");
}

#[test]
fn the_units_documentation_is_the_installed_readme_not_a_web_address() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/ibkr-supervisor.service")).unwrap();
    let docs: Vec<&str> = unit.lines().filter_map(|l| l.strip_prefix("Documentation=")).collect();
    assert!(!docs.is_empty(), "the unit names its documentation");
    for doc in &docs {
        assert!(doc.starts_with("file:///") || doc.starts_with("man:"), "no invented web address: {doc}");
    }
    let readme = docs.iter().find_map(|d| d.strip_prefix("file://")).expect("the README as a file: path");
    assert!(readme.ends_with("/README.md"), "{readme}");
    assert!(
        unit.lines()
            .any(|l| l.starts_with('#') && l.contains("install") && l.contains("README.md") && l.contains(readme)),
        "the unit's header says how to install the README at {readme}"
    );
}

#[tokio::test]
async fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let config = dir.path().join("settings.json");
    let settings = json!({
        "accounts": [
            { "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1 },
            { "name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": sim.port(1), "client_id": 2 },
        ],
        "heartbeat": { "interval": "100ms", "probe_timeout": "100ms" },
        "reset_time": null,
        "http": { "bind": "127.0.0.1:0" },
        "database": { "path": dir.path().join("status.db") },
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut seen = Vec::new();
    let mut buf = vec![0u8; 1024];
    let collect = async {
        loop {
            let n = socket.recv(&mut buf).await.unwrap();
            let message = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
            seen.push(message);
            if seen.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3 {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect).await.expect("READY and WATCHDOG pings");
    assert_eq!(seen[0], "READY=1", "READY first: {seen:?}");
    eventually(Duration::from_secs(5), "both accounts connected", || async { sim.clients().len() == 2 }).await;

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let stopping = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = socket.recv(&mut buf).await.unwrap();
            if String::from_utf8_lossy(&buf[..n]).trim() == "STOPPING=1" {
                return;
            }
        }
    })
    .await;
    assert!(stopping.is_ok(), "STOPPING=1 on SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}
