//! The simulator's model of IB's operating life, as clients see it: data farms apart from the
//! order link (2103/2104), a competing live session (10197), pacing (100), and the emulated
//! IBC command server (`RESTART`, `RECONNECTDATA`, `RECONNECTACCOUNT`, `STOP`, invalid lines).

mod common;

use std::time::Duration;

use common::*;
use ibapi::contracts::Contract;
use ibapi::market_data::realtime::TickTypes;
use ibapi::orders::{order_builder, Action, OrderStatusKind, PlaceOrder};
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);
/// Ticks every 10 ms: a quiet window this long is 30 missed rounds.
const QUIET: Duration = Duration::from_millis(300);

fn fast() -> SimOptions {
    SimOptions {
        fill_delay: Duration::from_millis(50),
        tick_interval: Duration::from_millis(10),
        seed: Some(11),
        ibc_restart: Duration::from_millis(500),
        ..SimOptions::default()
    }
}

async fn sim_with_ibc() -> Simulator {
    Simulator::start(SimConfig::default().loopback(ACCOUNT).ibc(([127, 0, 0, 1], 0)).options(fast()))
        .await
        .expect("simulator starts")
}

/// One line-protocol client of IBC's command server.
struct Ibc {
    lines: BufReader<TcpStream>,
}

impl Ibc {
    async fn connect(sim: &Simulator) -> Self {
        let addr = sim.ibc_addr(0).expect("an IBC command server");
        Ibc { lines: BufReader::new(TcpStream::connect(addr).await.unwrap()) }
    }

