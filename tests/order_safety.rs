//! Order safety on the hard paths (issue 10): a gateway incarnation that panics or is killed
//! leaves no socket behind; an order dropped with a killed gateway is answered at once and
//! then reconciled; reconciliation across midnight, after a cancel while away, across client
//! ids; the liveness gate on the send path; subscriptions that end. Real ibapi over loopback
//! against the simulator; the simulator's client list, order log and market-data request count
//! are the witnesses.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
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

const WAIT: Duration = Duration::from_secs(10);

async fn setup(fill_delay_ms: u64, overrides: serde_json::Value) -> (Simulator, Supervision, Events) {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").options(SimOptions {
        fill_delay: Duration::from_millis(fill_delay_ms),
        tick_interval: Duration::from_millis(10),
        seed: Some(3),
        ..SimOptions::default()
    }))
    .await
    .unwrap();
    let supervision = Supervision::start(settings_for(&sim.addrs(), overrides), StartOptions::default()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.expect("Paper connects");
    let events = Events::record(supervision.events()).await;
    (sim, supervision, events)
}

/// A buy of `quantity` AAPL at market (it fills after the simulator's fill delay) with the
/// time each event arrived.
fn market_buy(quantity: f64) -> (OrderRequest, UnboundedReceiver<(DateTime<Utc>, OrderEvent)>) {
    let (tx, rx) = unbounded_channel();
    let request = OrderRequest {
        account: "Paper".into(),
        order_id: None,
        contract: Contract::stock("AAPL").build(),
        order: order_builder::market_order(Action::Buy, quantity),
        sink: Arc::new(move |event| tx.send((Utc::now(), event)).is_ok()),
    };
    (request, rx)
}

/// A buy limit far below the market: it rests until cancelled.
fn resting_buy() -> (OrderRequest, UnboundedReceiver<(DateTime<Utc>, OrderEvent)>) {
    let (mut request, rx) = market_buy(3.0);
    request.order = order_builder::limit_order(Action::Buy, 3.0, 1.0);
    (request, rx)
}

async fn until<T>(
    rx: &mut UnboundedReceiver<(DateTime<Utc>, OrderEvent)>,
    mut pick: impl FnMut(&OrderEvent) -> Option<T>,
) -> (DateTime<Utc>, T) {
    tokio::time::timeout(WAIT, async {
        loop {
            let (at, event) = rx.recv().await.expect("the sink is alive");
            if let Some(found) = pick(&event) {
                return (at, found);
            }
        }
    })
    .await
    .expect("the expected order event in time")
}

fn ticks() -> (TickReceiver, UnboundedReceiver<Tick>) {
    let (tx, rx) = unbounded_channel();
    (Arc::new(move |tick| tx.send(tick).is_ok()), rx)
}

async fn wait_state(supervision: &Supervision, state: &str) {
    supervision
        .board()
        .wait_for(WAIT, |b| b.accounts[0].state.name() == state)
        .await
        .unwrap_or_else(|b| panic!("Paper not {state}: {:?}", b.accounts[0].state));
}

/// Sessions the simulator holds for Paper: (client id, peer).
fn sessions(sim: &Simulator) -> Vec<i32> {
    sim.clients().iter().filter(|c| c.port == sim.port(0)).map(|c| c.client_id).collect()
}

async fn replaced(supervision: &Supervision, before: &ractor::ActorRef<GatewayMessage>) {
    eventually(WAIT, "a new gateway incarnation", || async {
        supervision.gateway("Paper").is_some_and(|g| g.get_id() != before.get_id())
    })
    .await;
}

