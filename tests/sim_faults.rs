//! Every fault of the simulated gateway, as the real `ibapi` client (and a raw socket) sees it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ibapi::orders::PlaceOrder;
use ibapi::prelude::*;
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};

const WAIT: Duration = Duration::from_secs(5);

/// The client learns of the loss: its notice stream ends and it reports disconnected.
async fn assert_connection_lost(client: &Client, notices: &mut NoticeStream) {
    tokio::time::timeout(WAIT, async { while notices.next().await.is_some() {} })
        .await
        .expect("notice stream ends when the connection is lost");
    assert!(!client.is_connected());
    assert!(client.server_time().await.is_err());
}

#[tokio::test]
async fn drop_closes_with_fin_and_the_client_sees_the_loss() {
    let sim = sim().await;
    let (client, mut notices) = connect(sim.addr(0), 1).await;
    let mut raw = RawClient::start(sim.addr(0), 2).await;

    sim.inject_all(Fault::Drop);
    assert_connection_lost(&client, &mut notices).await;
    let closed = tokio::time::timeout(WAIT, raw.read_to_close()).await.expect("closed");
    assert!(closed.is_ok(), "a clean FIN, not a reset: {closed:?}");
    eventually(WAIT, "clients unregistered", || async { sim.clients().is_empty() }).await;

    // The gateway keeps listening: a new session works at once.
    let (again, _n) = connect(sim.addr(0), 1).await;
    again.server_time().await.unwrap();
}

#[tokio::test]
async fn reset_aborts_with_rst_and_the_client_sees_the_loss() {
    let sim = sim().await;
    let (client, mut notices) = connect(sim.addr(0), 1).await;
    let mut raw = RawClient::start(sim.addr(0), 2).await;

    sim.inject_all(Fault::Reset);
    assert_connection_lost(&client, &mut notices).await;
    let closed = tokio::time::timeout(WAIT, raw.read_to_close()).await.expect("closed");
    assert_eq!(closed.expect_err("an RST").kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn hang_keeps_the_socket_open_but_probes_time_out() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 1).await;
    client.server_time().await.unwrap();

    sim.inject_all(Fault::Hang);
    let started = Instant::now();
    match client.server_time().await {
        Err(ibapi::Error::Timeout) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(450), "the one-shot timeout (500 ms) elapsed");
    assert!(client.is_connected(), "a half-open socket still looks connected");
    assert_eq!(sim.clients().len(), 1, "the gateway did not close it either");

    // New connections are accepted but not answered while hung.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), try_connect_unbounded(sim.addr(0), 2)).await.is_err(),
        "handshake answered during a hang"
    );

    sim.inject_all(Fault::Clear);
    let (fresh, _n) = connect(sim.addr(0), 3).await;
    fresh.server_time().await.unwrap();
}

/// ibapi's connect with no timeout of its own, as the supervisor must never call it.
async fn try_connect_unbounded(addr: std::net::SocketAddr, client_id: i32) -> Result<Client, ibapi::Error> {
    Client::builder().address(addr.to_string()).client_id(client_id).max_reconnect_attempts(0).connect().await
}

#[tokio::test]
async fn stall_handshake_makes_a_bounded_connect_time_out() {
    let sim = sim().await;
    sim.inject_all(Fault::StallHandshake);
    let started = Instant::now();
    let attempt = tokio::time::timeout(Duration::from_millis(300), try_connect_unbounded(sim.addr(0), 1)).await;
    assert!(attempt.is_err(), "connect must still be pending when the timeout fires");
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.inject_all(Fault::Clear);
    let (client, _n) = connect(sim.addr(0), 1).await;
    client.server_time().await.unwrap();
}

