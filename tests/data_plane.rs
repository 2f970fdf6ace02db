//! The data plane apart from the order link, end to end against the simulated gateways with
//! the real ibapi client: a broken market-data farm degrades the account's data (`/status`,
//! `/metrics`, the dashboard), gives subscribers a `Gap` and ticks again once it is OK, while
//! orders still reach the gateway — unless `guard.block_orders_on_data_loss` refuses them
//! `DataLost`. A competing live session (10197) is alerted once per episode; IB's pacing
//! notice (100) is counted and never a lost link.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::webhook::Receiver;
use common::*;
use ibapi::contracts::Contract;
use ibkr_supervisor::actors::farms::{DataPlane, FarmKind, FarmState};
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::{
    AccountStatus, EventKind, MarketEvent, OrderEvent, Refusal, StartOptions, Supervision, Tick, TickReceiver,
};
use ibkr_supervisor::sim::{Fault, SimOptions, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const WAIT: Duration = Duration::from_secs(5);

async fn fast_gateways() -> Simulator {
    two_gateways_with(SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(10),
        ..SimOptions::default()
    })
    .await
}

/// Both accounts connected, with the three farms every session reports.
async fn wait_farms_reported(board: &ibkr_supervisor::actors::StatusBoard) {
    board
        .wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected() && a.farms.farms.len() == 3))
        .await
        .unwrap_or_else(|b| panic!("farms not reported: {:?}", b.accounts));
}

fn ticks() -> (TickReceiver, UnboundedReceiver<Tick>) {
    let (tx, rx) = unbounded_channel();
    (Arc::new(move |tick| tx.send(tick).is_ok()), rx)
}

/// The next market event `pick` accepts, skipping others.
async fn next_tick<T>(rx: &mut UnboundedReceiver<Tick>, mut pick: impl FnMut(&MarketEvent) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let tick = rx.recv().await.expect("tick sink alive");
            if let Some(found) = pick(&tick.event) {
                return found;
            }
        }
    })
    .await
    .expect("the market event in time")
}

async fn first_event(rx: &mut UnboundedReceiver<OrderEvent>) -> OrderEvent {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an order event in time").expect("sink alive")
}

fn farm<'a>(status: &'a AccountStatus, name: &str) -> Option<&'a ibkr_supervisor::actors::farms::Farm> {
    status.farms.farms.iter().find(|f| f.name == name)
}

