//! `ibkr-supervisor demo`: simulated paper and live gateways on free loopback ports, their
//! control API, and the supervisor pointed at them. The README's first command.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use ibkr_supervisor_actors::settings::Settings;

use crate::cli::DemoArgs;
use crate::sim::{SimConfig, Simulator};

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
    println!("inject a fault:    curl -X POST http://{control}/sim/fault -d '{{\"kind\":\"drop\"}}'");
    println!("press Ctrl-C to stop");

    let mut settings = sim_settings(Settings::default(), &sim);
    settings.http.bind = SocketAddr::from(([127, 0, 0, 1], args.http_port));
    // A throwaway database unless --database is given: the demo leaves nothing behind.
    let scratch = tempfile::tempdir().ok();
    settings.database.path = match (&args.database, &scratch) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.path().join("demo.db"),
        (None, None) => std::env::temp_dir().join("ibkr-supervisor-demo.db"),
    };
    println!("database:          {}", settings.database.path.display());
    let options = crate::RunOptions { demo: Some(sim.clone()), ..Default::default() };
    let mut service = match crate::Service::start(settings, options).await {
        Ok(service) => service,
        Err(e) => {
            eprintln!("error: {e} (try --http-port 0)");
            sim.shutdown();
            return ExitCode::FAILURE;
        }
    };
    println!("dashboard:         http://{}/trades", service.http_addr());
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
/// so a newcomer sees the supervisor react quickly.
pub fn sim_settings(mut settings: Settings, sim: &Simulator) -> Settings {
    for (index, account) in settings.accounts.iter_mut().enumerate().take(sim.addrs().len()) {
        let addr = sim.addr(index);
        account.host = addr.ip().to_string();
        account.port = addr.port();
    }
    settings.heartbeat.interval = std::time::Duration::from_secs(1);
    settings.heartbeat.probe_timeout = std::time::Duration::from_millis(500);
    settings
}