#[tokio::test]
async fn refuse_closes_clients_and_the_listener_until_clear() {
    let sim = sim().await;
    let (client, mut notices) = connect(sim.addr(0), 1).await;

    sim.inject_all(Fault::Refuse { duration_ms: None });
    assert_connection_lost(&client, &mut notices).await;
    for _ in 0..3 {
        match try_connect(sim.addr(0), 1).await {
            Err(ibapi::Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
            Err(other) => panic!("expected connection refused, got {other}"),
            Ok(_) => panic!("connected while refusing"),
        }
    }
    assert!(!sim.state().listeners[0].listening);

    sim.inject_all(Fault::Clear);
    eventually(WAIT, "listening again after clear", || async { try_connect(sim.addr(0), 1).await.is_ok() }).await;
}

#[tokio::test]
async fn refuse_with_a_duration_listens_again_by_itself() {
    let sim = sim().await;
    sim.inject_all(Fault::Refuse { duration_ms: Some(300) });
    assert!(try_connect(sim.addr(0), 1).await.is_err());
    let refused_at = Instant::now();
    eventually(WAIT, "listening again after duration_ms", || async { try_connect(sim.addr(0), 1).await.is_ok() }).await;
    assert!(refused_at.elapsed() >= Duration::from_millis(250));
}

async fn rtt(client: &Client) -> Duration {
    let started = Instant::now();
    client.server_time().await.unwrap();
    started.elapsed()
}

#[tokio::test]
async fn latency_delays_every_reply() {
    let sim = sim().await;
    let (client, _notices) = connect(sim.addr(0), 1).await;
    let baseline = rtt(&client).await;
    sim.inject_all(Fault::Latency { latency_ms: 150 });
    let delayed = rtt(&client).await;
    assert!(delayed >= Duration::from_millis(150), "latency applied: {delayed:?}");
    assert!(delayed < Duration::from_millis(450), "and only once: {delayed:?}");
    sim.inject_all(Fault::Clear);
    let cleared = rtt(&client).await;
    assert!(cleared < Duration::from_millis(100), "baseline {baseline:?}, after clear {cleared:?}");
}

#[tokio::test]
async fn hold_client_id_refuses_an_immediate_reconnect_then_admits_it() {
    let sim = sim().await;
    let (client, mut notices) = connect(sim.addr(0), 4).await;
    sim.inject_all(Fault::HoldClientId { duration_ms: 400 });
    sim.inject_all(Fault::Drop);
    assert_connection_lost(&client, &mut notices).await;
    let dropped_at = Instant::now();

    match try_connect(sim.addr(0), 4).await {
        Err(ibapi::Error::ClientIdInUse { client_id }) => assert_eq!(client_id, 4),
        other => panic!("expected 326 right after the drop, got {:?}", other.map(|_| ())),
    }
    // Another id is fine meanwhile.
    let (_other, _n) = connect(sim.addr(0), 5).await;
    eventually(WAIT, "id 4 released", || async { try_connect(sim.addr(0), 4).await.is_ok() }).await;
    assert!(dropped_at.elapsed() >= Duration::from_millis(350), "held for duration_ms");
}

#[tokio::test]
async fn a_fault_can_target_one_listener() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1").loopback("U2")).await.unwrap();
    let (paper, mut paper_notices) = connect(sim.addr(0), 1).await;
    let (live, _live_notices) = connect(sim.addr(1), 1).await;

    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    assert_connection_lost(&paper, &mut paper_notices).await;
    live.server_time().await.expect("the other listener is untouched");
    assert_eq!(live.managed_accounts().await.unwrap(), ["U2".to_owned()]);
    assert!(sim.inject(Fault::Drop, Some(1)).is_err(), "unknown port");
}

#[tokio::test]
async fn an_order_filled_during_an_outage_shows_in_executions_after_reconnect() {
    let sim = sim_with(SimOptions { fill_delay: Duration::from_millis(150), ..SimOptions::default() }).await;
    let (client, mut notices) = connect(sim.addr(0), 8).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    let mut placed = client
        .place_order(order_id, &Contract::stock("AAPL").build(), &order_builder::market_order(Action::Buy, 3.0))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, placed.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first, SubscriptionItem::Data(PlaceOrder::OpenOrder(_))));

    sim.inject_all(Fault::Drop);
    assert_connection_lost(&client, &mut notices).await;
    eventually(WAIT, "the order fills at the gateway while the client is away", || async {
        sim.orders()[0].status == Some("Filled")
    })
    .await;

    let (client, _n) = connect(sim.addr(0), 8).await;
    let mut open = client.open_orders().await.unwrap();
    let first = tokio::time::timeout(WAIT, open.next()).await.unwrap();
    assert!(first.is_none(), "no order should still be open: {first:?}");
    let mut executions = client.executions(ExecutionFilter::default()).await.unwrap();
    let mut found = None;
    while let Some(item) = tokio::time::timeout(WAIT, executions.next()).await.unwrap() {
        if let SubscriptionItem::Data(ibapi::orders::Executions::ExecutionData(e)) = item.unwrap() {
            found = Some((e.execution.order_id, e.execution.shares));
        }
    }
    assert_eq!(found, Some((order_id, 3.0)));
}
