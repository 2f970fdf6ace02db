//! The Rust `ibapi` 5.5 client's everyday calls against the simulated market, each answered as
//! a gateway answers it: contract details, matching symbols, head timestamp, historical bars
//! (with keep-up-to-date), real-time bars, tick-by-tick, market data with generic ticks and a
//! snapshot with open/high/low/close, positions, account summary, PnL; and orders that behave
//! like a market: a limit away from it rests until `POST /sim/price` moves the market across it,
//! a market order fills at the book.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ibapi::market_data::historical::{BarSize, Duration as IbDuration, HistoricalBarUpdate, WhatToShow};
use ibapi::market_data::realtime::WhatToShow as RealtimeWhatToShow;
use ibapi::orders::{CancelOrder, OrderStatusKind, PlaceOrder};
use ibapi::prelude::*;
use ibkr_supervisor::sim::{SimOptions, Simulator};

const WAIT: Duration = Duration::from_secs(5);

async fn market() -> Simulator {
    sim_with(SimOptions {
        fill_delay: Duration::from_millis(20),
        tick_interval: Duration::from_millis(10),
        seed: Some(5),
        ..SimOptions::default()
    })
    .await
}

fn aapl() -> Contract {
    Contract::stock("AAPL").build()
}

fn eur_usd() -> Contract {
    Contract::forex("EUR", "USD").build()
}

/// Whether `contract` is inside one of the sessions its contract details list right now:
/// outside them a gateway sends no bar updates, so what to expect depends on the hour.
async fn in_session(client: &Client, contract: &Contract) -> bool {
    let details = client.contract_details(contract).await.unwrap();
    let d = &details[0];
    let tz: chrono_tz::Tz = d.time_zone_id.parse().unwrap_or_else(|_| panic!("zone {:?}", d.time_zone_id));
    let at = |text: &str| {
        let t = chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d:%H%M").unwrap_or_else(|e| panic!("{text:?}: {e}"));
        t.and_local_timezone(tz).earliest().expect("a valid local time").with_timezone(&chrono::Utc)
    };
    let now = chrono::Utc::now();
    d.trading_hours.iter().filter(|s| !s.is_empty() && !s.contains("CLOSED")).any(|span| {
        let (from, to) = span.split_once('-').unwrap_or_else(|| panic!("span {span:?}"));
        at(from) <= now && now < at(to)
    })
}

/// The next data item of `stream` that `pick` accepts, within `within`.
async fn next_data<T, U>(
    stream: &mut (impl futures::Stream<Item = Result<SubscriptionItem<T>, ibapi::Error>> + Unpin),
    within: Duration,
    mut pick: impl FnMut(T) -> Option<U>,
) -> U {
    tokio::time::timeout(within, async {
        loop {
            match stream.next().await {
                Some(Ok(SubscriptionItem::Data(item))) => {
                    if let Some(found) = pick(item) {
                        return found;
                    }
                }
                Some(Ok(SubscriptionItem::Notice(n))) => panic!("notice {n:?}"),
                Some(Err(e)) => panic!("stream error: {e}"),
                None => panic!("stream ended"),
            }
        }
    })
    .await
    .expect("the expected item in time")
}

#[tokio::test]
async fn contract_details_and_matching_symbols_come_from_the_instrument_table() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 1).await;
    let details = client.contract_details(&aapl()).await.unwrap();
    assert_eq!(details.len(), 1, "{details:?}");
    let d = &details[0];
    assert_eq!(d.contract.contract_id, 265598, "AAPL's conId");
    assert_eq!(d.contract.primary_exchange.to_string(), "NASDAQ");
    assert_eq!(d.long_name, "APPLE INC");
    assert!(!d.trading_hours.is_empty() && !d.liquid_hours.is_empty(), "{d:?}");

    // An unknown symbol: 200, as TWS words it.
    let unknown = client.contract_details(&Contract::stock("NOSUCH").build()).await;
    match unknown {
        Err(ibapi::Error::Notice(n)) => assert_eq!(n.code, 200, "{n:?}"),
        other => panic!("expected 200, got {other:?}"),
    }

    let found = client.matching_symbols("AA").await.unwrap();
    assert!(found.iter().any(|d| d.contract.symbol == "AAPL"), "{found:?}");
    assert!(found.len() <= 16);
}

