//! IB's official Python client (`ibapi-latest` 10.51.1, protobuf at 226) and ib_async 2.1.0
//! (text at 178) each trade through the guarded port: a market order fills while the account is
//! usable; paused by the operator, the same engine's order is answered with error 201 and the
//! guard's reason — the official client's `error()` gets 201 on the order id, ib_async marks
//! the trade Cancelled with the 201 in its log — and the simulator never sees it; once
//! activated, orders fill again; with IB's upstream lost (1100) the same, "IB upstream lost";
//! inside a reset window and at a meltdown the same, with those reasons.

mod common;

use std::time::Duration;

use common::proxy::*;
use common::python::{self, PythonClient, IB_ASYNC, OFFICIAL};
use ibkr_supervisor::sim::Fault;
use serde_json::{json, Value};

async fn engine(python: &std::path::Path, lib: &str, port: u16, client_id: i32) -> Value {
    let script = python::workspace().join("tests/python/proxy_engine.py");
    let (port, client_id) = (port.to_string(), client_id.to_string());
    let args = vec![script.to_str().unwrap(), "--lib", lib, "--port", &port, "--client-id", &client_id];
    let stdout = python::run_script(python, args, Duration::from_secs(60), "proxy_engine.py").await;
    python::observed(&stdout)
}

async fn trades_through_the_port(client: &PythonClient, lib: &str, version: i64, client_id: i32) {
    let python = python::python_for(client).await;
    let g = guarded(json!({}), |_| {}).await;
    let port = g.port.port();

    let filled = engine(&python, lib, port, client_id).await;
    assert_eq!(filled["server_version"], version, "{filled}");
    assert_eq!(filled["status"], "Filled", "{filled}");
    let first = filled["order_id"].as_i64().unwrap() as i32;
    assert_eq!(g.orders_from(client_id), [first]);

    g.supervision.guard().set_paused("Paper", true).await.unwrap();
    let refused = engine(&python, lib, port, client_id).await;
    assert_refused(&refused, lib, "paused by operator since");
    assert_eq!(g.orders_from(client_id), [first], "the refused order never reached the gateway");

    g.supervision.guard().set_paused("Paper", false).await.unwrap();
    let again = engine(&python, lib, port, client_id).await;
    assert_eq!(again["status"], "Filled", "{again}");
    assert_eq!(g.orders_from(client_id).len(), 2);

    // IB's upstream lost: the engine connects (and hears 1100 itself), its order gets 201.
    g.sim.inject(Fault::UpstreamLost { message: None }, None).unwrap();
    wait_state(&g.supervision, "degraded").await;
    let degraded = engine(&python, lib, port, client_id).await;
    assert_refused(&degraded, lib, "IB upstream lost since");
    assert_eq!(g.orders_from(client_id).len(), 2, "the refused order never reached the gateway");
    g.sim.inject(Fault::UpstreamRestored { data_lost: false }, None).unwrap();
    wait_connected(&g.supervision).await;

    let stats = g.port_stats();
    assert_eq!((stats.accepted, stats.orders_passed, stats.orders_refused), (4, 2, 2));
}

/// The library heard error 201 on its order id with the guard's reason (and ib_async marked the
/// trade Cancelled, with the 201 in its log).
fn assert_refused(refused: &Value, lib: &str, reason: &str) {
    let order_id = refused["order_id"].as_i64().unwrap();
    let errors = refused["errors"].as_array().unwrap();
    let rejection = errors.iter().find(|e| e[1] == 201).unwrap_or_else(|| panic!("{lib}: no error 201 in {refused}"));
    assert_eq!(rejection[0], order_id, "201 on the order id: {refused}");
    let message = rejection[2].as_str().unwrap();
    assert!(message.starts_with(&format!("Order rejected - reason: {reason}")), "{message}");
    if lib == "ib_async" {
        assert_eq!(refused["status"], "Cancelled", "ib_async marks a rejected order Cancelled: {refused}");
        let log = refused["log"].as_array().unwrap();
        assert!(log.iter().any(|e| e[1] == 201 && e[2].as_str().unwrap().contains(reason)), "{refused}");
    }
}

#[tokio::test]
async fn official_python_client_trades_through_the_guarded_port() {
    trades_through_the_port(&OFFICIAL, "official", 226, 70).await;
}

#[tokio::test]
async fn ib_async_trades_through_the_guarded_port() {
    trades_through_the_port(&IB_ASYNC, "ib_async", 178, 71).await;
}

/// Inside a reset window, then at a meltdown (the gates close on the root's Meltdown event
/// before the tree stops), the library's order gets 201 with the reason and never reaches the
/// simulator; after the window it fills.
async fn refused_in_a_reset_window_and_at_a_meltdown(client: &PythonClient, lib: &str, client_id: i32) {
    use ibkr_supervisor::actors::clock::OffsetClock;
    use ibkr_supervisor::actors::{EventKind, StartOptions, StatusEvent};
    let python = python::python_for(client).await;
    // 23:44:59.500 in New York: the nightly window (5 s here) opens half a second in.
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:44:59.500Z").unwrap().with_timezone(&chrono::Utc);
    let options = StartOptions { clock: std::sync::Arc::new(OffsetClock::starting_at(start)), ..Default::default() };
    let overrides = json!({ "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "5s" });
    let g = guarded_with(overrides, |_| {}, options).await;
    let port = g.port.port();
    wait_state(&g.supervision, "reset_window").await;
    let refused = engine(&python, lib, port, client_id).await;
    assert_refused(&refused, lib, "scheduled reset window until");
    assert!(g.orders_from(client_id).is_empty(), "the refused order never reached the gateway");
    wait_connected(&g.supervision).await;
    let filled = engine(&python, lib, port, client_id).await;
    assert_eq!(filled["status"], "Filled", "after the window: {filled}");

    let now = g.supervision.clock().now();
    let kind = EventKind::Meltdown { actor: "gateway:Paper".into(), reason: "drill".into() };
    g.supervision.events().send(StatusEvent::new("*", now, kind));
    common::eventually(WAIT, "the gates closed", || async { g.supervision.guard().refusal("Paper").is_some() }).await;
    let melted = engine(&python, lib, port, client_id).await;
    assert_refused(&melted, lib, "supervisor meltdown at");
    assert_eq!(g.orders_from(client_id).len(), 1, "only the order after the window reached the gateway");
}

#[tokio::test]
async fn official_python_client_is_refused_in_a_reset_window_and_at_a_meltdown() {
    refused_in_a_reset_window_and_at_a_meltdown(&OFFICIAL, "official", 72).await;
}

#[tokio::test]
async fn ib_async_is_refused_in_a_reset_window_and_at_a_meltdown() {
    refused_in_a_reset_window_and_at_a_meltdown(&IB_ASYNC, "ib_async", 73).await;
}