    async fn send(&mut self, line: &str) {
        self.lines.get_mut().write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// The next reply line, or `None` when the server closed.
    async fn reply(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.lines.read_line(&mut line)).await.expect("IBC answers").unwrap();
        (n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn price_ticks(ticks: &mut ibapi::subscriptions::r#async::Subscription<TickTypes>, n: usize) {
    let mut seen = 0;
    tokio::time::timeout(WAIT, async {
        while let Some(item) = ticks.next().await {
            if let SubscriptionItem::Data(TickTypes::PriceSize(_) | TickTypes::Price(_)) = item.unwrap() {
                seen += 1;
                if seen == n {
                    return;
                }
            }
        }
    })
    .await
    .expect("priced ticks");
}

#[tokio::test]
async fn a_broken_market_data_farm_stops_ticks_while_orders_still_fill() {
    let sim = sim_with(fast()).await;
    let (client, mut notices) = connect(sim.addr(0), 3).await;
    let aapl = Contract::stock("AAPL").build();
    let mut ticks = client.market_data(&aapl).subscribe().await.unwrap();
    price_ticks(&mut ticks, 3).await;

    sim.inject_all(Fault::FarmBroken { farm: "usfarm".into() });
    let broken = notice_with(&mut notices, &[2103], WAIT).await;
    assert_eq!(broken.message, "Market data farm connection is broken:usfarm");
    assert_eq!(sim.state().listeners[0].farms["usfarm"], "broken");
    assert_eq!(sim.state().listeners[0].farms["ushmds"], "ok");
    // Drain what was in flight, then nothing for 30 rounds.
    while tokio::time::timeout(Duration::from_millis(50), ticks.next()).await.is_ok() {}
    let quiet = tokio::time::timeout(QUIET, ticks.next()).await;
    assert!(quiet.is_err(), "no market data while the farm is broken: {quiet:?}");

    // The order link is another path: a market order still fills.
    let order_id = client.next_valid_order_id().await.unwrap();
    let mut placed = client.place_order(order_id, &aapl, &order_builder::market_order(Action::Buy, 2.0)).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(item) = placed.next().await {
            if let Ok(SubscriptionItem::Data(PlaceOrder::OrderStatus(s))) = item {
                if s.status == OrderStatusKind::Filled {
                    return;
                }
            }
        }
        panic!("the order stream ended before Filled");
    })
    .await
    .expect("the order fills while the data farm is broken");

    // A client connecting now hears the farm is broken, not OK.
    let (_late, mut late_notices) = connect(sim.addr(0), 4).await;
    assert_eq!(notice_with(&mut late_notices, &[2103, 2104], WAIT).await.code, 2103);

    sim.inject_all(Fault::FarmOk { farm: "usfarm".into() });
    assert_eq!(notice_with(&mut notices, &[2104], WAIT).await.message, "Market data farm connection is OK:usfarm");
    price_ticks(&mut ticks, 3).await;
}

#[tokio::test]
async fn a_text_protocol_client_hears_farms_and_a_competing_session() {
    let sim = sim_with(fast()).await;
    let (mut client, version) = TextClient::start(sim.addr(0), "v157..178", 1).await;
    assert_eq!(version, 178);
    sim.inject_all(Fault::FarmBroken { farm: "ushmds".into() });
    let farm = client.error_with(2105).await;
    assert_eq!(farm[4], "HMDS data farm connection is broken:ushmds");

    // reqMktData as ib_async sends it at 178, then the competing session.
    client
        .send(&["1", "11", "7", "0", "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", "", "0", "", "0", "0", ""])
        .await;
    client.until(|f| f[0] == "1" && f[2] == "7").await;
    sim.inject_all(Fault::CompetingSession);
    let competing = client.error_with(10197).await;
    assert_eq!((competing[2].as_str(), competing[4].as_str()), ("7", "No market data during competing live session"));
    // A new line is refused the same way while it lasts.
    client
        .send(&["1", "11", "8", "0", "MSFT", "STK", "", "0", "", "", "SMART", "", "USD", "", "", "0", "", "0", "0", ""])
        .await;
    assert_eq!(client.error_with(10197).await[2], "8");
    assert!(sim.state().listeners[0].conditions.competing_session);

    sim.inject_all(Fault::Clear);
    assert_eq!(client.error_with(2106).await[4], "HMDS data farm connection is OK:ushmds");
    assert!(!sim.state().listeners[0].conditions.competing_session);
}

#[tokio::test]
async fn a_client_over_fifty_messages_a_second_gets_100_and_stays_connected() {
    let sim = sim_with(fast()).await;
    let (mut client, _) = TextClient::start(sim.addr(0), "v157..178", 1).await;
    for _ in 0..60 {
        client.send(&["49", "1"]).await; // reqCurrentTime
    }
    let violation = client.error_with(100).await;
    assert!(violation[4].starts_with("Max rate of messages per second has been exceeded:max=50"), "{violation:?}");
    // Still served: the link stays up.
    client.send(&["49", "1"]).await;
    client.until(|f| f[0] == "49").await;
    let max = sim.clients()[0].max_messages_per_second;
    assert!(max > 50, "the simulator saw the burst: {max}");

    // The fault sends the same notice to everyone without a burst.
    let (mut quiet, _) = TextClient::start(sim.addr(0), "v157..178", 2).await;
    sim.inject_all(Fault::PacingViolation);
    quiet.error_with(100).await;
    let quiet_max = sim.clients().iter().find(|c| c.client_id == 2).unwrap().max_messages_per_second;
    assert!(quiet_max <= 50, "{quiet_max}");
}

#[tokio::test]
async fn ibc_reconnectdata_mends_farms_and_invalid_commands_are_answered_as_ibc_does() {
    let sim = sim_with_ibc().await;
    let (_client, mut notices) = connect(sim.addr(0), 3).await;
    sim.inject_all(Fault::FarmBroken { farm: "usfarm".into() });
    notice_with(&mut notices, &[2103], WAIT).await;

    let mut ibc = Ibc::connect(&sim).await;
    ibc.send("HELLO").await;
    assert_eq!(ibc.reply().await.as_deref(), Some("ERROR Command invalid"));
    ibc.send("STOP ").await; // IBC does not trim: invalid, and nothing stops
    assert_eq!(ibc.reply().await.as_deref(), Some("ERROR Command invalid"));
    ibc.send("reconnectdata").await; // case-insensitive
    assert_eq!(ibc.reply().await.as_deref(), Some("OK "));
    assert_eq!(notice_with(&mut notices, &[2104], WAIT).await.message, "Market data farm connection is OK:usfarm");
    assert_eq!(sim.state().listeners[0].farms["usfarm"], "ok");

    let commands: Vec<_> = sim.state().listeners[0].ibc.clone().unwrap().commands;
    let lines: Vec<&str> = commands.iter().map(|c| c.line.as_str()).collect();
    assert_eq!(lines, ["HELLO", "STOP ", "reconnectdata"]);
    assert_eq!(commands[2].command, Some(ibkr_supervisor::actors::ibc::Command::ReconnectData));
    assert!(sim.state().listeners[0].listening, "an invalid STOP stopped nothing");
}

#[tokio::test]
async fn ibc_reconnectaccount_restores_upstream_with_1102() {
    let sim = sim_with_ibc().await;
    let (_client, mut notices) = connect(sim.addr(0), 3).await;
    sim.inject_all(Fault::UpstreamLost { message: None });
    notice_with(&mut notices, &[1100], WAIT).await;
    let mut ibc = Ibc::connect(&sim).await;
    ibc.send("RECONNECTACCOUNT").await;
    assert_eq!(ibc.reply().await.as_deref(), Some("OK "));
    notice_with(&mut notices, &[1102], WAIT).await;
    assert!(!sim.state().listeners[0].conditions.upstream_lost);
}

#[tokio::test]
async fn ibc_restart_closes_sessions_and_the_gateway_comes_back_after_the_restart_time() {
    let sim = sim_with_ibc().await;
    let (client, _notices) = connect(sim.addr(0), 3).await;
    let mut ibc = Ibc::connect(&sim).await;
    ibc.send("RESTART").await;
    assert_eq!(ibc.reply().await.as_deref(), Some("OK RESTART in progress"));
    let at = ibc.reply().await.expect("the Gateway's second line");
    assert!(at.starts_with("OK RESTART at ") && (at.ends_with("AM") || at.ends_with("PM")), "{at}");
    assert_eq!(ibc.reply().await, None, "IBC closes the connection after RESTART");
    // The restart began before IBC closed the line.
    assert!(!sim.state().listeners[0].listening, "the gateway is down while it restarts");
    eventually(WAIT, "the session is closed by the restart", || async { !client.is_connected() }).await;
    eventually(WAIT, "the gateway listens again after the restart time", || async {
        sim.state().listeners[0].listening
    })
    .await;
    let (again, _) = connect(sim.addr(0), 3).await;
    again.server_time().await.expect("served after the restart");
}

#[tokio::test]
async fn ibc_stop_takes_the_gateway_down_until_cleared() {
    let sim = sim_with_ibc().await;
    let mut ibc = Ibc::connect(&sim).await;
    ibc.send("STOP").await;
    assert_eq!(ibc.reply().await.as_deref(), Some("OK Shutting down: STOP command"));
    assert_eq!(ibc.reply().await, None);
    eventually(WAIT, "the gateway is down", || async { !sim.state().listeners[0].listening }).await;
    assert!(TcpStream::connect(sim.addr(0)).await.is_err(), "connects are refused after STOP");
    sim.inject_all(Fault::Clear);
    eventually(WAIT, "clear brings it back", || async { sim.state().listeners[0].listening }).await;
}
