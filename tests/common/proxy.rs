//! A simulator, the supervisor with a guarded port on the first account ("Paper"), and what the
//! proxy tests wait for.

use std::net::SocketAddr;
use std::time::Duration;

use ibkr_supervisor::actors::{StartOptions, Supervision};
use ibkr_supervisor::settings::ProxySettings;
use ibkr_supervisor::sim::{SimConfig, SimOptions, Simulator};

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Guarded {
    pub sim: Simulator,
    pub supervision: Supervision,
    /// Where the guarded port of "Paper" listens.
    pub port: SocketAddr,
}

/// One simulated gateway (fast fills, fast ticks), the supervisor on it with the guarded port
/// on a free loopback port, `proxy` applied to its settings; returns once Paper is connected.
pub async fn guarded(overrides: serde_json::Value, proxy: impl FnOnce(&mut ProxySettings)) -> Guarded {
    guarded_with(overrides, proxy, StartOptions::default()).await
}

/// [`guarded`] with start options (e.g. an injected clock).
pub async fn guarded_with(
    overrides: serde_json::Value,
    proxy: impl FnOnce(&mut ProxySettings),
    options: StartOptions,
) -> Guarded {
    let sim = Simulator::start(SimConfig::default().loopback(super::ACCOUNT).options(SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(10),
        seed: Some(7),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let mut settings = super::settings_for(&sim.addrs(), overrides);
    let mut port = ProxySettings::new("127.0.0.1:0".parse().unwrap());
    proxy(&mut port);
    settings.accounts[0].proxy = Some(port);
    let supervision = Supervision::start(settings, options).await.unwrap();
    wait_connected(&supervision).await;
    let port = supervision.proxies().port("Paper").and_then(|p| p.local_addr()).expect("the port listens");
    Guarded { sim, supervision, port }
}

pub async fn wait_connected(supervision: &Supervision) {
    wait_state(supervision, "connected").await;
}

pub async fn wait_state(supervision: &Supervision, state: &str) {
    supervision
        .board()
        .wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.state.name() == state))
        .await
        .unwrap_or_else(|b| panic!("Paper not {state}: {:?}", b.account("Paper").map(|a| &a.state)));
}

impl Guarded {
    /// Orders the simulator received from `client_id` (the supervisor's own use other ids).
    pub fn orders_from(&self, client_id: i32) -> Vec<i32> {
        self.sim.orders().iter().filter(|o| o.client_id == client_id).map(|o| o.order_id).collect()
    }

    pub fn port_stats(&self) -> ibkr_supervisor::actors::proxy::PortSnapshot {
        self.supervision.proxies().port("Paper").unwrap().snapshot()
    }
}
