//! The Rust `ibapi` 5.5 client (and a raw TWS socket for what no library would send) trading
//! through the guarded port against the simulated gateway: orders fill while the account is
//! usable; while it is paused, degraded (`upstream_lost`) or down — or its market-data farm is
//! broken and `guard.block_orders_on_data_loss` is on (the engine sees the farm notice as IB
//! sent it) — every order is answered with error 201 and the guard's reason and the simulator's
//! order log proves none reached it; loss closes the engine's session and it reconnects through
//! the port after recovery.

mod common;

use common::proxy::*;
use common::*;
use ibapi::orders::{OrderStatusKind, PlaceOrder};
use ibapi::prelude::*;
use ibkr_supervisor::actors::gateway::GatewayMessage;
use ibkr_supervisor::actors::EventKind;
use ibkr_supervisor::sim::Fault;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The engine's client id: distinct from the supervisor's own (1, 11, 21).
const ENGINE: i32 = 50;

/// Place `order` and wait for `Filled` (Ok) or an error notice (Err: code, message).
async fn place(client: &Client, order_id: i32, order: &ibapi::orders::Order) -> Result<(), (i32, String)> {
    let contract = Contract::stock("AAPL").build();
    let mut events = client.place_order(order_id, &contract, order).await.expect("placeOrder is sent");
    tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(Ok(SubscriptionItem::Data(PlaceOrder::OrderStatus(s)))) if s.status == OrderStatusKind::Filled => {
                    return Ok(())
                }
                Some(Ok(SubscriptionItem::Data(PlaceOrder::OrderStatus(s))))
                    if s.status == OrderStatusKind::Submitted =>
                {
                    if order.order_type == "LMT" {
                        return Ok(());
                    }
                }
                Some(Ok(SubscriptionItem::Notice(n))) if n.code == 201 => return Err((n.code, n.message)),
                Some(Err(ibapi::Error::Notice(n))) => return Err((n.code, n.message)),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("order {order_id}: {e}"),
                None => panic!("order {order_id}: stream ended"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("order {order_id} neither filled nor was refused within {WAIT:?}"))
}

/// The fault clears; the engine reconnects through the port and its first order is the only one
/// the gateway ever saw from it.
async fn recovers_and_trades_again(g: &Guarded) {
    g.sim.inject(Fault::Clear, None).unwrap();
    wait_connected(&g.supervision).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills after recovery");
    assert_eq!(g.orders_from(ENGINE), [order_id]);
}

fn refused_with(result: Result<(), (i32, String)>, reason_starts: &str) {
    match result {
        Err((201, message)) => assert!(
            message.starts_with(&format!("Order rejected - reason: {reason_starts}")),
            "201 names the guard's reason: {message:?}"
        ),
        other => panic!("expected error 201 ({reason_starts}…), got {other:?}"),
    }
}