#[tokio::test]
async fn head_timestamp_and_historical_bars_with_keep_up_to_date() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 2).await;
    let head = client.head_timestamp(&aapl(), WhatToShow::Trades, TradingHours::Regular).await.unwrap();
    assert!(head < time::OffsetDateTime::now_utc() - time::Duration::days(365), "head {head}");

    let data = client
        .historical_data(&aapl(), BarSize::Min5)
        .duration(IbDuration::days(1))
        .what_to_show(WhatToShow::Trades)
        .trading_hours(TradingHours::Regular)
        .fetch()
        .await
        .unwrap();
    assert!(!data.bars.is_empty());
    for bar in &data.bars {
        assert!(bar.low <= bar.open.min(bar.close) && bar.open.max(bar.close) <= bar.high, "{bar:?}");
        assert!(bar.volume > 0.0, "TRADES bars have volume: {bar:?}");
    }

    // A duration TWS does not accept: refused with its wording.
    let bad = client.historical_data(&aapl(), BarSize::Min5).duration(IbDuration::days(400)).fetch().await;
    assert!(bad.is_err(), "400 D must be refused: {bad:?}");

    // keepUpToDate over the whole trading session (useRTH 0): the bars, the window, then the
    // bar in progress again and again — while the instrument trades. Outside its session a
    // gateway keeps the subscription but has nothing to update.
    let trading = in_session(&client, &aapl()).await;
    let mut stream = client
        .historical_data(&aapl(), BarSize::Sec5)
        .duration(IbDuration::seconds(300))
        .what_to_show(WhatToShow::Trades)
        .trading_hours(TradingHours::Extended)
        .stream()
        .await
        .unwrap();
    next_data(&mut stream, WAIT, |u| {
        matches!(u, HistoricalBarUpdate::Historical(ref h) if !h.bars.is_empty()).then_some(())
    })
    .await;
    next_data(&mut stream, WAIT, |u| matches!(u, HistoricalBarUpdate::End { .. }).then_some(())).await;
    if trading {
        let update = next_data(&mut stream, WAIT, |u| match u {
            HistoricalBarUpdate::Update(bar) => Some(bar),
            _ => None,
        })
        .await;
        assert!(update.high >= update.low && update.open > 0.0, "{update:?}");
    } else {
        let quiet = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
        assert!(quiet.is_err(), "no update outside the session: {quiet:?}");
    }
}

#[tokio::test]
async fn real_time_bars_come_every_five_seconds_while_the_market_trades() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 3).await;
    // Forex trades around the clock on weekdays; ibapi sends barSize 0, which TWS ignores.
    let trading = in_session(&client, &eur_usd()).await;
    let mut bars = client
        .realtime_bars(&eur_usd())
        .what_to_show(RealtimeWhatToShow::MidPoint)
        .trading_hours(TradingHours::Extended)
        .subscribe()
        .await
        .unwrap();
    if trading {
        // The first bar completes at the next 5-second boundary.
        let bar = next_data(&mut bars, Duration::from_secs(12), Some).await;
        assert!(bar.low <= bar.high && bar.open > 0.0, "{bar:?}");
        assert_eq!(bar.date.unix_timestamp() % 5, 0, "5-second bars start on the boundary: {bar:?}");
    } else {
        let quiet = tokio::time::timeout(Duration::from_secs(6), bars.next()).await;
        assert!(quiet.is_err(), "no bar outside the session: {quiet:?}");
    }
}

#[tokio::test]
async fn tick_by_tick_trades_and_quotes() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 4).await;
    let mut trades = client.tick_by_tick(&aapl(), 0).last().await.unwrap();
    let trade = next_data(&mut trades, WAIT, Some).await;
    assert!(trade.price > 0.0 && trade.size > 0.0, "{trade:?}");
    let mut quotes = client.tick_by_tick(&aapl(), 0).bid_ask(IgnoreSize::No).await.unwrap();
    let quote = next_data(&mut quotes, WAIT, Some).await;
    assert!(quote.bid_price < quote.ask_price, "{quote:?}");
}

