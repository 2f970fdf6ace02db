//! Pacing of the gateway actor's requests below IB's message rate (`pacing.*`), end to end
//! against the simulated gateway, which answers 100 like IB when a client sends more than 50
//! messages in a second and records each client's busiest second.
//!
//! - A burst of 200 market-data requests goes out at no more than 45 a second, with no 100;
//!   an order placed behind the burst overtakes it. The same burst from a bare ibapi client
//!   (no pacing) is over IB's limit and answered 100: the burst is a real one.
//! - An order still waiting for the rate when the link drops is refused with the reason, and
//!   never written on the next connection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ibapi::contracts::Contract;
use ibkr_supervisor::actors::gateway::GatewayMessage;
use ibkr_supervisor::actors::{OrderEvent, Refusal, StartOptions, Supervision, Tick, TickReceiver};
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const WAIT: Duration = Duration::from_secs(10);
const BURST: usize = 200;

async fn sim_with_lines(lines: usize) -> Simulator {
    let options =
        SimOptions { market_data_lines: lines, tick_interval: Duration::from_secs(1), ..SimOptions::default() };
    Simulator::start(SimConfig::default().loopback("DU1234567").options(options)).await.unwrap()
}

fn ticks() -> (TickReceiver, UnboundedReceiver<Tick>) {
    let (tx, rx) = unbounded_channel();
    (Arc::new(move |tick| tx.send(tick).is_ok()), rx)
}

fn market_data_requests(sim: &Simulator) -> u64 {
    sim.state().listeners[0].market_data_requests
}

/// The busiest second of the client with `client_id`, as the simulator counted it.
fn busiest_second(sim: &Simulator, client_id: i32) -> u32 {
    let state = sim.state();
    state.clients.iter().filter(|c| c.client_id == client_id).map(|c| c.max_messages_per_second).max().unwrap_or(0)
}

#[tokio::test]
async fn a_burst_of_200_requests_stays_under_the_rate_and_an_order_overtakes_it() {
    let sim = sim_with_lines(BURST + 10).await;

    // Without pacing the burst is over IB's limit: a bare client is answered 100.
    let (client, mut notices) = connect(sim.addr(0), 9).await;
    let contract = Contract::stock("AAPL").build();
    let mut lines = Vec::new();
    for _ in 0..BURST {
        lines.push(client.market_data(&contract).subscribe().await.unwrap());
    }
    let violation = tokio::time::timeout(WAIT, async {
        while let Some(notice) = notices.next().await {
            if notice.code == 100 {
                return notice.message;
            }
        }
        panic!("notices ended without a 100");
    })
    .await
    .expect("the unpaced burst answered 100");
    assert!(violation.contains("Max rate of messages per second"), "{violation}");
    assert!(busiest_second(&sim, 9) > 50, "unpaced: {} in one second", busiest_second(&sim, 9));
    drop(lines);
    drop(client);
    eventually(WAIT, "the bare client gone", || async { sim.state().clients.iter().all(|c| c.client_id != 9) }).await;
    let before = market_data_requests(&sim);

    // Through the supervisor: the same burst, and an order placed behind it.
    let settings = settings_for(&sim.addrs(), json!({}));
    assert_eq!(settings.pacing.max_messages_per_second, 45, "the default rate");
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.connected())).await.unwrap();
    let guard = supervision.guard();
    let mut sinks = Vec::new();
    let subscribe = (0..BURST).map(|_| {
        let (sink, rx) = ticks();
        sinks.push(rx);
        guard.subscribe_market_data("Paper", contract.clone(), sink)
    });
    for result in futures::future::join_all(subscribe).await {
        result.expect("subscribed");
    }
    let mut order = buy_one(guard, "Paper");
    let sent = tokio::time::timeout(WAIT, order.recv()).await.expect("the order answered").unwrap();
    let requested_when_sent = market_data_requests(&sim) - before;
    assert!(matches!(sent, OrderEvent::Sent { .. }), "{sent:?}");
    assert!(
        requested_when_sent < BURST as u64,
        "the order went after all {BURST} requests ({requested_when_sent} were written before it)"
    );
    eventually(WAIT, "the order at the gateway", || async { sim.state().orders.len() == 1 }).await;

    // Every request goes, in time, within the rate, and IB never answered 100.
    eventually(WAIT, "every request written", || async { market_data_requests(&sim) - before >= BURST as u64 }).await;
    let busiest = busiest_second(&sim, 1);
    assert!(busiest <= 45, "the supervisor's busiest second held {busiest} messages");
    let paper = supervision.board().account("Paper").unwrap();
    assert_eq!(paper.pacing.violations, 0, "IB answered 100: {:?}", paper.pacing);
    assert!(paper.connected());
    for rx in &mut sinks {
        let tick = tokio::time::timeout(WAIT, rx.recv()).await.expect("every line ticks").unwrap();
        assert_eq!(tick.account, "Paper");
    }
    let gateway = supervision.gateway("Paper").unwrap();
    let snapshot = gateway.call(GatewayMessage::Snapshot, Some(WAIT)).await.unwrap().unwrap();
    assert_eq!((snapshot.paced_orders_waiting, snapshot.paced_requests_waiting), (0, 0));
    assert!(snapshot.paced_delayed >= (BURST - 45) as u64, "delayed only {}", snapshot.paced_delayed);
    supervision.shutdown().await;
}

#[tokio::test]
async fn an_order_waiting_for_the_rate_is_refused_when_the_link_drops_and_never_written_later() {
    let sim = sim_with_lines(100).await;
    // Five messages a second, one of them only for orders: orders go at most 5 a second.
    let pacing = json!({ "pacing": { "max_messages_per_second": 5, "order_reserve": 1 } });
    let supervision = Supervision::start(settings_for(&sim.addrs(), pacing), StartOptions::default()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.connected())).await.unwrap();
    let guard = supervision.guard();
    let mut orders: Vec<_> = (0..20).map(|_| buy_one(guard, "Paper")).collect();
    eventually(WAIT, "three orders written", || async { sim.state().orders.len() >= 3 }).await;
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();

    let (mut sent, mut refused) = (0, 0);
    for rx in &mut orders {
        match tokio::time::timeout(WAIT, rx.recv()).await.expect("every order answered").unwrap() {
            OrderEvent::Sent { .. } => sent += 1,
            OrderEvent::Refused { reason, .. } => {
                assert!(
                    matches!(reason, Refusal::Disconnected { .. } | Refusal::Reconnecting { .. }),
                    "refused for the lost link: {reason:?}"
                );
                refused += 1;
            }
            other => panic!("first answer {other:?}"),
        }
    }
    assert!(sent >= 3 && refused >= 5, "sent {sent}, refused {refused}: most waited for the rate");
    assert_eq!(sent + refused, 20);

    // Reconnected, and nothing that waited is written on the new connection.
    supervision
        .board()
        .wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.connected() && a.reconnect_attempts == 0))
        .await
        .unwrap();
    // A written order may be lost in flight with the socket; a refused one is never written.
    let written = sim.state().orders.len();
    assert!(written <= sent, "the gateway got {written} orders, {sent} were reported Sent");
    let mut probe = buy_one(guard, "Paper");
    let after = tokio::time::timeout(WAIT, probe.recv()).await.unwrap().unwrap();
    assert!(matches!(after, OrderEvent::Sent { .. }), "{after:?}");
    eventually(WAIT, "the new order written", || async { sim.state().orders.len() > written }).await;
    assert_eq!(sim.state().orders.len(), written + 1, "only the new order was written after the reconnect");
    supervision.shutdown().await;
}
