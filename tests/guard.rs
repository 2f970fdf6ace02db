//! The guard: engine orders and ticks pass only while the account is usable. The simulator's
//! order log is the witness that nothing reached the gateway while it should not have.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ibapi::contracts::Contract;
use ibapi::orders::{order_builder, Action};
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::{
    EventKind, MarketEvent, OrderEvent, OrderRequest, Refusal, StartOptions, Supervision, Tick, TickReceiver,
};
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const WAIT: Duration = Duration::from_secs(5);

async fn setup(fill_delay_ms: u64, overrides: serde_json::Value) -> (Simulator, Supervision, Events) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321").options(SimOptions {
        fill_delay: Duration::from_millis(fill_delay_ms),
        tick_interval: Duration::from_millis(10),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let supervision = Supervision::start(settings_for(&sim.addrs(), overrides), StartOptions::default()).await.unwrap();
    for account in ["Paper", "Live"] {
        supervision
            .board()
            .wait_for(WAIT, |b| b.account(account).is_some_and(|a| a.connected()))
            .await
            .unwrap_or_else(|b| panic!("{account} not connected: {:?}", b.account(account)));
    }
    let events = Events::record(supervision.events()).await;
    (sim, supervision, events)
}

/// An order for `account` whose events arrive on the returned receiver.
fn order(account: &str, symbol: &str, quantity: f64) -> (OrderRequest, UnboundedReceiver<OrderEvent>) {
    let (tx, rx) = unbounded_channel();
    let request = OrderRequest {
        account: account.to_owned(),
        order_id: None,
        contract: Contract::stock(symbol).build(),
        // A market order: it fills after the simulator's fill delay, which the tests stage around.
        order: order_builder::market_order(Action::Buy, quantity),
        sink: Arc::new(move |event| tx.send(event).is_ok()),
    };
    (request, rx)
}

async fn next(rx: &mut UnboundedReceiver<OrderEvent>) -> OrderEvent {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an order event in time").expect("sink alive")
}

