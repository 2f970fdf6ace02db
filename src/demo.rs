//! `ibkr-supervisor demo`: simulated paper and live gateways on free loopback ports, their
//! control API, the supervisor pointed at them, and a guarded TWS API port per account (an
//! engine pointed there trades through the guard). The README's first command.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use std::sync::Arc;

use ibkr_supervisor_actors::settings::{ProxySettings, Settings};

use crate::cli::DemoArgs;
use crate::http::{FaultButton, FaultPanel};
use crate::sim::{FaultRequest, SimConfig, Simulator};

/// The demo's two accounts: (settings name, IB account id).
pub const DEMO_ACCOUNTS: [(&str, &str); 2] = [("Paper", "DU1234567"), ("Live", "U7654321")];

/// Run the demo until `shutdown`.
pub async fn run(args: DemoArgs, shutdown: impl Future<Output = ()>) -> ExitCode {
    let mut config = SimConfig::default();
    for (_, account) in DEMO_ACCOUNTS {
        config = config.loopback(account);
    }
    let sim = match Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let control = match sim.serve_control(SocketAddr::from(([127, 0, 0, 1], args.control_port))).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!(
                "error: cannot serve the simulator control API on port {}: {e} (try --control-port 0)",
                args.control_port
            );
            sim.shutdown();
            return ExitCode::FAILURE;
        }
    };
    for (index, (name, account)) in DEMO_ACCOUNTS.iter().enumerate() {
        println!("simulated IB Gateway {name} ({account}) on {}", sim.addr(index));
    }
    println!("simulator control: http://{control}/sim/state");
    println!("inject a fault:    curl -X POST -H 'content-type: application/json' http://{control}/sim/fault -d '{{\"kind\":\"drop\"}}'");
    println!("press Ctrl-C to stop");

    let mut settings = sim_settings(Settings::default(), &sim);
    for (index, account) in settings.accounts.iter_mut().enumerate() {
        let port = if args.proxy_port == 0 { 0 } else { args.proxy_port.saturating_sub(index as u16) };
        account.proxy = Some(ProxySettings::new(SocketAddr::from(([127, 0, 0, 1], port))));
    }
    settings.http.bind = SocketAddr::from(([127, 0, 0, 1], args.http_port));
    // A throwaway database unless --database is given: the demo leaves nothing behind.
    let scratch = tempfile::tempdir().ok();
    settings.database.path = match (&args.database, &scratch) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.path().join("demo.db"),
        (None, None) => std::env::temp_dir().join("ibkr-supervisor-demo.db"),
    };
    println!("database:          {}", settings.database.path.display());
    let options = crate::RunOptions { demo: Some(Arc::new(SimFaultPanel(sim.clone()))), ..Default::default() };
    let mut service = match crate::Service::start(settings, options).await {
        Ok(service) => service,
        Err(e) => {
            eprintln!("error: {e} (try --http-port 0)");
            sim.shutdown();
            return ExitCode::FAILURE;
        }
    };
    println!("dashboard:         http://{}/trades", service.http_addr());
    for port in service.handle().proxies().ports() {
        if let Some(addr) = port.local_addr() {
            println!("guarded port {}: {addr} (point a TWS API engine here instead of the gateway)", port.account);
        }
    }
    let stopped = tokio::select! {
        _ = shutdown => None,
        outcome = service.wait() => Some(outcome),
    };
    let outcome = match stopped {
        Some(outcome) => Ok(outcome),
        None => Ok::<_, crate::StartError>(service.shutdown().await),
    };
    sim.shutdown();
    match outcome {
        Ok(outcome) => crate::exit_code(&outcome),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `settings` pointed at the simulated gateways (account i → listener i), with a 1 s heartbeat
/// so a newcomer sees the supervisor react quickly; a configured guarded port moves to a free
/// loopback port, as the simulated gateways are. The simulator keeps no IB reset schedule, so
/// no reset windows apply (a demo at 00:20 ET would otherwise refuse every order).
pub fn sim_settings(mut settings: Settings, sim: &Simulator) -> Settings {
    settings.reset_time = None;
    settings.reset_windows.clear();
    settings.reset_preset = None;
    for (index, account) in settings.accounts.iter_mut().enumerate().take(sim.addrs().len()) {
        let addr = sim.addr(index);
        account.host = addr.ip().to_string();
        account.port = addr.port();
        if let Some(proxy) = &mut account.proxy {
            proxy.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        }
    }
    settings.heartbeat.interval = std::time::Duration::from_secs(1);
    settings.heartbeat.probe_timeout = std::time::Duration::from_millis(500);
    settings
}

/// The dashboard's fault panel over the simulator: `POST /demo/fault` takes the same JSON as
/// the simulator's own control API (`POST /sim/fault`).
pub struct SimFaultPanel(pub Simulator);

/// The panel's buttons.
const BUTTONS: [FaultButton; 10] = [
    FaultButton { label: "drop", body: r#"{"kind":"drop"}"# },
    FaultButton { label: "reset", body: r#"{"kind":"reset"}"# },
    FaultButton { label: "hang", body: r#"{"kind":"hang"}"# },
    FaultButton { label: "refuse 10 s", body: r#"{"kind":"refuse","duration_ms":10000}"# },
    FaultButton { label: "stall handshake", body: r#"{"kind":"stall_handshake"}"# },
    FaultButton { label: "upstream lost (1100)", body: r#"{"kind":"upstream_lost"}"# },
    FaultButton { label: "restored, data lost (1101)", body: r#"{"kind":"upstream_restored","data_lost":true}"# },
    FaultButton { label: "latency 300 ms", body: r#"{"kind":"latency","latency_ms":300}"# },
    FaultButton { label: "hold client id 10 s", body: r#"{"kind":"hold_client_id","duration_ms":10000}"# },
    FaultButton { label: "clear", body: r#"{"kind":"clear"}"# },
];

impl FaultPanel for SimFaultPanel {
    fn buttons(&self) -> &[FaultButton] {
        &BUTTONS
    }

    fn inject(&self, body: &[u8]) -> Result<String, String> {
        let request = FaultRequest::from_json(body).map_err(|e| e.to_string())?;
        let kind = request.fault.kind();
        self.0.inject(request.fault, request.port).map_err(|e| e.to_string())?;
        Ok(kind.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_button_posts_a_fault_the_simulator_accepts() {
        for button in BUTTONS {
            let request = FaultRequest::from_json(button.body.as_bytes());
            assert!(request.is_ok(), "{}: {:?}", button.label, request.err());
        }
    }
}