#[tokio::test]
async fn ibapi_orders_fill_through_the_port_and_pause_or_upstream_loss_answers_201() {
    let g = guarded(json!({}), |_| {}).await;
    let events = Events::record(g.supervision.events()).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    assert_eq!(client.server_version(), 226, "the engine negotiated its own version, through the port");
    let guard = g.supervision.guard();

    // Usable: a market order fills; a resting limit order is accepted.
    let first = client.next_valid_order_id().await.unwrap();
    place(&client, first, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills through the port");
    let resting = first + 1;
    place(&client, resting, &order_builder::limit_order(Action::Sell, 1.0, 999.0)).await.expect("rests");
    assert_eq!(g.orders_from(ENGINE), [first, resting]);
    let session = &g.port_stats().sessions[0];
    assert_eq!((session.client_id, session.orders_passed), (Some(ENGINE), 2));

    // Paused by the operator: refused with 201 and the reason, never forwarded; cancel passes.
    guard.set_paused("Paper", true).await.unwrap();
    refused_with(place(&client, first + 2, &order_builder::market_order(Action::Buy, 1.0)).await, "paused by operator");
    let mut cancel = client.cancel_order(resting, "").await.expect("cancelOrder passes while paused");
    tokio::time::timeout(WAIT, async {
        while let Some(item) = cancel.next().await {
            if let Ok(SubscriptionItem::Data(ibapi::orders::CancelOrder::OrderStatus(s))) = item {
                if s.status == OrderStatusKind::Cancelled {
                    return;
                }
            }
        }
        panic!("cancel stream ended without Cancelled");
    })
    .await
    .expect("the gateway cancelled the resting order");
    guard.set_paused("Paper", false).await.unwrap();
    place(&client, first + 3, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills once activated");

    // IB's upstream lost: the session stays (the engine sees 1100 itself), orders are refused.
    g.sim.inject(Fault::UpstreamLost { message: None }, None).unwrap();
    wait_state(&g.supervision, "degraded").await;
    refused_with(place(&client, first + 4, &order_builder::market_order(Action::Buy, 1.0)).await, "IB upstream lost");
    g.sim.inject(Fault::UpstreamRestored { data_lost: false }, None).unwrap();
    wait_connected(&g.supervision).await;
    place(&client, first + 5, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills after recovery");

    assert_eq!(g.orders_from(ENGINE), [first, resting, first + 3, first + 5], "no refused order reached the gateway");
    let stats = g.port_stats();
    assert_eq!((stats.orders_passed, stats.orders_refused), (4, 2));
    assert!(stats.sessions[0].last_refusal.as_deref().is_some_and(|r| r.starts_with("IB upstream lost")));
    eventually(WAIT, "every decision recorded as an event", || async {
        let decided: Vec<_> = events
            .of("Paper")
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::ProxyOrder { order_id, refused, client_id, .. } => {
                    Some((order_id, refused.is_some(), client_id))
                }
                _ => None,
            })
            .collect();
        decided.len() == 6
            && decided.iter().all(|(_, _, c)| *c == Some(ENGINE))
            && decided.iter().filter(|d| d.1).count() == 2
    })
    .await;
}

#[tokio::test]
async fn a_drop_closes_the_engine_session_and_connects_while_down_are_closed_until_recovery() {
    let g = guarded(json!({ "reconnect": { "schedule": ["100ms"] } }), |_| {}).await;
    let mut raw = RawClient::start(g.port, ENGINE as u8).await;

    // The gateway drops every client and stays away: the engine's session ends with a FIN.
    g.sim.inject(Fault::Refuse { duration_ms: None }, None).unwrap();
    tokio::time::timeout(WAIT, raw.read_to_close()).await.expect("closed at once").expect("a clean FIN");
    wait_state(&g.supervision, "disconnected").await;

    // While it is down a connect is closed at accept: no handshake, as a closed port.
    let mut late = RawClient::connect(g.port).await;
    late.send_prefix("v213..226").await;
    assert!(tokio::time::timeout(WAIT, late.read_handshake()).await.expect("closed at once").is_err());
    assert!(g.port_stats().refused_link_down >= 1);

    // Recovery: the engine reconnects through the same port and trades again.
    recovers_and_trades_again(&g).await;
}

#[tokio::test]
async fn a_hang_closes_the_engine_session_once_the_link_is_judged_dead_and_no_order_reaches_the_gateway() {
    let g = guarded(json!({ "heartbeat": { "interval": "200ms", "probe_timeout": "100ms" } }), |_| {}).await;
    let mut raw = RawClient::start(g.port, ENGINE as u8).await;
    g.sim.inject(Fault::Hang, None).unwrap();
    tokio::time::timeout(WAIT, raw.read_to_close()).await.expect("closed once the probe fails").expect("FIN");
    assert!(try_connect(g.port, ENGINE).await.is_err(), "no session while the link is down");
    recovers_and_trades_again(&g).await;
}

#[tokio::test]
async fn an_order_into_a_silent_hung_link_waits_for_a_probe_and_is_answered_201_never_forwarded() {
    // No heartbeat round during the test: only the send-path liveness gate can find the hang.
    let g = guarded(
        json!({ "heartbeat": { "interval": "1h", "probe_timeout": "300ms" }, "orders": { "max_silence": "50ms" } }),
        |_| {},
    )
    .await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    g.sim.inject(Fault::Hang, None).unwrap();
    // The link goes quiet for longer than max_silence; nothing has judged it yet.
    let gateway = g.supervision.gateway("Paper").unwrap();
    eventually(WAIT, "the hung link silent past orders.max_silence", || async {
        let snapshot = gateway.call(GatewayMessage::Snapshot, Some(WAIT)).await;
        matches!(snapshot, Ok(ractor::rpc::CallResult::Success(s)) if s.silent_ms >= 100)
    })
    .await;
    assert!(g.supervision.guard().refusal("Paper").is_none(), "the gates still say usable");
    // The order waits for the probe, which fails: 201 with the reason, before the session's FIN.
    refused_with(
        place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await,
        "gateway not answering",
    );
    assert!(g.orders_from(ENGINE).is_empty(), "the order never reached the gateway");
    assert_eq!(g.port_stats().orders_refused, 1);
    recovers_and_trades_again(&g).await;
}

#[tokio::test]
async fn malformed_frames_close_only_that_session_and_a_16_mib_prefix_allocates_nothing() {
    let g = guarded(json!({}), |_| {}).await;
    let (client, _notices) = connect(g.port, ENGINE).await;

    let mut bad = RawClient::start(g.port, 61).await;
    // A 16 MiB frame announced, four bytes of it sent: closed at once, before the body arrives.
    bad.send_raw(&[0x00, 0xff, 0xff, 0xff, 0, 0, 0, 1]).await;
    tokio::time::timeout(WAIT, bad.read_to_close()).await.expect("closed at once").expect("a clean FIN");

    let mut text = RawClient::start(g.port, 62).await;
    text.send_frame(3, b"not an order id\0").await; // placeOrder (text at 226) without an order id
    tokio::time::timeout(WAIT, text.read_to_close()).await.expect("closed at once").expect("a clean FIN");

    let mut zero = RawClient::start(g.port, 63).await;
    zero.send_raw(&[0, 0, 0, 0]).await;
    tokio::time::timeout(WAIT, zero.read_to_close()).await.expect("closed at once").expect("a clean FIN");

    assert_eq!(g.port_stats().malformed, 3);
    // The well-behaved engine's session is untouched.
    let order_id = client.next_valid_order_id().await.unwrap();
    place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await.expect("still trades");
    assert_eq!(g.port_stats().sessions.len(), 1);
}

#[tokio::test]
async fn clients_outside_allowed_clients_and_beyond_max_sessions_are_closed_at_accept() {
    let g = guarded(json!({}), |p| {
        p.allowed_clients = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let mut outsider = RawClient::connect(g.port).await;
    outsider.send_prefix("v213..226").await;
    assert!(tokio::time::timeout(WAIT, outsider.read_handshake()).await.expect("closed at once").is_err());
    assert_eq!(g.port_stats().refused_not_allowed, 1);
    assert!(g.sim.clients().iter().all(|c| c.client_id != ENGINE));

    let g = guarded(json!({}), |p| p.max_sessions = 1).await;
    let (_first, _notices) = connect(g.port, ENGINE).await;
    let mut second = RawClient::connect(g.port).await;
    second.send_prefix("v213..226").await;
    assert!(tokio::time::timeout(WAIT, second.read_handshake()).await.expect("closed at once").is_err());
    assert_eq!((g.port_stats().refused_full, g.port_stats().sessions.len()), (1, 1));
}

/// Ticks flow through the port while orders are refused.
#[tokio::test]
async fn ticks_keep_flowing_while_orders_are_refused() {
    let g = guarded(json!({}), |_| {}).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    g.supervision.guard().set_paused("Paper", true).await.unwrap();
    let mut ticks = client.market_data(&Contract::stock("AAPL").build()).subscribe().await.unwrap();
    let mut seen = 0;
    tokio::time::timeout(WAIT, async {
        while seen < 5 {
            if let Some(Ok(_)) = ticks.next().await {
                seen += 1;
            }
        }
    })
    .await
    .expect("ticks through the port while paused");
    let order_id = client.next_valid_order_id().await.unwrap();
    refused_with(place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await, "paused by operator");
    assert!(g.port_stats().sessions[0].bytes_to_engine > 0);
}

/// `/status`, `/metrics`, `/actors` and the dashboard show the port's sessions and decisions.
#[tokio::test]
async fn status_metrics_actors_and_dashboard_show_each_session() {
    use ibkr_supervisor::settings::ProxySettings;
    use ibkr_supervisor::{RunOptions, Service};
    let sim = sim().await;
    let mut settings = settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" } }));
    settings.accounts[0].proxy = Some(ProxySettings::new("127.0.0.1:0".parse().unwrap()));
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let handle = service.handle();
    handle.board().wait_for(WAIT, |b| b.account("Paper").is_some_and(|a| a.connected())).await.unwrap();
    let port = handle.proxies().port("Paper").unwrap().local_addr().unwrap();
    let (client, _notices) = connect(port, ENGINE).await;
    handle.guard().set_paused("Paper", true).await.unwrap();
    let order_id = client.next_valid_order_id().await.unwrap();
    refused_with(place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await, "paused by operator");

    let http_addr = service.http_addr();
    eventually(WAIT, "/status shows the session and its refusal", || async {
        let (code, body) = http(http_addr, "GET", "/status", None).await;
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        let session = &status["proxies"][0]["sessions"][0];
        code == 200
            && status["proxies"][0]["listen"] == port.to_string()
            && session["client_id"] == ENGINE
            && session["orders_refused"] == 1
            && session["last_refusal"].as_str().is_some_and(|r| r.starts_with("paused by operator"))
            && session["bytes_to_engine"].as_u64() > Some(0)
    })
    .await;
    let (_, metrics) = http(http_addr, "GET", "/metrics", None).await;
    assert!(metrics.contains("ibkr_proxy_orders_total{account=\"Paper\",outcome=\"refused\"} 1"), "{metrics}");
    assert!(metrics.contains("ibkr_proxy_sessions{account=\"Paper\"} 1"), "{metrics}");
    let (_, actors) = http(http_addr, "GET", "/actors", None).await;
    assert!(actors.contains("\"proxy:Paper\"") && actors.contains("ProxyActor"), "{actors}");
    let (_, page) = http(http_addr, "GET", "/trades/status", None).await;
    assert!(page.contains(&format!("Guarded port {port}")) && page.contains("paused by operator"), "{page}");
    service.shutdown().await;
}

#[tokio::test]
async fn a_slow_engine_is_cut_off_and_stalls_no_other_session() {
    let g = guarded(json!({}), |p| p.write_timeout = Duration::from_millis(200)).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    // A slow engine: a tiny receive buffer, sends orders and never reads their answers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(g.port).await.unwrap();
    let mut slow = RawClient { stream };
    slow.send_prefix("v213..226").await;
    slow.read_handshake().await.unwrap();
    slow.send_frame(271, &[0x08, 61]).await;
    while slow.read_frame().await.unwrap().0 != 209 {}
    // Paused: the port answers every placeOrder itself (201, about 100 bytes each) and forwards
    // none, so only the port's own writes to the engine can back up.
    g.supervision.guard().set_paused("Paper", true).await.unwrap();
    let frame = [0, 0, 0, 7, 0, 0, 0, 3, b'4', b'2', 0];
    let flood = tokio::spawn(async move {
        for _ in 0..200_000 {
            if slow.stream.write_all(&frame).await.is_err() {
                break;
            }
        }
        slow
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while g.port_stats().slow_cut == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the slow engine was not cut off: {:?}", g.port_stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut slow = flood.await.unwrap();
    // Its socket is closed: reading what was buffered ends (FIN, or a reset for the unread).
    let closed = tokio::time::timeout(WAIT, async {
        let mut sink = vec![0; 64 * 1024];
        loop {
            match slow.stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    });
    closed.await.expect("the slow session's socket was closed");
    // The other engine's session was never stalled by it: activated again, it trades.
    g.supervision.guard().set_paused("Paper", false).await.unwrap();
    let order_id = client.next_valid_order_id().await.unwrap();
    place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await.expect("the other engine trades");
    let stats = g.port_stats();
    assert_eq!((stats.slow_cut, stats.sessions.len()), (1, 1), "only the slow session ended");
    assert_eq!(g.orders_from(61), Vec::<i32>::new(), "none of the slow engine's orders was forwarded");
}

#[tokio::test]
async fn inside_a_reset_window_ticks_flow_through_the_port_and_orders_get_201_until_it_ends() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    // 23:44:59.700 in New York: the nightly window (3 s here) opens 300 ms after the start.
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:44:59.700Z").unwrap().with_timezone(&chrono::Utc);
    let options = ibkr_supervisor::actors::StartOptions {
        clock: std::sync::Arc::new(OffsetClock::starting_at(start)),
        ..Default::default()
    };
    let overrides = json!({ "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "3s" });
    let g = guarded_with(overrides, |_| {}, options).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    wait_state(&g.supervision, "reset_window").await;
    let mut ticks = client.market_data(&Contract::stock("AAPL").build()).subscribe().await.unwrap();
    let mut seen = 0;
    tokio::time::timeout(WAIT, async {
        while seen < 3 {
            if let Some(Ok(_)) = ticks.next().await {
                seen += 1;
            }
        }
    })
    .await
    .expect("ticks through the port inside the reset window");
    let refused = client.next_valid_order_id().await.unwrap();
    let result = place(&client, refused, &order_builder::market_order(Action::Buy, 1.0)).await;
    refused_with(result, "scheduled reset window until");
    // The window ends; the same session trades again (it was never closed).
    wait_connected(&g.supervision).await;
    let order_id = refused + 1;
    place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills after the window");
    assert_eq!(g.orders_from(ENGINE), [order_id], "the refused order never reached the gateway");
    assert_eq!(g.port_stats().sessions.len(), 1, "the engine's session lived through the window");
    assert_eq!(g.port_stats().accepted, 1);
}

#[tokio::test]
async fn at_a_meltdown_orders_get_201_then_the_port_closes_and_nothing_reached_the_gateway() {
    use ibkr_supervisor::actors::gateway::Drill;
    use ibkr_supervisor::actors::StatusEvent;
    let g = guarded(json!({ "supervisor": { "max_restarts": 1, "restart_window": "60s" } }), |_| {}).await;
    let (client, _notices) = connect(g.port, ENGINE).await;
    let order_id = client.next_valid_order_id().await.unwrap();
    // The root publishes Meltdown before it stops the tree: every gate closes on it first.
    let now = g.supervision.clock().now();
    let kind = EventKind::Meltdown { actor: "gateway:Paper".into(), reason: "drill".into() };
    g.supervision.events().send(StatusEvent::new("*", now, kind));
    eventually(WAIT, "the gates closed", || async { g.supervision.guard().refusal("Paper").is_some() }).await;
    refused_with(place(&client, order_id, &order_builder::market_order(Action::Buy, 1.0)).await, "supervisor meltdown");
    // The real one: past the restart limit the tree stops, the port with it.
    let mut raw = RawClient::start(g.port, 62).await;
    let first = g.supervision.gateway("Paper").unwrap();
    first.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
    eventually(WAIT, "restarted once", || async {
        g.supervision.gateway("Paper").is_some_and(|now| now.get_id() != first.get_id())
    })
    .await;
    g.supervision.gateway("Paper").unwrap().send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
    tokio::time::timeout(WAIT, raw.read_to_close()).await.expect("the session is closed").expect("a FIN");
    eventually(WAIT, "the port is closed", || async { tokio::net::TcpStream::connect(g.port).await.is_err() }).await;
    assert!(g.orders_from(ENGINE).is_empty(), "no order reached the gateway");
}

#[tokio::test]
async fn a_broken_market_data_farm_reaches_the_engine_as_is_and_blocks_its_orders_only_when_configured() {
    let g = guarded(json!({ "guard": { "block_orders_on_data_loss": true } }), |_| {}).await;
    let (client, mut notices) = connect(g.port, ENGINE).await;
    let first = client.next_valid_order_id().await.unwrap();
    place(&client, first, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills while the data is whole");

    // The engine sees IB's farm notice itself, as the gateway sent it; its session stays.
    g.sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, None).unwrap();
    let broken = notice_with(&mut notices, &[2103], WAIT).await;
    assert_eq!(broken.message, "Market data farm connection is broken:usfarm");
    eventually(WAIT, "the guard learns the data loss", || async {
        matches!(g.supervision.guard().refusal("Paper"), Some(ibkr_supervisor::actors::Refusal::DataLost { .. }))
    })
    .await;
    refused_with(
        place(&client, first + 1, &order_builder::market_order(Action::Buy, 1.0)).await,
        "market data farm usfarm broken since",
    );
    assert_eq!(g.sim.state().listeners[0].farms["usfarm"], "broken");

    g.sim.inject(Fault::FarmOk { farm: "usfarm".into() }, None).unwrap();
    notice_with(&mut notices, &[2104], WAIT).await;
    eventually(WAIT, "the gate opens with the farm", || async { g.supervision.guard().refusal("Paper").is_none() })
        .await;
    place(&client, first + 2, &order_builder::market_order(Action::Buy, 1.0)).await.expect("fills once the farm is OK");
    assert_eq!(g.orders_from(ENGINE), [first, first + 2], "the refused order never reached the gateway");
    assert!(g.supervision.board().account("Paper").unwrap().connected());
}
