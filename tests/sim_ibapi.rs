//! The unmodified `ibapi` 5.5 async client, over loopback TCP, against the simulated gateway:
//! everything the supervisor and the engine rely on works as against a real gateway.

mod common;

use std::time::Duration;

use common::*;
use ibapi::orders::{OrderStatusKind, PlaceOrder};
use ibapi::prelude::*;
use ibkr_supervisor::sim::{Fault, SimOptions};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn connect_sees_managed_accounts_next_order_id_and_farm_notices() {
    let sim = sim().await;
    let (client, mut notices) = connect(sim.addr(0), 7).await;

    assert_eq!(client.server_version(), 226);
    assert_eq!(client.handshake_managed_accounts(), [ACCOUNT.to_owned()]);
    assert_eq!(client.managed_accounts().await.unwrap(), [ACCOUNT.to_owned()]);
    let next_id = client.next_valid_order_id().await.unwrap();
    assert!((1..1_500_000_000).contains(&next_id), "next valid id {next_id}");
    assert!(client.connection_time().is_some(), "connection time parsed from the handshake");

    // Handshake-time farm notices reach the pre-bound notice stream, with id -1.
    let mut farm = vec![];
    for _ in 0..3 {
        let n = notice_with(&mut notices, &[2104, 2106, 2158], WAIT).await;
        assert_eq!(n.request_id, None, "request-less notice");
        farm.push(n.code);
    }
    farm.sort();
    assert_eq!(farm, [2104, 2106, 2158]);

    let clients = sim.clients();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].client_id, 7);
}

#[tokio::test]
async fn server_time_and_millis_are_current() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 1).await;
    let now = time::OffsetDateTime::now_utc();

    let secs = client.server_time().await.unwrap();
    assert!((secs - now).abs() < time::Duration::seconds(2), "server_time {secs} vs now {now}");
    let millis = client.server_time_millis().await.unwrap();
    assert!((millis - now).abs() < time::Duration::seconds(2), "server_time_millis {millis} vs now {now}");
    assert_ne!(millis.millisecond(), 0, "millisecond precision (flaky 1 in 1000)");
}

#[tokio::test]
async fn placed_order_is_submitted_then_filled_with_execution_and_commission() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 3).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    let contract = Contract::stock("AAPL").build();
    // A marketable limit: AAPL is moved to 150, so the ask is a cent above and a BUY LMT 151
    // fills at once, at the ask (the limit or better).
    sim.set_price("AAPL", 150.0, None).unwrap();
    let order = order_builder::limit_order(Action::Buy, 10.0, 151.0);

    let mut events = client.place_order(order_id, &contract, &order).await.unwrap();
    let mut seen = vec![];
    let mut commission_seen = false;
    tokio::time::timeout(WAIT, async {
        while let Some(item) = events.next().await {
            let SubscriptionItem::Data(event) = item.expect("order event") else { continue };
            match event {
                PlaceOrder::OpenOrder(open) => {
                    assert_eq!(open.order_id, order_id);
                    assert_eq!(open.contract.symbol.to_string(), "AAPL");
                    assert_eq!(open.order.total_quantity, 10.0);
                    seen.push(format!("open:{}", open.order_state.status));
                }
                PlaceOrder::OrderStatus(status) => {
                    assert_eq!(status.order_id, order_id);
                    seen.push(format!("status:{:?}", status.status));
                    if status.status == OrderStatusKind::Filled {
                        assert_eq!(status.filled, 10.0);
                        assert_eq!(status.remaining, 0.0);
                        let price = status.average_fill_price.expect("an average fill price");
                        assert!(
                            price <= 151.0 && (price - 150.0).abs() < 1.5,
                            "filled at {price}, limit 151, market 150"
                        );
                    }
                }
                PlaceOrder::ExecutionData(exec) => {
                    assert_eq!(exec.execution.order_id, order_id);
                    assert_eq!(exec.execution.shares, 10.0);
                    assert!(exec.execution.price <= 151.0, "at the limit or better: {}", exec.execution.price);
                    seen.push("execution".into());
                }
                PlaceOrder::CommissionReport(report) => {
                    assert!(report.commission > 0.0);
                    commission_seen = true;
                    break;
                }
            }
        }
    })
    .await
    .expect("order completes");
    assert_eq!(seen[0], "open:Submitted");
    assert_eq!(seen[1], "status:Submitted");
    assert!(seen.contains(&"execution".to_owned()));
    assert!(seen.contains(&"status:Filled".to_owned()), "{seen:?}");
    assert!(commission_seen);

    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    let logged = &orders[0];
    assert_eq!((logged.order_id, logged.client_id), (order_id, 3));
    assert_eq!((logged.action.as_str(), logged.quantity.as_str(), logged.order_type.as_str()), ("BUY", "10", "LMT"));
    assert_eq!(logged.limit_price, Some(151.0));
    assert_eq!(logged.account, ACCOUNT);
}