/// Panic, or freeze until the watchdog reports it stuck and the root kills it: either way the
/// old socket goes with the incarnation, the replacement connects on the primary id, market
/// data resumes after a Gap, and the open order's fill reaches the engine once.
async fn incarnation_ends_cleanly(drill: Drill) {
    let (sim, supervision, _events) = setup(
        1500,
        json!({
            "heartbeat": { "interval": "100ms", "probe_timeout": "100ms" },
            "supervisor": { "stuck_margin": "150ms" },
        }),
    )
    .await;
    let guard = supervision.guard().clone();
    let (sink, mut ticks) = ticks();
    guard.subscribe_market_data("Paper", Contract::stock("AAPL").build(), sink).await.unwrap();
    tokio::time::timeout(WAIT, ticks.recv()).await.unwrap().unwrap();
    let (request, mut rx) = market_buy(5.0);
    guard.place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Submitted").then_some(())).await;
    assert_eq!(sessions(&sim), [1]);

    let before = supervision.gateway("Paper").unwrap();
    before.send_message(GatewayMessage::Drill(drill)).unwrap();
    replaced(&supervision, &before).await;
    wait_state(&supervision, "connected").await;
    eventually(WAIT, "exactly one session, on the primary id", || async { sessions(&sim) == [1] }).await;
    assert_eq!(supervision.board().account("Paper").unwrap().client_id, 1);

    // Market data: re-requested by the new incarnation, announced by a Gap, ticks again.
    tokio::time::timeout(WAIT, async {
        let mut gap = false;
        while let Some(tick) = ticks.recv().await {
            match tick.event {
                MarketEvent::Gap { .. } => gap = true,
                MarketEvent::Price { .. } if gap => return,
                MarketEvent::Price { .. } => {}
            }
        }
    })
    .await
    .expect("a Gap, then ticks from the new session");
    assert_eq!(sim.state().listeners[0].market_data_requests, 2, "re-requested once, by the new session");

    // The fill: delivered exactly once (as a status on the new session's order stream, or as
    // a reconcile report if it came first).
    let mut fills = 0;
    let mut events = Vec::new();
    until(&mut rx, |e| {
        events.push(e.clone());
        let filled = matches!(e, OrderEvent::Status { status, .. } if status == "Filled")
            || matches!(e, OrderEvent::Reconciled { after, .. } if after == "Filled");
        fills += usize::from(filled);
        filled.then_some(())
    })
    .await;
    // A later order's fill is a sync point: a duplicate of the first would have come before.
    let (second, mut rx2) = market_buy(1.0);
    guard.place_order(second);
    until(&mut rx2, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Filled").then_some(())).await;
    while let Ok((_, e)) = rx.try_recv() {
        fills += usize::from(
            matches!(&e, OrderEvent::Status { status, .. } if status == "Filled")
                || matches!(&e, OrderEvent::Reconciled { after, .. } if after == "Filled"),
        );
        events.push(e);
    }
    assert_eq!(fills, 1, "the fill is delivered exactly once: {events:?}");
    let executions = events.iter().filter(|e| matches!(e, OrderEvent::Execution { .. })).count();
    assert!(executions <= 1, "no execution delivered twice: {events:?}");
    assert_eq!(sessions(&sim), [1]);
    supervision.shutdown().await;
    eventually(WAIT, "no session outlives shutdown", || async { sessions(&sim).is_empty() }).await;
}

#[tokio::test]
async fn a_panicking_gateway_leaves_one_session_on_the_primary_id_and_loses_nothing() {
    incarnation_ends_cleanly(Drill::Panic).await;
}

#[tokio::test]
async fn a_stuck_killed_gateway_leaves_one_session_on_the_primary_id_and_loses_nothing() {
    incarnation_ends_cleanly(Drill::Freeze(Duration::from_secs(3600))).await;
}

#[tokio::test]
async fn an_order_in_a_frozen_gateways_mailbox_is_failed_at_the_kill_then_reconciled() {
    let (sim, supervision, events) = setup(
        50,
        json!({
            "heartbeat": { "interval": "100ms", "probe_timeout": "100ms" },
            "supervisor": { "stuck_margin": "150ms" },
        }),
    )
    .await;
    let before = supervision.gateway("Paper").unwrap();
    before.send_message(GatewayMessage::Drill(Drill::Freeze(Duration::from_secs(3600)))).unwrap();
    // The gate is open (the gateway is frozen, not disconnected): the guard passes the order
    // into the frozen mailbox.
    let (request, mut rx) = market_buy(2.0);
    supervision.guard().place_order(request);
    let (failed_at, error) = until(&mut rx, |e| match e {
        OrderEvent::Failed { error, order_id: None, .. } => Some(error.clone()),
        OrderEvent::Sent { .. } => panic!("sent through a frozen gateway"),
        _ => None,
    })
    .await;
    assert!(error.contains("not sent"), "{error}");
    replaced(&supervision, &before).await;
    let restarted = events
        .all()
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::ActorRestarted { .. }))
        .expect("the restart is published");
    let lag = (failed_at - restarted.at).num_milliseconds().abs();
    assert!(lag < 1000, "Failed {lag} ms from the kill");
    let (_, (after, filled)) = until(&mut rx, |e| match e {
        OrderEvent::Reconciled { after, filled, .. } => Some((after.clone(), *filled)),
        _ => None,
    })
    .await;
    assert_eq!((after.as_str(), filled), ("NotSent", 0.0));
    assert!(sim.orders().is_empty(), "the simulator never saw it");
    supervision.shutdown().await;
}

/// Time from the simulator's now to just past its next midnight (UTC, the simulator's zone).
fn past_midnight(now: DateTime<Utc>) -> Duration {
    let midnight = (now.date_naive() + chrono::Days::new(1)).and_hms_opt(0, 0, 30).unwrap().and_utc();
    (midnight - now).to_std().unwrap()
}