/// Each data-plane change Paper published since `events` began recording: true when OK.
fn data_planes_ok(events: &Events) -> Vec<bool> {
    events
        .of("Paper")
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::DataPlaneChanged { farms } => Some(farms.data_plane == DataPlane::Ok),
            _ => None,
        })
        .collect()
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let (code, body) = http(addr, "GET", path, None).await;
    assert_eq!(code, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn a_broken_market_data_farm_degrades_the_data_and_orders_still_pass() {
    let sim = fast_gateways().await;
    let settings = settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" } }));
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let (handle, addr) = (service.handle(), service.http_addr());
    wait_farms_reported(handle.board()).await;
    let paper = handle.board().account("Paper").unwrap();
    assert_eq!(paper.farms.data_plane, DataPlane::Ok);
    assert_eq!(farm(&paper, "usfarm").map(|f| (f.kind, f.state)), Some((FarmKind::MarketData, FarmState::Ok)));

    let events = Events::record(handle.events()).await;
    let (sink, mut tick_rx) = ticks();
    let subscription =
        handle.guard().subscribe_market_data("Paper", Contract::stock("AAPL").build(), sink).await.unwrap();
    next_tick(&mut tick_rx, |e| matches!(e, MarketEvent::Price { .. }).then_some(())).await;

    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, Some(sim.port(0))).unwrap();
    // The subscriber is told its ticks stop, and why.
    let reason = next_tick(&mut tick_rx, |e| match e {
        MarketEvent::Gap { subscription: id, reason } if *id == subscription => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("usfarm") && reason.contains("2103"), "{reason}");
    let board = handle.board().wait_for(WAIT, |b| b.account("Paper").unwrap().farms.data_plane != DataPlane::Ok).await;
    let paper = board.unwrap().account("Paper").unwrap().clone();
    let DataPlane::Degraded { farms, since } = &paper.farms.data_plane else { unreachable!() };
    assert_eq!(farms.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["usfarm"]);
    assert_eq!(farm(&paper, "usfarm").unwrap().down_since, Some(*since));
    assert!(paper.connected(), "the link is another path: still connected, {:?}", paper.state);

    // /status, /metrics and the dashboard show it, for Paper only.
    let status: Value = serde_json::from_str(&get(addr, "/status").await).unwrap();
    let (p, l) = (&status["accounts"][0], &status["accounts"][1]);
    assert_eq!((p["name"].as_str(), p["state"].as_str()), (Some("Paper"), Some("connected")));
    assert_eq!(p["data_plane"]["status"], "degraded", "{p}");
    assert_eq!(p["data_plane"]["farms"], json!([{ "name": "usfarm", "kind": "market_data" }]));
    let usfarm = p["farms"].as_array().unwrap().iter().find(|f| f["name"] == "usfarm").unwrap();
    assert_eq!((usfarm["state"].as_str(), usfarm["code"].as_i64()), (Some("broken"), Some(2103)));
    assert!(p["refusal"].is_null(), "orders pass by default: {p}");
    assert_eq!(l["data_plane"]["status"], "ok", "{l}");
    let metrics = get(addr, "/metrics").await;
    for line in [
        r#"ibkr_farm_up{account="Paper",farm="usfarm",kind="market_data"} 0"#,
        r#"ibkr_farm_up{account="Paper",farm="ushmds",kind="historical"} 1"#,
        r#"ibkr_farm_up{account="Live",farm="usfarm",kind="market_data"} 1"#,
        r#"ibkr_data_degraded{account="Paper"} 1"#,
        r#"ibkr_data_degraded{account="Live"} 0"#,
        r#"ibkr_account_usable{account="Paper"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "/metrics lacks {line}:\n{metrics}");
    }
    let page = get(addr, "/trades/status").await;
    assert!(page.contains("<strong>Market data degraded</strong>: usfarm (market data) broken"), "{page}");
    assert!(page.contains(r#"<span class="farm broken">usfarm broken</span>"#), "{page}");

    // Orders still pass: Sent, and the gateway has them.
    let mut rx = buy_one(handle.guard(), "Paper");
    let order_id = match first_event(&mut rx).await {
        OrderEvent::Sent { order_id, .. } => order_id,
        other => panic!("the order passes while only the data farm is down: {other:?}"),
    };
    eventually(WAIT, "the simulator's order log has it", || async {
        sim.orders().iter().any(|o| o.order_id == order_id)
    })
    .await;

    // The farm is back: the data plane is whole and ticks flow again on the same subscription.
    sim.inject(Fault::FarmOk { farm: "usfarm".into() }, Some(sim.port(0))).unwrap();
    handle.board().wait_for(WAIT, |b| b.account("Paper").unwrap().farms.data_plane == DataPlane::Ok).await.unwrap();
    while tick_rx.try_recv().is_ok() {}
    next_tick(&mut tick_rx, |e| {
        matches!(e, MarketEvent::Price { subscription: id, .. } if *id == subscription).then_some(())
    })
    .await;
    let metrics = get(addr, "/metrics").await;
    assert!(metrics.contains(r#"ibkr_farm_up{account="Paper",farm="usfarm",kind="market_data"} 1"#), "{metrics}");

    let changes: Vec<DataPlane> = events
        .of("Paper")
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::DataPlaneChanged { farms } => Some(farms.data_plane),
            _ => None,
        })
        .collect();
    assert!(matches!(changes.as_slice(), [DataPlane::Degraded { .. }, DataPlane::Ok]), "{changes:?}");
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::StateChanged { .. })), 0);
    service.shutdown().await;
}