#[tokio::test]
async fn market_data_carries_the_generic_ticks_asked_for_and_snapshots_carry_ohlc() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 5).await;
    let mut ticks = client.market_data(&aapl()).generic_ticks(&["233", "236"]).subscribe().await.unwrap();
    let (mut rt_volume, mut shortable) = (false, false);
    next_data(&mut ticks, WAIT, |t| {
        match t {
            TickTypes::String(s) if s.tick_type == ibapi::contracts::tick_types::TickType::RtVolume => rt_volume = true,
            TickTypes::Generic(g) if g.tick_type == ibapi::contracts::tick_types::TickType::Shortable => {
                shortable = true
            }
            _ => {}
        }
        (rt_volume && shortable).then_some(())
    })
    .await;
    drop(ticks);

    let snapshot = client.market_data(&aapl()).snapshot().subscribe().await.unwrap();
    let mut seen = vec![];
    let mut snapshot = snapshot;
    next_data(&mut snapshot, WAIT, |t| match t {
        TickTypes::SnapshotEnd => Some(()),
        TickTypes::Price(p) => {
            seen.push(p.tick_type);
            None
        }
        TickTypes::PriceSize(p) => {
            seen.push(p.price_tick_type);
            None
        }
        _ => None,
    })
    .await;
    use ibapi::contracts::tick_types::TickType;
    for wanted in [TickType::Open, TickType::High, TickType::Low, TickType::Close, TickType::Bid, TickType::Ask] {
        assert!(seen.contains(&wanted), "{wanted:?} in the snapshot: {seen:?}");
    }
}

async fn fill_market_order(client: &Client, quantity: f64) -> (i32, f64) {
    let order_id = client.next_valid_order_id().await.unwrap();
    let mut events =
        client.place_order(order_id, &aapl(), &order_builder::market_order(Action::Buy, quantity)).await.unwrap();
    let price = next_data(&mut events, WAIT, |e| match e {
        PlaceOrder::ExecutionData(x) => Some(x.execution.price),
        _ => None,
    })
    .await;
    next_data(&mut events, WAIT, |e| {
        matches!(e, PlaceOrder::OrderStatus(ref s) if s.status == OrderStatusKind::Filled).then_some(())
    })
    .await;
    (order_id, price)
}

#[tokio::test]
async fn a_market_order_fills_at_the_book_and_the_account_shows_it() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 6).await;
    let snapshot = client.market_data(&aapl()).snapshot_once(WAIT).await.unwrap();
    let ask = snapshot
        .iter()
        .find_map(|t| match t {
            TickTypes::PriceSize(p) if p.price_tick_type == ibapi::contracts::tick_types::TickType::Ask => {
                Some(p.price)
            }
            TickTypes::Price(p) if p.tick_type == ibapi::contracts::tick_types::TickType::Ask => Some(p.price),
            _ => None,
        })
        .expect("an ask in the snapshot");
    let (_, price) = fill_market_order(&client, 25.0).await;
    assert!((price - ask).abs() / ask < 0.005, "a BUY at market fills at the ask: {price} vs {ask}");

    let mut positions = client.positions().await.unwrap();
    let position = next_data(&mut positions, WAIT, |p| match p {
        PositionUpdate::Position(p) if p.contract.symbol == "AAPL" => Some(p),
        _ => None,
    })
    .await;
    assert_eq!((position.account.as_str(), position.position), (ACCOUNT, 25.0));
    assert!((position.average_cost - price).abs() < 0.2, "avg cost {} vs fill {price}", position.average_cost);

    let mut summary =
        client.account_summary(&AccountGroup("All".into()), &["NetLiquidation", "TotalCashValue"]).await.unwrap();
    let mut tags = vec![];
    next_data(&mut summary, WAIT, |s| match s {
        AccountSummaryResult::Summary(s) => {
            assert_eq!(s.account, ACCOUNT);
            assert!(s.value.parse::<f64>().unwrap() > 0.0, "{s:?}");
            tags.push(s.tag);
            None
        }
        AccountSummaryResult::End => Some(()),
    })
    .await;
    tags.sort();
    assert_eq!(tags, ["NetLiquidation", "TotalCashValue"]);

    let mut pnl = client.pnl(&AccountId(ACCOUNT.into()), None).await.unwrap();
    let first = next_data(&mut pnl, WAIT, Some).await;
    assert!(first.unrealized_pnl.is_some(), "{first:?}");
    let mut single = client.pnl_single(&AccountId(ACCOUNT.into()), ContractId(265598), None).await.unwrap();
    let one = next_data(&mut single, WAIT, Some).await;
    assert_eq!(one.position, 25.0, "{one:?}");
}