#[tokio::test]
async fn cancel_answers_cancelled_and_202() {
    let sim = sim_with(SimOptions { fill_delay: Duration::from_secs(600), ..SimOptions::default() }).await;
    let (client, _notices) = connect(sim.addr(0), 3).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    let contract = Contract::stock("MSFT").build();
    let mut placed =
        client.place_order(order_id, &contract, &order_builder::limit_order(Action::Sell, 5.0, 400.0)).await.unwrap();
    // Wait for the order to be working before cancelling it.
    tokio::time::timeout(WAIT, async {
        while let Some(Ok(event)) = placed.next().await {
            if matches!(event, SubscriptionItem::Data(PlaceOrder::OrderStatus(ref s)) if s.status == OrderStatusKind::Submitted) {
                return;
            }
        }
        panic!("no Submitted status");
    })
    .await
    .unwrap();

    let mut cancel = client.cancel_order(order_id, "").await.unwrap();
    let (mut cancelled, mut notice_202) = (false, false);
    tokio::time::timeout(WAIT, async {
        while let Some(item) = cancel.next().await {
            match item.expect("cancel event") {
                SubscriptionItem::Data(ibapi::orders::CancelOrder::OrderStatus(s)) => {
                    assert_eq!(s.order_id, order_id);
                    cancelled |= s.status == OrderStatusKind::Cancelled;
                }
                SubscriptionItem::Notice(n) => notice_202 |= n.code == 202,
            }
            if cancelled && notice_202 {
                return;
            }
        }
    })
    .await
    .expect("cancel confirmed");

    // Cancelling again: the order is no longer cancellable (10148).
    let mut again = client.cancel_order(order_id, "").await.unwrap();
    let answer = tokio::time::timeout(WAIT, again.next()).await.unwrap().unwrap();
    match answer {
        Err(ibapi::Error::Notice(n)) => assert_eq!(n.code, 10148),
        Ok(SubscriptionItem::Notice(n)) => assert_eq!(n.code, 10148),
        other => panic!("expected 10148, got {other:?}"),
    }
}