#[tokio::test]
async fn with_block_orders_on_data_loss_an_order_is_refused_data_lost_and_never_reaches_the_gateway() {
    let sim = fast_gateways().await;
    let settings = settings_for(&sim.addrs(), json!({ "guard": { "block_orders_on_data_loss": true } }));
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    wait_farms_reported(supervision.board()).await;
    let guard = supervision.guard().clone();
    assert_eq!(guard.refusal("Paper"), None, "farms OK: orders pass");

    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, Some(sim.port(0))).unwrap();
    eventually(WAIT, "the guard learns the data loss", || async {
        matches!(guard.refusal("Paper"), Some(Refusal::DataLost { .. }))
    })
    .await;
    let since = supervision.board().account("Paper").unwrap().farms.data_plane.clone();
    let DataPlane::Degraded { since, .. } = since else { panic!("degraded expected: {since:?}") };
    match first_event(&mut buy_one(&guard, "Paper")).await {
        OrderEvent::Refused { account, reason, .. } => {
            assert_eq!(account, "Paper");
            assert_eq!(reason, Refusal::DataLost { farm: "usfarm".into(), since });
            let text = reason.to_string();
            assert!(text.starts_with("market data farm usfarm broken since "), "{text}");
        }
        other => panic!("refused expected: {other:?}"),
    }
    assert!(sim.orders().is_empty(), "nothing reached the gateway: {:?}", sim.orders());
    assert!(supervision.board().account("Paper").unwrap().connected(), "still connected");

    // The other account's data is whole: its order passes.
    assert!(matches!(first_event(&mut buy_one(&guard, "Live")).await, OrderEvent::Sent { .. }));
    eventually(WAIT, "Live's order at its gateway", || async { sim.orders().len() == 1 }).await;
    assert_eq!(sim.orders()[0].client_id, 2, "the one order is Live's: {:?}", sim.orders());

    // The farm is back: the same order passes.
    sim.inject(Fault::FarmOk { farm: "usfarm".into() }, Some(sim.port(0))).unwrap();
    eventually(WAIT, "the gate opens with the farm", || async { guard.refusal("Paper").is_none() }).await;
    let order_id = match first_event(&mut buy_one(&guard, "Paper")).await {
        OrderEvent::Sent { order_id, .. } => order_id,
        other => panic!("sent expected: {other:?}"),
    };
    eventually(WAIT, "Paper's order at its gateway", || async {
        sim.orders().iter().any(|o| o.order_id == order_id && o.client_id == 1)
    })
    .await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_farm_broken_across_a_reconnect_or_a_gateway_panic_is_reported_again_and_the_gate_follows_it() {
    let sim = fast_gateways().await;
    let settings = settings_for(&sim.addrs(), json!({ "guard": { "block_orders_on_data_loss": true } }));
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    wait_farms_reported(supervision.board()).await;
    let guard = supervision.guard().clone();
    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, Some(sim.port(0))).unwrap();
    eventually(WAIT, "data lost", || async { matches!(guard.refusal("Paper"), Some(Refusal::DataLost { .. })) }).await;

    // The session ends with the farm still broken: the board forgets the farms, and the new
    // session reports usfarm broken again, so the gate closes again on data loss.
    let events = Events::record(supervision.events()).await;
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    eventually(WAIT, "reconnected with the farm broken again", || async {
        events.count("Paper", |k| matches!(k, EventKind::Connected { .. })) == 1
            && matches!(guard.refusal("Paper"), Some(Refusal::DataLost { .. }))
    })
    .await;
    let planes = data_planes_ok(&events);
    assert_eq!(planes, [true, false], "forgotten with the session, then broken again");

    // The gateway actor panics with the farm broken: its replacement starts knowing no farm
    // (and says so, so the gate does not keep a stale loss), then its session reports it again.
    let events = Events::record(supervision.events()).await;
    let gateway = supervision.gateway("Paper").unwrap();
    gateway.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
    eventually(WAIT, "a new incarnation, reconnected with the farm broken", || async {
        supervision.gateway("Paper").is_some_and(|g| g.get_id() != gateway.get_id())
            && events.count("Paper", |k| matches!(k, EventKind::Connected { .. })) == 1
            && matches!(guard.refusal("Paper"), Some(Refusal::DataLost { .. }))
    })
    .await;
    let planes = data_planes_ok(&events);
    assert_eq!(planes, [true, false], "the replacement forgot the farms, then its session reported them");
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_competing_live_session_is_alerted_once_and_shown_while_it_lasts() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = fast_gateways().await;
    let settings = settings_for(&sim.addrs(), json!({ "alerts": { "webhook_url": url, "retry": ["50ms"] } }));
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    wait_farms_reported(supervision.board()).await;
    let guard = supervision.guard().clone();
    let (sink, mut tick_rx) = ticks();
    let subscription = guard.subscribe_market_data("Paper", Contract::stock("AAPL").build(), sink).await.unwrap();
    next_tick(&mut tick_rx, |e| matches!(e, MarketEvent::Price { .. }).then_some(())).await;
    let events = Events::record(supervision.events()).await;

    // IB answers the live line 10197: one alert, the episode on the status record, a gap.
    sim.inject(Fault::CompetingSession, Some(sim.port(0))).unwrap();
    eventually(WAIT, "the competing-session alert", || async { !receiver.texts().is_empty() }).await;
    assert!(
        receiver.texts()[0].contains("IBKR Paper") && receiver.texts()[0].contains("10197"),
        "{:?}",
        receiver.texts()
    );
    let reason = next_tick(&mut tick_rx, |e| match e {
        MarketEvent::Gap { subscription: id, reason } if *id == subscription => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("competing live session"), "{reason}");
    let episode = supervision.board().account("Paper").unwrap().competing_session.expect("the episode is shown");

    // While it lasts every new line is answered 10197 too: counted in the episode, no new alert.
    for symbol in ["MSFT", "IBM", "TSLA"] {
        let (sink, _rx) = ticks();
        guard.subscribe_market_data("Paper", Contract::stock(symbol).build(), sink).await.unwrap();
    }
    supervision
        .board()
        .wait_for(WAIT, |b| b.account("Paper").unwrap().competing_session.is_some_and(|e| e.notices >= 4))
        .await
        .unwrap_or_else(|b| panic!("repeats not counted: {:?}", b.account("Paper").unwrap().competing_session));
    assert_eq!(supervision.board().account("Paper").unwrap().competing_session.unwrap().since, episode.since);
    // A later alert is the barrier: every 10197 before it was decided before it.
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    eventually(WAIT, "Live's down alert", || async {
        receiver.texts().iter().any(|t| t.contains("IBKR Live disconnected"))
    })
    .await;
    let competing: Vec<String> = receiver.texts().into_iter().filter(|t| t.contains("10197")).collect();
    assert_eq!(competing.len(), 1, "one alert per episode: {:?}", receiver.texts());
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::CompetingSession { .. })), 1);
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::StateChanged { .. })), 0);
    assert!(supervision.board().account("Paper").unwrap().connected(), "a competing session is no lost link");
    supervision.shutdown().await;
}