#[tokio::test]
async fn a_fill_before_midnight_is_reconciled_filled_after_it() {
    let (sim, supervision, _events) = setup(300, json!({})).await;
    let (request, mut rx) = market_buy(7.0);
    supervision.guard().place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Submitted").then_some(())).await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(0))).unwrap();
    until(&mut rx, |e| matches!(e, OrderEvent::Failed { .. }).then_some(())).await;
    eventually(WAIT, "filled while away", || async { sim.orders()[0].status == Some("Filled") }).await;
    // The outage spans the gateway's midnight: the fill is yesterday's now, no longer among
    // today's completed orders nor in a default executions request.
    sim.advance_clock(past_midnight(sim.now(0)));
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    let (_, (after, filled, avg)) = until(&mut rx, |e| match e {
        OrderEvent::Reconciled { after, filled, avg_fill_price, .. } => Some((after.clone(), *filled, *avg_fill_price)),
        OrderEvent::Unknown { .. } => panic!("a fill before midnight reported unknown: {e:?}"),
        _ => None,
    })
    .await;
    assert_eq!((after.as_str(), filled), ("Filled", 7.0));
    assert!(avg.is_some_and(|p| p > 0.0), "the fill price is reported: {avg:?}");
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_cancelled_at_the_gateway_while_away_is_reconciled_cancelled() {
    let (sim, supervision, _events) = setup(50, json!({ "reconnect": { "schedule": ["1500ms"] } })).await;
    let (request, mut rx) = resting_buy();
    supervision.guard().place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Status { status, .. } if status == "Submitted").then_some(())).await;
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "disconnected").await;
    // Someone cancels every order at the gateway (TWS, another client) while we are away.
    let (other, _notices) = connect(sim.addr(0), 77).await;
    other.global_cancel().await.unwrap();
    eventually(WAIT, "cancelled at the gateway", || async { sim.orders()[0].status == Some("Cancelled") }).await;
    drop(other);
    let (_, (after, filled, avg)) = until(&mut rx, |e| match e {
        OrderEvent::Reconciled { after, filled, avg_fill_price, .. } => Some((after.clone(), *filled, *avg_fill_price)),
        _ => None,
    })
    .await;
    assert_eq!((after.as_str(), filled, avg), ("Cancelled", 0.0, None));
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_placed_on_a_fallback_id_and_filled_while_away_is_reported() {
    let (sim, supervision, events) =
        setup(1200, json!({ "heartbeat": { "interval": "100ms", "probe_timeout": "80ms" } })).await;
    // The primary id stays held after the next drop: the supervisor lands on fallback 11.
    sim.inject(Fault::HoldClientId { duration_ms: 60_000 }, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    eventually(WAIT, "reconnected on fallback 11", || async { sessions(&sim) == [11] }).await;
    wait_state(&supervision, "connected").await;
    let (request, mut rx) = market_buy(4.0);
    supervision.guard().place_order(request);
    let (_, client_id) = until(&mut rx, |e| match e {
        OrderEvent::Sent { client_id, .. } => Some(*client_id),
        _ => None,
    })
    .await;
    assert_eq!(client_id, 11);
    eventually(WAIT, "working at the gateway", || async {
        sim.orders().first().is_some_and(|o| o.status == Some("Submitted"))
    })
    .await;
    // The primary id is free again; the next connection is on it, and client 1 sees neither
    // client 11's order stream nor its executions.
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    eventually(WAIT, "reconnected on the primary id", || async { sessions(&sim) == [1] }).await;
    let (_, (after, filled)) = until(&mut rx, |e| match e {
        OrderEvent::Reconciled { after, filled, .. } if after == "Filled" => Some((after.clone(), *filled)),
        _ => None,
    })
    .await;
    assert_eq!((after.as_str(), filled), ("Filled", 4.0));
    eventually(WAIT, "published", || async {
        events.count(
            "Paper",
            |k| matches!(k, EventKind::OrderReconciled { client_id: 11, after, .. } if after == "Filled"),
        ) == 1
    })
    .await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_written_into_a_hung_socket_that_then_closes_is_unknown_never_invented() {
    // A generous max_silence: the order is written on the strength of the last tick, the one
    // window the liveness gate cannot close.
    let (sim, supervision, events) = setup(50, json!({ "orders": { "max_silence": "10s" } })).await;
    let (sink, mut ticks) = ticks();
    supervision.guard().subscribe_market_data("Paper", Contract::stock("AAPL").build(), sink).await.unwrap();
    tokio::time::timeout(WAIT, ticks.recv()).await.unwrap().unwrap();
    sim.inject(Fault::Hang, Some(sim.port(0))).unwrap();
    let (request, mut rx) = market_buy(2.0);
    supervision.guard().place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Sent { .. }).then_some(())).await;
    // The gateway goes away before it read the order: its sessions close unread.
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "disconnected").await;
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    let (_, last) = until(&mut rx, |e| match e {
        OrderEvent::Unknown { last_status, filled, .. } => Some((last_status.clone(), *filled)),
        OrderEvent::Reconciled { .. } => panic!("an order seen nowhere was invented a state: {e:?}"),
        _ => None,
    })
    .await;
    assert_eq!(last, ("PendingSubmit".to_owned(), 0.0));
    assert!(sim.orders().is_empty(), "the gateway never booked it");
    eventually(WAIT, "alerted as an event", || async {
        events.count("Paper", |k| matches!(k, EventKind::OrderUnknown { .. })) == 1
    })
    .await;
    assert_eq!(
        supervision
            .gateway("Paper")
            .unwrap()
            .call(GatewayMessage::Snapshot, Some(WAIT))
            .await
            .unwrap()
            .unwrap()
            .orders_in_flight,
        1,
        "kept for the next reconcile"
    );
    supervision.shutdown().await;
}

