//! `ibkr-supervisor --once` as a worker runs it, against the simulated gateways over loopback:
//! alone it checks and records (the `ibkr_status` row and the transitions, read with plain SQL
//! from the real database file: no 'stopped', no hole in the uptime); beside a running
//! supervisor it reports that supervisor's view and opens no session of its own; a port that
//! answers something else is not believed.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use ibkr_supervisor::actors::persistence::{open_read_only, uptime};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{ClientInfo, Fault, SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_ibkr-supervisor");

/// Settings for the simulator's two listeners, recording into `dir/status.db`, with the HTTP
/// surface on `http`.
fn settings_json(sim: &Simulator, dir: &Path, http: SocketAddr) -> Value {
    let accounts = listener_accounts(sim);
    json!({
        "accounts": accounts,
        "heartbeat": { "interval": "1s", "probe_timeout": "200ms", "connect_timeout": "500ms" },
        "reconnect": { "schedule": ["50ms"] },
        "reset_time": null,
        "database": { "path": dir.join("status.db") },
        "http": { "bind": http.to_string() },
    })
}

fn write_config(dir: &Path, settings: &Value) -> PathBuf {
    let path = dir.join("settings.json");
    std::fs::write(&path, settings.to_string()).unwrap();
    path
}

/// Run `--once`: (exit code, stdout, stderr).
async fn run_once(config: &Path) -> (i32, String, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::process::Command::new(BIN).arg("--config").arg(config).arg("--once").kill_on_drop(true).output(),
    )
    .await
    .expect("--once is bounded")
    .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// An `ibkr_status` row, by plain SQL.
#[derive(Debug)]
struct Row {
    connected: i64,
    state: String,
    state_since: DateTime<Utc>,
    last_checked: Option<DateTime<Utc>>,
    last_connected: Option<DateTime<Utc>>,
    error_message: Option<String>,
}

fn time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.map(|t| DateTime::parse_from_rfc3339(&t).unwrap().with_timezone(&Utc))
}

fn row(db: &Path, account: &str) -> Row {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT connected, state, state_since, last_checked, last_connected, error_message \
         FROM ibkr_status WHERE account = ?1",
        [account],
        |r| {
            Ok(Row {
                connected: r.get(0)?,
                state: r.get(1)?,
                state_since: time(Some(r.get(2)?)).unwrap(),
                last_checked: time(r.get(3)?),
                last_connected: time(r.get(4)?),
                error_message: r.get(5)?,
            })
        },
    )
    .unwrap_or_else(|e| panic!("no ibkr_status row for {account}: {e}"))
}

/// Every event of `account` as (kind, from_state, to_state), oldest first.
fn events(db: &Path, account: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT kind, from_state, to_state FROM connection_events WHERE account = ?1 ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

fn stopped_transitions(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM connection_events WHERE to_state = 'stopped'", [], |r| r.get(0)).unwrap()
}

fn changed(from: &str, to: &str) -> (String, Option<String>, Option<String>) {
    ("state_changed".into(), Some(from.into()), Some(to.into()))
}

/// (up, down, unknown seconds, outages) of `account` over today and yesterday, from `/uptime`'s
/// arithmetic on the database.
fn uptime_of(db: &Path, account: &str) -> (f64, f64, f64, u32) {
    let days = uptime(&open_read_only(db).unwrap(), 2, Utc::now()).unwrap();
    days.iter().filter(|d| d.account == account).fold((0.0, 0.0, 0.0, 0), |(u, d, n, o), day| {
        (u + day.up_secs, d + day.down_secs, n + day.unknown_secs, o + day.outages)
    })
}

fn loopback_port_0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn alone_it_records_each_row_as_checked_without_a_stopped_transition_or_a_hole() {
    let sim = two_gateways().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &settings_json(&sim, dir.path(), loopback_port_0()));
    let db = dir.path().join("status.db");
    let before = Utc::now();

    let (code, stdout, stderr) = run_once(&config).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ✅"), "{stdout}");
    assert!(!stdout.contains("running supervisor"), "checked alone: {stdout}");
    let first = row(&db, "Paper");
    let checked = first.last_checked.expect("last_checked is set");
    assert!((first.connected, first.state.as_str()) == (1, "connected"), "{first:?}");
    assert!(checked >= before && checked <= Utc::now(), "{first:?}");
    assert_eq!(first.last_connected, Some(checked), "connected: last_connected is the check's time");
    for account in ["Paper", "Live"] {
        assert_eq!(events(&db, account), [changed("stopped", "connected")], "{account}: first observed, up");
    }
    assert_eq!(stopped_transitions(&db), 0);
    eventually(Duration::from_secs(5), "the check's sessions closed", || async { sim.clients().is_empty() }).await;

    let (code, stdout, _) = run_once(&config).await;
    assert_eq!(code, 0, "{stdout}");
    let second = row(&db, "Paper");
    let rechecked = second.last_checked.unwrap();
    assert!(rechecked > checked && second.connected == 1, "{second:?}");
    assert_eq!(second.last_connected, Some(rechecked));
    assert_eq!(second.state_since, first.state_since, "up since the first check, as the record knows it");
    for account in ["Paper", "Live"] {
        assert_eq!(events(&db, account), [changed("stopped", "connected")], "{account}: unchanged, no new event");
    }
    assert_eq!(stopped_transitions(&db), 0, "no 'stopped' after either check");
    // Between and after the checks the account counts as up: no unknown gap, no outage.
    let (up, down, _, outages) = uptime_of(&db, "Paper");
    let since_first = (Utc::now() - first.state_since).num_milliseconds() as f64 / 1000.0;
    assert!((down, outages) == (0.0, 0), "down {down}s, {outages} outages");
    assert!(up >= since_first - 0.5, "up {up}s of the {since_first}s since the first check");
}