#[tokio::test]
async fn a_limit_order_away_from_the_market_rests_until_the_price_crosses_it() {
    let sim = market().await;
    let control = sim.serve_control(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let (client, _n) = connect(sim.addr(0), 7).await;
    let (status, body) = http(control, "POST", "/sim/price", Some(br#"{"symbol":"AAPL","price":200}"#)).await;
    assert_eq!(status, 200, "{body}");

    let order_id = client.next_valid_order_id().await.unwrap();
    let mut events =
        client.place_order(order_id, &aapl(), &order_builder::limit_order(Action::Buy, 10.0, 190.0)).await.unwrap();
    next_data(&mut events, WAIT, |e| {
        matches!(e, PlaceOrder::OrderStatus(ref s) if s.status == OrderStatusKind::Submitted).then_some(())
    })
    .await;
    // Dozens of price steps later (10 ms each) it is still working: 5 % away is far for the walk.
    tokio::time::sleep(Duration::from_millis(300)).await; // thirty clock rounds: only waiting shows it stays unfilled
    assert_eq!(sim.orders()[0].status, Some("Submitted"), "resting while the market is above the limit");

    let (status, body) = http(control, "POST", "/sim/price", Some(br#"{"symbol":"AAPL","price":189.5}"#)).await;
    assert_eq!(status, 200, "{body}");
    let price = next_data(&mut events, WAIT, |e| match e {
        PlaceOrder::ExecutionData(x) => Some(x.execution.price),
        _ => None,
    })
    .await;
    assert!(price <= 190.0, "filled at the limit or better: {price}");
    eventually(WAIT, "Filled at the gateway", || async { sim.orders()[0].status == Some("Filled") }).await;

    // The account's portfolio shows the fill.
    let (status, body) = http(control, "GET", "/sim/state", None).await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    let portfolio = &state["listeners"][0]["portfolio"];
    assert_eq!(portfolio["account"], ACCOUNT, "{portfolio}");
    assert_eq!(portfolio["positions"][0]["symbol"], "AAPL", "{portfolio}");
    assert_eq!(portfolio["positions"][0]["position"], 10.0, "{portfolio}");
    let cash: f64 = portfolio["values"]["TotalCashValue"].as_str().unwrap().parse().unwrap();
    assert!(cash < 1_000_000.0 - 1_800.0, "cash spent on 10 shares near 190: {cash}");

    // Bad requests are refused with the reason.
    let (status, body) = http(control, "POST", "/sim/price", Some(br#"{"symbol":"NOSUCH","price":1}"#)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = http(control, "POST", "/sim/price", Some(br#"{"symbol":"AAPL","price":-1}"#)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("positive"), "{body}");
}

#[tokio::test]
async fn a_working_limit_order_is_cancelled_as_tws_cancels_it() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 8).await;
    sim.set_price("AAPL", 200.0, None).unwrap();
    let order_id = client.next_valid_order_id().await.unwrap();
    let mut events =
        client.place_order(order_id, &aapl(), &order_builder::limit_order(Action::Sell, 5.0, 260.0)).await.unwrap();
    next_data(&mut events, WAIT, |e| {
        matches!(e, PlaceOrder::OrderStatus(ref s) if s.status == OrderStatusKind::Submitted).then_some(())
    })
    .await;
    let mut cancel = client.cancel_order(order_id, "").await.unwrap();
    let (mut cancelled, mut notice) = (false, false);
    tokio::time::timeout(WAIT, async {
        while let Some(item) = cancel.next().await {
            match item.unwrap() {
                SubscriptionItem::Data(CancelOrder::OrderStatus(s)) => {
                    cancelled |= s.status == OrderStatusKind::Cancelled
                }
                SubscriptionItem::Notice(n) => notice |= n.code == 202,
            }
            if cancelled && notice {
                return;
            }
        }
    })
    .await
    .expect("Cancelled and 202");
    assert_eq!(sim.orders()[0].status, Some("Cancelled"));
}

#[tokio::test]
async fn while_upstream_is_lost_a_crossing_price_fills_nothing_until_it_returns() {
    let sim = market().await;
    let (client, _n) = connect(sim.addr(0), 9).await;
    sim.set_price("AAPL", 200.0, None).unwrap();
    let order_id = client.next_valid_order_id().await.unwrap();
    let mut events =
        client.place_order(order_id, &aapl(), &order_builder::limit_order(Action::Buy, 10.0, 190.0)).await.unwrap();
    next_data(&mut events, WAIT, |e| {
        matches!(e, PlaceOrder::OrderStatus(ref s) if s.status == OrderStatusKind::Submitted).then_some(())
    })
    .await;
    sim.inject_all(ibkr_supervisor::sim::Fault::UpstreamLost { message: None });
    sim.set_price("AAPL", 185.0, None).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // twenty clock rounds: only waiting shows nothing fills
    assert_eq!(sim.orders()[0].status, Some("Submitted"), "fills wait while upstream is lost");
    sim.inject_all(ibkr_supervisor::sim::Fault::UpstreamRestored { data_lost: false });
    eventually(WAIT, "filled once upstream is back", || async { sim.orders()[0].status == Some("Filled") }).await;
}