/// The system clock plus an offset a test moves forward.
#[derive(Default)]
struct JumpClock(std::sync::Mutex<chrono::TimeDelta>);

impl ibkr_supervisor::actors::clock::Clock for JumpClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn market_data_ended_by_a_competing_session_is_requested_again_when_it_is_over() {
    let sim = fast_gateways().await;
    let clock = Arc::new(JumpClock::default());
    let options = StartOptions { clock: clock.clone(), ..StartOptions::default() };
    let supervision = Supervision::start(settings_for(&sim.addrs(), json!({})), options).await.unwrap();
    wait_farms_reported(supervision.board()).await;
    let (sink, mut tick_rx) = ticks();
    let subscription =
        supervision.guard().subscribe_market_data("Paper", Contract::stock("AAPL").build(), sink).await.unwrap();
    next_tick(&mut tick_rx, |e| matches!(e, MarketEvent::Price { .. }).then_some(())).await;
    let events = Events::record(supervision.events()).await;

    // IB ends the line with 10197; the other session goes away (no more 10197).
    sim.inject(Fault::CompetingSession, Some(sim.port(0))).unwrap();
    next_tick(&mut tick_rx, |e| {
        matches!(e, MarketEvent::Gap { subscription: id, .. } if *id == subscription).then_some(())
    })
    .await;
    let requests = sim.state().listeners[0].market_data_requests;
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    let gateway = supervision.gateway("Paper").unwrap();
    // Still inside the quiet period: a heartbeat leaves the episode (and the dead line) alone.
    gateway.call(GatewayMessage::Heartbeat, Some(WAIT)).await.unwrap().unwrap();
    assert!(supervision.board().account("Paper").unwrap().competing_session.is_some());
    assert_eq!(sim.state().listeners[0].market_data_requests, requests, "nothing asked again during the episode");

