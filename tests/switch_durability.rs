//! The operator's trading switch is durable or says it is not: a switch the database cannot
//! take is answered "not persisted" (and the dashboard says so), and an account whose switch
//! history cannot be read starts paused, with the reason shown (fail closed).

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use ibkr_supervisor::sim::{SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn start(sim: &Simulator, database: &str, extra: Value) -> (Service, SocketAddr) {
    let mut over = json!({ "http": { "bind": "127.0.0.1:0" }, "database": { "path": database } });
    if let (Some(base), Value::Object(extra)) = (over.as_object_mut(), extra) {
        base.extend(extra);
    }
    let service = Service::start(settings_for(&sim.addrs(), over), RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    (service, addr)
}

async fn connected(service: &Service, account: usize) {
    let reached = service.handle().board().wait_for(WAIT, |b| b.accounts[account].state.name() == "connected").await;
    assert!(reached.is_ok(), "account {account} never connected");
}

async fn post(addr: SocketAddr, body: &str) -> (u16, Value) {
    let (code, text) = http(addr, "POST", "/trading", Some(body.as_bytes())).await;
    (code, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

async fn status(addr: SocketAddr) -> Value {
    serde_json::from_str(&http(addr, "GET", "/status", None).await.1).unwrap()
}

/// SQLite's file-format write version (header byte 18): above 2 SQLite treats the file as
/// read-only for every user, root included (chmod does not stop root).
fn set_write_version(db: &Path, version: u8) {
    let mut file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.seek(SeekFrom::Start(18)).unwrap();
    file.write_all(&[version]).unwrap();
    file.sync_all().unwrap();
}

#[tokio::test]
async fn a_switch_the_database_cannot_take_is_answered_not_persisted() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let database = scratch_database();
    let (service, addr) = start(&sim, &database, json!({})).await;
    connected(&service, 0).await;
    let (code, answer) = post(addr, r#"{"account":"Paper","active":false}"#).await;
    assert_eq!((code, &answer["persisted"]), (200, &json!(true)), "{answer}");
    service.shutdown().await;

    // The database becomes read-only while the service is down.
    set_write_version(Path::new(&database), 3);
    let (service, addr) = start(&sim, &database, json!({})).await;
    connected(&service, 0).await;
    assert!(service.handle().guard().is_paused("Paper"), "the pause was read back");
    let (code, answer) = post(addr, r#"{"account":"Paper","active":true}"#).await;
    assert_eq!(code, 503, "not 200: {answer}");
    assert_eq!((&answer["applied"], &answer["persisted"]), (&json!(true), &json!(false)), "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("not persisted") && error.contains("readonly"), "names the cause: {error}");
    assert!(!service.handle().guard().is_paused("Paper"), "applied in memory all the same");
    let paper = &status(addr).await["accounts"][0];
    assert!(paper["trading_note"].as_str().unwrap().starts_with("not persisted: "), "{paper}");
    let (_, page) = http(addr, "GET", "/trades/status", None).await;
    assert!(page.contains("not persisted: "), "the dashboard says so too");
    service.shutdown().await;

    // As the answer warned, a restart forgot the activation: the database still says paused.
    set_write_version(Path::new(&database), 2);
    let (service, addr) = start(&sim, &database, json!({})).await;
    assert_eq!(status(addr).await["accounts"][0]["trading_active"], false);
    service.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_switch_history_starts_every_account_paused_with_the_reason() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let database = scratch_database();
    std::fs::write(&database, b"this is not an SQLite database, it was overwritten by something").unwrap();

    let (service, addr) = start(&sim, &database, json!({})).await;
    connected(&service, 1).await;
    let live = status(addr).await["accounts"][1].clone();
    assert_eq!(live["name"], "Live");
    assert_eq!(live["trading_active"], false, "the live account starts paused: {live}");
    let note = live["trading_note"].as_str().unwrap_or_default();
    assert!(note.contains("paused at startup") && note.contains("could not be read"), "{live}");
    assert!(service.handle().guard().refusal("Live").is_some(), "orders are refused");
    let (_, page) = http(addr, "GET", "/trades/status", None).await;
    assert!(page.contains("paused at startup"), "the reason is on the dashboard");
    assert_eq!(http(addr, "GET", "/healthz", None).await.0, 200, "supervision goes on");
    service.shutdown().await;

    let (service, addr) = start(&sim, &database, json!({ "trading": { "start_paused_if_unknown": false } })).await;
    connected(&service, 1).await;
    let live = status(addr).await["accounts"][1].clone();
    assert_eq!(live["trading_active"], true, "opted out: starts active: {live}");
    assert!(live["trading_note"].is_null(), "{live}");
    service.shutdown().await;
}