/// Wait for the event `pick` accepts, skipping others.
async fn until<T>(rx: &mut UnboundedReceiver<OrderEvent>, mut pick: impl FnMut(&OrderEvent) -> Option<T>) -> T {
    loop {
        let event = next(rx).await;
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

fn ticks() -> (TickReceiver, UnboundedReceiver<Tick>) {
    let (tx, rx) = unbounded_channel();
    (Arc::new(move |tick| tx.send(tick).is_ok()), rx)
}

async fn wait_state(supervision: &Supervision, account: &str, state: &str) {
    supervision
        .board()
        .wait_for(WAIT, |b| b.account(account).is_some_and(|a| a.state.name() == state))
        .await
        .unwrap_or_else(|b| panic!("{account} not {state}: {:?}", b.account(account).map(|a| &a.state)));
}

#[tokio::test]
async fn no_order_reaches_a_dead_gateway_and_every_refusal_says_why() {
    let (sim, supervision, _events) = setup(50, json!({ "reconnect": { "schedule": ["100ms"] } })).await;
    let guard = supervision.guard().clone();
    let (tick_sink, mut tick_rx) = ticks();
    guard.subscribe_market_data("Paper", Contract::stock("AAPL").build(), tick_sink).await.unwrap();
    let first_tick = tokio::time::timeout(WAIT, tick_rx.recv()).await.unwrap().unwrap();
    assert_eq!(first_tick.account, "Paper");

    // Connected: the order flows to the gateway and its events stream back.
    let (request, mut rx) = order("Paper", "AAPL", 10.0);
    guard.place_order(request);
    let order_id = until(&mut rx, |e| match e {
        OrderEvent::Sent { order_id, .. } => Some(*order_id),
        _ => None,
    })
    .await;
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Filled").then_some(())).await;
    assert_eq!(sim.orders().len(), 1);
    assert_eq!(sim.orders()[0].order_id, order_id);

    // The gateway goes away for a while.
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected").await;
    while tick_rx.try_recv().is_ok() {}
    for i in 0..5 {
        let (request, mut rx) = order("Paper", "MSFT", 1.0 + i as f64);
        let sent_at = Instant::now();
        guard.place_order(request);
        match next(&mut rx).await {
            OrderEvent::Refused { account, reason, .. } => {
                assert_eq!(account, "Paper");
                let text = reason.to_string();
                assert!(
                    text.starts_with("disconnected since") || text.starts_with("reconnecting since"),
                    "the reason names the state and since when: {text}"
                );
                assert!(sent_at.elapsed() < Duration::from_millis(100), "answered at once");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let after = tokio::time::timeout(Duration::from_millis(20), rx.recv()).await;
        assert!(!matches!(after, Ok(Some(_))), "nothing follows a refusal: {after:?}");
    }
    // The other account is unaffected.
    let (request, mut live) = order("Live", "IBM", 1.0);
    guard.place_order(request);
    assert!(matches!(next(&mut live).await, OrderEvent::Sent { .. }));
    // Engine ticks offered while Paper is down are skipped, not delivered (a Gap always passes:
    // it says ticks may be missing, true whether or not the account is usable).
    let (engine_sink, mut engine_rx) = ticks();
    let tick = Tick {
        account: "Paper".into(),
        event: MarketEvent::Price { subscription: 0, tick_type: "Last".into(), price: 1.0, size: None },
    };
    assert!(guard.send_tick(tick, engine_sink));
    eventually(WAIT, "the tick was skipped", || async {
        guard.counts().iter().any(|c| c.account == "Paper" && c.ticks_skipped >= 1)
    })
    .await;
    assert!(engine_rx.try_recv().is_err());

    let paper_orders = |sim: &Simulator| sim.orders().iter().filter(|o| o.port == sim.port(0)).count();
    assert_eq!(paper_orders(&sim), 1, "no order reached the gateway while it was down");
    assert!(tokio::time::timeout(Duration::from_millis(50), tick_rx.recv()).await.is_err(), "no ticks while down");

    // Back: orders flow again, ticks resume (the subscription is re-requested).
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected").await;
    let (request, mut rx) = order("Paper", "AAPL", 3.0);
    guard.place_order(request);
    assert!(matches!(next(&mut rx).await, OrderEvent::Sent { .. }));
    until(&mut rx, |e| matches!(e, OrderEvent::Open { .. }).then_some(())).await;
    assert_eq!(paper_orders(&sim), 2);
    let resumed = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Tick { event: MarketEvent::Price { .. }, .. }) = tick_rx.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(resumed.is_ok(), "ticks resume after the reconnect");
    let counts = guard.counts();
    let paper = counts.iter().find(|c| c.account == "Paper").unwrap();
    assert_eq!((paper.orders_passed, paper.orders_refused), (2, 5));
    supervision.shutdown().await;
}

#[tokio::test]
async fn degraded_paused_and_meltdown_each_refuse_with_their_reason() {
    let (sim, mut supervision, _events) = setup(50, json!({ "supervisor": { "max_restarts": 1 } })).await;
    let guard = supervision.guard().clone();
    let refusal = |guard: &ibkr_supervisor::actors::Guard, account: &str| {
        let (request, rx) = order(account, "AAPL", 1.0);
        guard.place_order(request);
        rx
    };

    sim.inject(Fault::UpstreamLost { message: None }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "degraded").await;
    let mut rx = refusal(&guard, "Paper");
    assert!(matches!(
        next(&mut rx).await,
        OrderEvent::Refused { reason: Refusal::UpstreamLost { code: 1100, .. }, .. }
    ));
    sim.inject(Fault::UpstreamRestored { data_lost: false }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected").await;

    guard.set_paused("Paper", true).await.unwrap();
    assert!(guard.is_paused("Paper"));
    let mut rx = refusal(&guard, "Paper");
    match next(&mut rx).await {
        OrderEvent::Refused { reason, .. } => assert!(reason.to_string().starts_with("paused by operator")),
        other => panic!("{other:?}"),
    }
    guard.set_paused("Paper", false).await.unwrap();
    let mut rx = refusal(&guard, "Paper");
    assert!(matches!(next(&mut rx).await, OrderEvent::Sent { .. }));
    assert!(matches!(guard.set_paused("Nope", true).await, Err(Refusal::UnknownAccount { .. })));
    let mut rx = refusal(&guard, "Nope");
    assert!(matches!(next(&mut rx).await, OrderEvent::Refused { reason: Refusal::UnknownAccount { .. }, .. }));

    // Meltdown closes every account.
    for _ in 0..2 {
        let gateway = supervision.gateway("Live").unwrap();
        gateway.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
        eventually(WAIT, "restarted or melted down", || async {
            supervision.board().snapshot().meltdown.is_some()
                || supervision.gateway("Live").is_some_and(|g| g.get_id() != gateway.get_id())
        })
        .await;
    }
    let _ = tokio::time::timeout(WAIT, supervision.wait()).await.expect("meltdown stops the tree");
    for account in ["Paper", "Live"] {
        assert!(matches!(guard.refusal(account), Some(Refusal::Meltdown { .. })), "{account}");
    }
}

#[tokio::test]
async fn a_tick_flood_is_shed_with_bounded_memory_and_orders_are_not_starved() {
    let (sim, supervision, _events) = setup(50, json!({})).await;
    let guard = supervision.guard().clone();
    let delivered = Arc::new(AtomicU64::new(0));
    let slow_engine: TickReceiver = {
        let delivered = Arc::clone(&delivered);
        Arc::new(move |_| {
            delivered.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_micros(20)); // an engine slower than the feed
            true
        })
    };
    let flood = {
        let guard = guard.clone();
        tokio::spawn(async move {
            let mut offered = 0u64;
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(800) {
                for _ in 0..1000 {
                    let tick = Tick {
                        account: "Paper".into(),
                        event: MarketEvent::Price { subscription: 1, tick_type: "Last".into(), price: 1.0, size: None },
                    };
                    guard.send_tick(tick, Arc::clone(&slow_engine));
                    offered += 1;
                }
                tokio::task::yield_now().await;
            }
            offered
        })
    };
    // Orders placed during the flood are handled promptly.
    let mut latencies = vec![];
    let mut pace = tokio::time::interval(Duration::from_millis(20)); // spread the orders over the flood
    for _ in 0..20 {
        pace.tick().await;
        let (request, mut rx) = order("Paper", "AAPL", 1.0);
        let started = Instant::now();
        guard.place_order(request);
        assert!(matches!(next(&mut rx).await, OrderEvent::Sent { .. }));
        latencies.push(started.elapsed());
    }
    let offered = flood.await.unwrap();
    latencies.sort();
    assert!(latencies[latencies.len() - 1] < Duration::from_millis(100), "order latency under a flood: {latencies:?}");
    let counts = guard.counts();
    let paper = counts.iter().find(|c| c.account == "Paper").unwrap();
    assert!(paper.ticks_shed > 0, "beyond the queue ticks are shed: {paper:?}");
    assert_eq!(
        paper.ticks_passed + paper.ticks_shed + paper.ticks_skipped + (offered - paper.ticks_passed - paper.ticks_shed),
        offered
    );
    assert!(paper.ticks_passed + paper.ticks_shed <= offered);
    assert!(offered - paper.ticks_passed - paper.ticks_shed <= ibkr_supervisor::actors::guard::TICK_QUEUE as u64 + 1);
    eventually(WAIT, "20 orders at the gateway", || async { sim.orders().len() == 20 }).await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_filled_during_an_outage_is_reported_after_the_reconnect() {
    let (sim, supervision, events) = setup(200, json!({ "reconnect": { "schedule": ["50ms"] } })).await;
    let guard = supervision.guard().clone();
    let (request, mut rx) = order("Paper", "AAPL", 7.0);
    guard.place_order(request);
    let order_id = until(&mut rx, |e| match e {
        OrderEvent::Sent { order_id, .. } => Some(*order_id),
        _ => None,
    })
    .await;
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Submitted").then_some(())).await;

    // The gateway is gone longer than the fill delay: the fill happens while we are away.
    sim.inject(Fault::Refuse { duration_ms: Some(600) }, Some(sim.port(0))).unwrap();
    let failed = until(&mut rx, |e| match e {
        OrderEvent::Failed { error, .. } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(!failed.is_empty(), "the engine hears that the order stream broke");
    eventually(WAIT, "filled at the gateway while disconnected", || async { sim.orders()[0].status == Some("Filled") })
        .await;

    let (before, after, filled) = until(&mut rx, |e| match e {
        OrderEvent::Reconciled { order_id: id, before, after, filled, .. } if *id == Some(order_id) => {
            Some((before.clone(), after.clone(), *filled))
        }
        _ => None,
    })
    .await;
    assert_eq!((before.as_str(), after.as_str(), filled), ("Submitted", "Filled", 7.0));
    eventually(WAIT, "the reconciliation is published", || async {
        events.count("Paper", |k| matches!(k, EventKind::OrderReconciled { after, .. } if after == "Filled")) == 1
    })
    .await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_still_open_after_a_reconnect_is_followed_to_its_fill() {
    let (sim, supervision, _events) = setup(600, json!({ "reconnect": { "schedule": ["30ms"] } })).await;
    let guard = supervision.guard().clone();
    let (request, mut rx) = order("Paper", "AAPL", 4.0);
    guard.place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Submitted").then_some(())).await;

    // A short outage: back before the fill.
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    until(&mut rx, |e| matches!(e, OrderEvent::Failed { .. }).then_some(())).await;
    wait_state(&supervision, "Paper", "connected").await;
    assert_eq!(sim.orders()[0].status, Some("Submitted"), "still working at the gateway");

    // The fill comes on the new connection and reaches the engine.
    let filled = until(&mut rx, |e| match e {
        OrderEvent::Status { status, filled, .. } if status == "Filled" => Some(*filled),
        OrderEvent::Reconciled { after, filled, .. } if after == "Filled" => Some(*filled),
        _ => None,
    })
    .await;
    assert_eq!(filled, 4.0);
    supervision.shutdown().await;
}

/// 00:14:50 in New York (EDT) on Tuesday 2026-06-02: the daily window of the North American
/// preset (00:15–01:45 ET) opens 10 s in.
fn ten_seconds_before_the_nightly_reset() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-06-02T04:14:50Z").unwrap().with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn new_orders_are_refused_quiesce_before_reset_ahead_of_a_window_and_pass_outside_it() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    for (quiesce, refused) in [("30s", true), ("5s", false), ("0s", false)] {
        let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
        let overrides = json!({ "reset_preset": "ib-north-america", "guard": { "quiesce_before_reset": quiesce } });
        let clock = Arc::new(OffsetClock::starting_at(ten_seconds_before_the_nightly_reset()));
        let options = StartOptions { clock, ..StartOptions::default() };
        let supervision = Supervision::start(settings_for(&sim.addrs(), overrides), options).await.unwrap();
        supervision
            .board()
            .wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.connected()))
            .await
            .expect("connected before the window");
        let (request, mut rx) = order("Paper", "AAPL", 1.0);
        supervision.guard().place_order(request);
        let first = until(&mut rx, |e| match e {
            OrderEvent::Refused { reason, .. } => Some(Err(reason.clone())),
            OrderEvent::Sent { .. } => Some(Ok(())),
            _ => None,
        })
        .await;
        if refused {
            let Err(Refusal::ResetSoon { starts_in_s, starts_at }) = first else {
                panic!("quiesce {quiesce}: expected a ResetSoon refusal, got {first:?}")
            };
            assert!((1..=10).contains(&starts_in_s), "{starts_in_s} s before the window");
            assert_eq!(starts_at, ten_seconds_before_the_nightly_reset() + chrono::Duration::seconds(10));
            let text = Refusal::ResetSoon { starts_at, starts_in_s }.to_string();
            assert!(text.starts_with(&format!("reset window starts in {starts_in_s} s")), "{text}");
            assert!(sim.orders().is_empty(), "the refused order never reached the gateway");
            assert!(supervision.guard().refusal("Paper").is_some(), "the engine's pre-check says so too");
        } else {
            assert_eq!(first, Ok(()), "quiesce {quiesce}: 10 s before the window the order passes");
        }
        supervision.shutdown().await;
        sim.shutdown();
    }
}