#[tokio::test]
async fn alone_with_a_gateway_down_it_records_connected_0_and_exits_1_then_the_recovery() {
    let sim = two_gateways().await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &settings_json(&sim, dir.path(), loopback_port_0()));
    let db = dir.path().join("status.db");
    let before = Utc::now();

    let (code, stdout, stderr) = run_once(&config).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ❌"), "{stdout}");
    assert!(stdout.contains("Live: ") && stdout.to_lowercase().contains("refused"), "{stdout}");
    let live = row(&db, "Live");
    assert!((live.connected, live.state.as_str()) == (0, "disconnected"), "{live:?}");
    assert!(live.last_checked.is_some_and(|t| t >= before), "last_checked is set: {live:?}");
    assert_eq!(live.last_connected, None, "never connected");
    assert!(live.error_message.as_deref().unwrap_or_default().to_lowercase().contains("refused"), "{live:?}");
    assert_eq!(row(&db, "Paper").connected, 1);
    assert_eq!(events(&db, "Live"), [changed("stopped", "disconnected")]);

    sim.inject(Fault::Clear, None).unwrap();
    let (code, stdout, _) = run_once(&config).await;
    assert_eq!(code, 0, "{stdout}");
    let back = row(&db, "Live");
    assert!(back.connected == 1 && back.last_connected.is_some() && back.last_connected == back.last_checked);
    assert!(back.last_checked > live.last_checked, "{back:?}");
    assert_eq!(events(&db, "Live"), [changed("stopped", "disconnected"), changed("disconnected", "connected")]);
    assert_eq!(stopped_transitions(&db), 0);
    // One outage: from the check that found Live down to the one that found it back.
    let (_, down, _, outages) = uptime_of(&db, "Live");
    let outage = (back.state_since - live.state_since).num_milliseconds() as f64 / 1000.0;
    assert_eq!(outages, 1);
    assert!((down - outage).abs() < 0.01, "down {down}s, between the checks {outage}s");
    assert_eq!(uptime_of(&db, "Paper").3, 0, "Paper had none");
}

fn sessions(sim: &Simulator) -> Vec<(u16, i32, SocketAddr, DateTime<Utc>)> {
    let mut clients: Vec<_> =
        sim.clients().iter().map(|c: &ClientInfo| (c.port, c.client_id, c.peer, c.since)).collect();
    clients.sort();
    clients
}

fn accepted(sim: &Simulator) -> Vec<u64> {
    sim.state().listeners.iter().map(|l| l.connections_accepted).collect()
}