#[tokio::test]
async fn orders_during_a_hang_never_reach_the_gateway_and_are_refused_within_the_probe_timeout() {
    // Every order needs a fresh sign of life: with max_silence 1ms that is a probe each time.
    let (sim, supervision, _events) = setup(50, json!({ "orders": { "max_silence": "1ms" } })).await;
    let (request, mut rx) = market_buy(1.0);
    supervision.guard().place_order(request);
    until(&mut rx, |e| matches!(e, OrderEvent::Sent { .. }).then_some(())).await;
    eventually(WAIT, "a live link passes orders after one probe", || async { sim.orders().len() == 1 }).await;

    sim.inject(Fault::Hang, Some(sim.port(0))).unwrap();
    let probe_timeout = Duration::from_millis(200);
    let mut pending = Vec::new();
    for _ in 0..5 {
        let (request, rx) = market_buy(1.0);
        let placed = Utc::now();
        supervision.guard().place_order(request);
        pending.push((placed, rx));
    }
    for (placed, mut rx) in pending {
        let (at, reason) = until(&mut rx, |e| match e {
            OrderEvent::Refused { reason, .. } => Some(reason.clone()),
            OrderEvent::Sent { .. } => panic!("an order was written into a hung socket"),
            _ => None,
        })
        .await;
        let took = (at - placed).to_std().unwrap();
        assert!(took <= probe_timeout + Duration::from_millis(100), "refused after {took:?}");
        assert!(
            matches!(
                reason,
                Refusal::NotAnswering { .. } | Refusal::Disconnected { .. } | Refusal::Reconnecting { .. }
            ),
            "{reason:?}"
        );
    }
    assert_eq!(sim.orders().len(), 1, "nothing written during the hang reached the gateway");
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_unsubscribed_or_dropped_subscriber_is_not_re_requested_after_a_reconnect() {
    let (sim, supervision, _events) = setup(50, json!({})).await;
    let guard = supervision.guard().clone();
    let aapl = || Contract::stock("AAPL").build();
    let (kept, mut kept_rx) = ticks();
    let (dropped, dropped_rx) = ticks();
    let (ended, _ended_rx) = ticks();
    guard.subscribe_market_data("Paper", aapl(), kept).await.unwrap();
    guard.subscribe_market_data("Paper", aapl(), dropped).await.unwrap();
    let ended_id = guard.subscribe_market_data("Paper", aapl(), ended).await.unwrap();
    let requests = || sim.state().listeners[0].market_data_requests;
    eventually(WAIT, "three requests", || async { requests() == 3 }).await;
    assert!(guard.unsubscribe_market_data("Paper", ended_id));
    drop(dropped_rx);
    eventually(WAIT, "the dropped and the unsubscribed are cancelled at the gateway", || async {
        sim.state().listeners[0].market_data_subscriptions == 1
    })
    .await;

    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "disconnected").await;
    wait_state(&supervision, "connected").await;
    tokio::time::timeout(WAIT, async {
        while let Some(tick) = kept_rx.recv().await {
            if matches!(tick.event, MarketEvent::Gap { .. }) {
                return;
            }
        }
    })
    .await
    .expect("the kept subscriber hears of the gap");
    eventually(WAIT, "the kept subscription is re-requested", || async { requests() == 4 }).await;
    let _ = kept_rx.recv().await;
    assert_eq!(requests(), 4, "only the kept subscription was re-requested");
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 1);
    supervision.shutdown().await;
}