#[tokio::test]
async fn open_orders_and_executions_are_listed() {
    let sim = sim_with(SimOptions { fill_delay: Duration::from_millis(20), ..SimOptions::default() }).await;
    let (client, _notices) = connect(sim.addr(0), 4).await;
    let contract = Contract::stock("SPY").build();
    let filled_id = client.next_valid_order_id().await.unwrap();
    let mut filled =
        client.place_order(filled_id, &contract, &order_builder::market_order(Action::Buy, 2.0)).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(Ok(event)) = filled.next().await {
            if matches!(event, SubscriptionItem::Data(PlaceOrder::OrderStatus(ref s)) if s.status == OrderStatusKind::Filled) {
                return;
            }
        }
    })
    .await
    .unwrap();
    // A resting order: not transmitted, so it stays open.
    let mut resting = order_builder::limit_order(Action::Sell, 1.0, 999.0);
    resting.transmit = false;
    let resting_id = filled_id + 1;
    let mut placed = client.place_order(resting_id, &contract, &resting).await.unwrap();
    // Let the placement's own OpenOrder/OrderStatus echo arrive before asking for open orders
    // (ibapi copies order frames to the shared open-orders channel too).
    for _ in 0..2 {
        tokio::time::timeout(WAIT, placed.next()).await.unwrap().unwrap().unwrap();
    }

    let mut open = client.open_orders().await.unwrap();
    let mut open_ids = vec![];
    tokio::time::timeout(WAIT, async {
        while let Some(item) = open.next().await {
            match item.unwrap() {
                SubscriptionItem::Data(Orders::OrderData(o)) => open_ids.push(o.order_id),
                SubscriptionItem::Data(Orders::OrderStatus(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("open orders end");
    assert_eq!(open_ids, [resting_id]);

    // ibapi routes execution frames to a live place_order stream before the request's own.
    drop(filled);
    let mut executions = client.executions(ExecutionFilter::default()).await.unwrap();
    let mut executed = vec![];
    tokio::time::timeout(WAIT, async {
        while let Some(item) = executions.next().await {
            if let SubscriptionItem::Data(ibapi::orders::Executions::ExecutionData(e)) = item.unwrap() {
                executed.push((e.execution.order_id, e.execution.shares));
            }
        }
    })
    .await
    .expect("executions end");
    assert_eq!(executed, [(filled_id, 2.0)]);
}

#[tokio::test]
async fn market_data_ticks_arrive_and_stop_after_cancel() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 5).await;
    let contract = Contract::stock("AAPL").build();
    let mut ticks = client.market_data(&contract).subscribe().await.unwrap();
    let mut prices = 0;
    tokio::time::timeout(WAIT, async {
        while let Some(item) = ticks.next().await {
            if let SubscriptionItem::Data(TickTypes::PriceSize(p)) = item.unwrap() {
                assert!(p.price > 0.0);
                prices += 1;
                if prices == 10 {
                    return;
                }
            }
        }
    })
    .await
    .expect("ten priced ticks");
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 1);

    // Dropping the subscription sends cancelMktData; the gateway stops streaming.
    drop(ticks);
    eventually(WAIT, "the subscription is cancelled at the gateway", || async {
        sim.state().listeners[0].market_data_subscriptions == 0
    })
    .await;
}

#[tokio::test]
async fn upstream_notices_reach_the_notice_stream() {
    let sim = sim().await;
    let (_client, mut notices) = connect(sim.addr(0), 6).await;

    sim.inject_all(Fault::UpstreamLost { message: None });
    let lost = notice_with(&mut notices, &[1100], WAIT).await;
    assert_eq!(lost.request_id, None);
    sim.inject_all(Fault::UpstreamRestored { data_lost: false });
    notice_with(&mut notices, &[1102], WAIT).await;
    sim.inject_all(Fault::UpstreamLost { message: None });
    notice_with(&mut notices, &[1100], WAIT).await;
    sim.inject_all(Fault::UpstreamRestored { data_lost: true });
    notice_with(&mut notices, &[1101], WAIT).await;
}

#[tokio::test]
async fn ticks_stop_while_upstream_is_lost_and_data_lost_ends_subscriptions() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 6).await;
    let mut ticks = client.market_data(&Contract::stock("SPY").build()).subscribe().await.unwrap();
    tokio::time::timeout(WAIT, ticks.next()).await.unwrap().unwrap().unwrap();

    sim.inject_all(Fault::UpstreamLost { message: None });
    // Drain what was in flight, then nothing more arrives for a while.
    while tokio::time::timeout(Duration::from_millis(100), ticks.next()).await.is_ok() {}
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ticks.next()).await.is_err(),
        "no ticks while upstream is lost"
    );

    sim.inject_all(Fault::UpstreamRestored { data_lost: false });
    tokio::time::timeout(WAIT, ticks.next()).await.expect("ticks resume after 1102").unwrap().unwrap();

    sim.inject_all(Fault::UpstreamLost { message: None });
    sim.inject_all(Fault::UpstreamRestored { data_lost: true });
    eventually(WAIT, "1101 drops the gateway's subscriptions", || async {
        sim.state().listeners[0].market_data_subscriptions == 0
    })
    .await;
}

#[tokio::test]
async fn second_connect_with_same_client_id_gets_326() {
    let sim = sim().await;
    let (_first, _notices) = connect(sim.addr(0), 9).await;
    match try_connect(sim.addr(0), 9).await {
        Err(ibapi::Error::ClientIdInUse { client_id }) => assert_eq!(client_id, 9),
        Err(other) => panic!("expected ClientIdInUse, got {other}"),
        Ok(_) => panic!("a second client with id 9 was admitted"),
    }
    // The first client is unaffected and another id is welcome.
    assert_eq!(sim.clients().len(), 1);
    let (_other, _n) = connect(sim.addr(0), 10).await;
    assert_eq!(sim.clients().len(), 2);
}

#[tokio::test]
async fn many_clients_at_once() {
    let sim = sim().await;
    let mut clients = vec![];
    for id in 0..20 {
        clients.push(connect(sim.addr(0), 100 + id).await);
    }
    let times = futures::future::join_all(clients.iter().map(|(c, _)| c.server_time())).await;
    assert!(times.iter().all(Result::is_ok));
    assert_eq!(sim.clients().len(), 20);
}
