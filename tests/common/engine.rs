//! Running `tests/python/engine_client.py` (ib_async or ib_insync) against a fresh simulator,
//! and the checks both libraries' runs share.

use std::net::SocketAddr;
use std::time::Duration;

use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};
use serde_json::Value;

use super::python::{self, PythonClient};

pub const ACCOUNT: &str = "DU1234567";
const CLIENT_ID: i32 = 7;
/// The whole script, faults included; in practice a few seconds.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct EngineRun {
    pub seen: Value,
    pub sim: Simulator,
}

pub async fn run_engine(client: &PythonClient, lib: &str, faults: bool) -> EngineRun {
    let python = python::python_for(client).await;
    let script = python::workspace().join("tests/python/engine_client.py");
    let sim = Simulator::start(SimConfig::default().loopback(ACCOUNT).options(SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(20),
        seed: Some(11),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let control = sim.serve_control(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = sim.addr(0);
    let (port, client_id, control) = (addr.port().to_string(), CLIENT_ID.to_string(), format!("http://{control}"));
    let mut args = vec![
        script.to_str().unwrap(),
        "--lib",
        lib,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--client-id",
        &client_id,
        "--account",
        ACCOUNT,
        "--control",
        &control,
    ];
    if faults {
        args.push("--faults");
    }
    let stdout = python::run_script(&python, args, SCRIPT_TIMEOUT, lib).await;
    EngineRun { seen: python::observed(&stdout), sim }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number, got {v}"))
}

/// Connect, orders, portfolio, market data, bars, completed orders and executions.
pub fn check_trading(seen: &Value, sim: &Simulator, version: i64) {
    assert_eq!(seen["server_version"], version, "{seen}");
    assert!(f(&seen["connect_seconds"]) < 1.0, "{seen}");
    assert_eq!(seen["connect_problems"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["accounts"], serde_json::json!([ACCOUNT]), "{seen}");
    assert!(seen["con_id"].as_i64().unwrap() > 0, "{seen}");
    assert_eq!(seen["primary_exchange"], "NASDAQ", "{seen}");

    let market = &seen["market_order"];
    assert_eq!(f(&market["filled"]), 10.0, "{seen}");
    assert_eq!(market["exec_side"], "BOT", "{seen}");
    assert!(f(&market["commission"]) > 0.0, "{seen}");
    let statuses: Vec<&str> = market["statuses"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
    assert_eq!(statuses.last(), Some(&"Filled"), "{seen}");

    let limit = &seen["limit_order"];
    assert_eq!(seen["limit_status_after_wait"], "Submitted", "a limit far below the market rests: {seen}");
    let statuses: Vec<&str> = limit["statuses"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
    assert_eq!(statuses.last(), Some(&"Cancelled"), "{seen}");

    assert_eq!(seen["position"]["account"], ACCOUNT, "{seen}");
    assert_eq!(f(&seen["position"]["position"]), 10.0, "{seen}");
    let values = &seen["account_values"];
    for tag in ["NetLiquidation", "TotalCashValue", "GrossPositionValue", "BuyingPower"] {
        let value: f64 = values[tag].as_str().unwrap_or_else(|| panic!("{tag} in {seen}")).parse().unwrap();
        assert!(value > 0.0, "{tag} {value}: {seen}");
    }

    let ticker = &seen["ticker"];
    assert!(f(&ticker["bid"]) < f(&ticker["ask"]), "{seen}");
    assert!(f(&ticker["rt_volume"]) > 0.0 && f(&ticker["shortable_shares"]) > 0.0, "{seen}");
    assert!(seen["bars"]["count"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["bars"]["ohlc_ok"], true, "{seen}");
    let completed: Vec<&str> = seen["completed"].as_array().unwrap().iter().map(|c| c[1].as_str().unwrap()).collect();
    assert!(completed.contains(&"Filled") && completed.contains(&"Cancelled"), "{seen}");
    let executions = seen["executions"].as_array().unwrap();
    assert!(!executions.is_empty() && executions.iter().all(|e| f(&e["commission"]) > 0.0), "{seen}");
    let shares: f64 = executions.iter().map(|e| f(&e["shares"])).sum();
    assert_eq!(shares, 10.0, "{seen}");

    // The library read every message: no decoder error was logged.
    let decode_errors: Vec<&Value> = seen["library_errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["logger"].as_str().is_some_and(|l| l.to_lowercase().contains("decoder")))
        .collect();
    assert!(decode_errors.is_empty(), "{decode_errors:?}");

    // What the simulator saw: the two orders, from this client, on this account.
    let orders = sim.orders();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert!(orders.iter().all(|o| o.client_id == CLIENT_ID && o.account == ACCOUNT && o.symbol == "AAPL"));
    assert_eq!(orders[0].status, Some("Filled"));
    assert_eq!(orders[1].status, Some("Cancelled"));
}

/// The fault steps: 1100/1102, a timed-out request while hung, 326, the disconnect event.
pub fn check_faults(seen: &Value) {
    let codes: Vec<i64> = seen["error_codes"].as_array().unwrap().iter().filter_map(|c| c.as_i64()).collect();
    assert!(codes.contains(&1100) && codes.contains(&1102), "{seen}");
    assert_eq!(seen["hang"], "request timed out", "{seen}");
    assert_eq!(seen["connected_while_hung"], true, "a hung socket still looks connected: {seen}");
    assert!(seen["duplicate_codes"].as_array().unwrap().iter().any(|c| c == 326), "{seen}");
    assert_eq!(seen["disconnected_event"], true, "{seen}");
    assert_eq!(seen["connected_after_drop"], false, "{seen}");
}
