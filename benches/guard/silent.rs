//! Phase 3 of `cargo bench --bench guard`: the liveness gate's cost. A supervision tree of its
//! own (the same simulator, `orders.max_silence` = [`MAX_SILENCE`]) places orders one at a time,
//! first 30–40 ms apart (the previous order's Open came within `max_silence`: written at
//! once), then
//! [`SILENT_GAP`] apart (silent longer than `max_silence`: the gateway probes — one
//! `reqCurrentTime` round trip — before it writes the order). Side by side in one run, so the
//! difference is the probe's round trip.

use std::time::Duration;

use ibkr_supervisor::actors::{StartOptions, Supervision};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::Simulator;

use super::{order_phase, Gap, OrderPhase, ACCOUNT, OTHER};

/// `orders.max_silence` for this phase.
pub const MAX_SILENCE: Duration = Duration::from_millis(100);
/// The pause before each order of the silent run: longer than `max_silence`. Both runs stay
/// under the gateway's pacing (45 messages a second, a probe and an order per silent gap), so
/// neither waits for the rate.
pub const SILENT_GAP: Duration = Duration::from_millis(150);

/// The two runs of the phase.
pub struct SilentPhase {
    /// Orders placed while the link is fresh.
    pub fresh: OrderPhase,
    /// Orders placed after the link was silent longer than `max_silence`.
    pub silent: OrderPhase,
}

/// Start the phase's tree on `sim`, run both, stop it; `None` when it did not connect.
pub async fn run(sim: &Simulator, database: &std::path::Path, orders: usize) -> Option<SilentPhase> {
    let json = serde_json::json!({
        "accounts": [
            { "name": ACCOUNT, "paper_trading": true, "host": "127.0.0.1", "port": sim.port(0), "client_id": 1 },
            { "name": OTHER, "paper_trading": false, "host": "127.0.0.1", "port": sim.port(1), "client_id": 2 },
        ],
        "heartbeat": { "interval": "1h", "probe_timeout": "2s", "connect_timeout": "5s" },
        "reconnect": { "auto": true, "schedule": ["50ms"], "jitter": 0.0, "manual_min_interval": "0s" },
        "orders": { "max_silence": format!("{}ms", MAX_SILENCE.as_millis()) },
        "reset_time": null,
        "database": { "path": database },
    });
    let settings = Settings::from_json_str(&json.to_string()).expect("bench settings are valid");
    let supervision = Supervision::start(settings, StartOptions::default()).await.expect("supervision starts");
    let connected =
        supervision.board().wait_for(Duration::from_secs(5), |b| b.account(ACCOUNT).is_some_and(|a| a.connected()));
    if connected.await.is_err() {
        supervision.shutdown().await;
        return None;
    }
    let guard = supervision.guard().clone();
    // The guard learns the state from the published event, a hop after the board.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while guard.refusal(ACCOUNT).is_some() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!("  orders: {orders} on a fresh link, then {orders} after {SILENT_GAP:?} of silence each");
    let fresh = order_phase(&guard, orders, Gap::Random).await;
    let silent = order_phase(&guard, orders, Gap::Fixed(SILENT_GAP)).await;
    supervision.shutdown().await;
    Some(SilentPhase { fresh, silent })
}