#[tokio::test]
async fn beside_a_running_supervisor_it_reports_that_view_and_opens_no_session() {
    let sim = two_gateways().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon_settings = settings_json(&sim, dir.path(), loopback_port_0());
    let settings = Settings::from_json_str(&daemon_settings.to_string()).unwrap();
    let daemon = Service::start(settings, RunOptions::default()).await.unwrap();
    let both_up = |board: &ibkr_supervisor::actors::BoardSnapshot| board.accounts.iter().all(|a| a.connected());
    assert!(daemon.handle().board().wait_for(Duration::from_secs(5), both_up).await.is_ok(), "the daemon connects");
    // The same settings, with the port the daemon's HTTP server got.
    let mut same = daemon_settings.clone();
    same["http"]["bind"] = json!(daemon.http_addr().to_string());
    let config = write_config(dir.path(), &same);
    let (accepted_before, sessions_before) = (accepted(&sim), sessions(&sim));
    assert_eq!(sessions_before.len(), 2);

    let (code, stdout, stderr) = run_once(&config).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ✅"), "{stdout}");
    let from = format!("(from the running supervisor at http://{})", daemon.http_addr());
    assert!(stdout.contains(&from), "{stdout}");
    assert_eq!(accepted(&sim), accepted_before, "not one connection attempt at the gateways");
    assert_eq!(sessions(&sim), sessions_before, "the daemon's sessions, untouched");

    // The daemon's view of an account that is down: exit 1, still without a session of its own.
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    sim.inject(Fault::Drop, Some(sim.port(1))).unwrap();
    let live_down = |board: &ibkr_supervisor::actors::BoardSnapshot| !board.accounts[1].connected();
    assert!(
        daemon.handle().board().wait_for(Duration::from_secs(5), live_down).await.is_ok(),
        "the daemon sees Live go"
    );
    let paper_accepted = accepted(&sim)[0];
    let (code, stdout, _) = run_once(&config).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ❌") && stdout.contains(&from), "{stdout}");
    assert!(stdout.contains("  Live: "), "the daemon's reason: {stdout}");
    assert_eq!(accepted(&sim)[0], paper_accepted, "no session at Paper's gateway");
    let paper = |all: Vec<(u16, i32, SocketAddr, DateTime<Utc>)>| all.into_iter().find(|s| s.0 == sim.port(0));
    assert_eq!(paper(sessions(&sim)), paper(sessions_before), "the daemon's Paper session, untouched");
    daemon.shutdown().await;
}

/// A server on `127.0.0.1:0` that answers every request with `answer` (or holds the connection
/// without a word when `None`).
async fn other_server(answer: Option<&'static str>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request).await;
            match answer {
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                }
                None => held.push(stream),
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_port_answering_anything_else_is_not_believed_and_it_checks_alone() {
    let sim = two_gateways().await;
    for (server, says) in [
        (other_server(Some("<html><title>router login</title></html>")).await, "answers, but not as ibkr-supervisor"),
        (other_server(None).await, "no answer within 1s"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &settings_json(&sim, dir.path(), server));
        let accepted_before = accepted(&sim);
        let (code, stdout, stderr) = run_once(&config).await;
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(
            stdout.contains("IBKR Heartbeat: Paper ✅ | Live ✅") && !stdout.contains("running supervisor"),
            "{stdout}"
        );
        assert!(stderr.contains(says) && stderr.contains("checking alone"), "{stderr}");
        assert!(accepted(&sim).iter().zip(&accepted_before).all(|(now, was)| now > was), "it connected itself");
        assert_eq!(row(&dir.path().join("status.db"), "Paper").connected, 1, "and recorded the check");
        eventually(Duration::from_secs(5), "the check's sessions closed", || async { sim.clients().is_empty() }).await;
    }
}

#[tokio::test]
async fn a_database_that_cannot_be_written_is_said_and_the_exit_code_still_tells_the_connections() {
    let sim = two_gateways().await;
    let dir = tempfile::tempdir().unwrap();
    // A file where the database's directory should be: nothing can be created there.
    std::fs::write(dir.path().join("blocked"), b"not a directory").unwrap();
    let mut settings = settings_json(&sim, dir.path(), loopback_port_0());
    settings["database"]["path"] = json!(dir.path().join("blocked").join("status.db"));
    let config = write_config(dir.path(), &settings);
    let (code, stdout, stderr) = run_once(&config).await;
    assert_eq!(code, 0, "the check itself passed: {stdout}{stderr}");
    assert!(stdout.contains("IBKR Heartbeat: Paper ✅ | Live ✅"), "{stdout}");
    assert!(stderr.contains("warning: the check is not recorded in") && stderr.contains("blocked"), "{stderr}");
}

#[tokio::test]
async fn alone_it_never_escalates_a_dead_gateway() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").ibc(([127, 0, 0, 1], 0))).await.unwrap();
    sim.inject(Fault::Refuse { duration_ms: None }, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("restarted");
    let ibc = sim.ibc_addr(0).unwrap();
    let settings = json!({
        "accounts": [{ "name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1,
                       "ibc": { "host": "127.0.0.1", "port": ibc.port() } }],
        "heartbeat": { "interval": "1s", "probe_timeout": "200ms", "connect_timeout": "500ms" },
        "reset_time": null,
        "database": { "path": dir.path().join("status.db") },
        "http": { "bind": loopback_port_0().to_string() },
        "escalation": { "restart_after": "1ms", "restart_command_after": "1ms",
                        "restart_command": ["touch", marker.to_string_lossy()] },
    });
    let config = write_config(dir.path(), &settings);
    let (code, stdout, stderr) = run_once(&config).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(sim.state().listeners[0].ibc.as_ref().unwrap().commands.is_empty(), "no IBC command from a check");
    assert!(!marker.exists(), "no restart command from a check");
    assert!(!events(&dir.path().join("status.db"), "Paper").iter().any(|(kind, _, _)| kind == "escalation"));
}