    // Quiet for longer than the episode's quiet period: the next heartbeat ends it and the
    // line is asked for again, so ticks flow without a reconnect.
    *clock.0.lock().unwrap() = chrono::TimeDelta::minutes(16);
    gateway.call(GatewayMessage::Heartbeat, Some(WAIT)).await.unwrap().unwrap();
    assert!(supervision.board().account("Paper").unwrap().competing_session.is_none());
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), tick_rx.recv()).await {}
    let price = next_tick(&mut tick_rx, |e| match e {
        MarketEvent::Price { subscription: id, price, .. } if *id == subscription => Some(*price),
        _ => None,
    })
    .await;
    assert!(price > 0.0);
    assert_eq!(sim.state().listeners[0].market_data_requests, requests + 1, "the ended line, once");
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::Connected { .. })), 0);
    supervision.shutdown().await;
}

#[tokio::test]
async fn pacing_violations_are_counted_and_the_link_stays_up() {
    let sim = fast_gateways().await;
    let settings = settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" } }));
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let (handle, addr) = (service.handle(), service.http_addr());
    wait_farms_reported(handle.board()).await;
    let events = Events::record(handle.events()).await;

    for _ in 0..5 {
        sim.inject(Fault::PacingViolation, Some(sim.port(0))).unwrap();
    }
    let board = handle.board().wait_for(WAIT, |b| b.account("Paper").unwrap().pacing.violations == 5).await;
    let paper =
        board.unwrap_or_else(|b| panic!("not counted: {:?}", b.account("Paper"))).account("Paper").unwrap().clone();
    assert!(paper.pacing.last_violation.is_some());
    assert!(paper.connected(), "{:?}", paper.state);
    assert_eq!(handle.board().account("Live").unwrap().pacing.violations, 0);

    // The link is alive: a probe answers, and an order is written after it.
    let gateway = handle.directory().gateway("Paper").unwrap();
    let rtt = gateway.call(GatewayMessage::ProbeNow, Some(WAIT)).await.unwrap();
    assert!(matches!(rtt, ractor::rpc::CallResult::Success(Ok(_))), "the probe answers");
    assert!(matches!(first_event(&mut buy_one(handle.guard(), "Paper")).await, OrderEvent::Sent { .. }));

    let status: Value = serde_json::from_str(&get(addr, "/status").await).unwrap();
    assert_eq!(status["accounts"][0]["pacing"]["violations"], 5, "{}", status["accounts"][0]);
    let metrics = get(addr, "/metrics").await;
    assert!(metrics.lines().any(|l| l == r#"ibkr_pacing_violations_total{account="Paper"} 5"#), "{metrics}");
    assert!(metrics.lines().any(|l| l == r#"ibkr_pacing_violations_total{account="Live"} 0"#), "{metrics}");
    let page = get(addr, "/trades/status").await;
    assert!(page.contains("exceeded (100) 5 times"), "{page}");
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::ProbeFailed { .. })), 0);
    service.shutdown().await;
}
