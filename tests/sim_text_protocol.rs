//! The classic text protocol at the byte level (versions below 201: text message ids, text
//! fields), as ib_async and ib_insync speak it: the session start, malformed frames answered
//! as TWS answers them, every fault as a text client sees it, and the per-session caps.

mod common;

use std::time::Duration;

use common::*;
use ibkr_supervisor::sim::{Fault, SimOptions};

const WAIT: Duration = Duration::from_secs(5);

/// reqMktData as ib_async sends it at 178 (`ib_async/client.py` reqMktData): version 11, the
/// request id, the twelve contract fields, no delta-neutral contract, no generic ticks, streaming.
fn market_data_request<'a>(req_id: &'a str, symbol: &'a str) -> [&'a str; 20] {
    ["1", "11", req_id, "0", symbol, "STK", "", "0", "", "", "SMART", "", "USD", "", "", "0", "", "0", "0", ""]
}

#[tokio::test]
async fn a_text_client_gets_text_frames_with_the_fields_of_its_version() {
    let sim = sim().await;
    let mut raw = RawClient::connect(sim.addr(0)).await;
    raw.send_prefix("v157..178").await;
    assert_eq!(raw.read_handshake().await.unwrap().0, 178);
    let mut client = TextClient { raw };
    client.send(&["71", "2", "5", ""]).await;
    // py:decoder.py wrap= handlers: msgId, version, values.
    assert_eq!(client.until(|f| f[0] == "15").await, ["15", "1", ACCOUNT]);
    let next_id = client.until(|f| f[0] == "9").await;
    assert_eq!(&next_id[..2], ["9", "1"]);
    // Errors below 194 carry a version field and, from 166, an (empty) advanced-reject JSON.
    let farm = client.error_with(2104).await;
    assert_eq!(farm, ["4", "2", "-1", "2104", "Market data farm connection is OK:usfarm", ""]);
    assert_eq!(sim.clients()[0].server_version, 178);

    client.send(&["49", "1"]).await;
    let time = client.until(|f| f[0] == "49").await;
    let secs: i64 = time[2].parse().unwrap();
    assert!((secs - chrono::Utc::now().timestamp()).abs() < 5, "{time:?}");
    // reqCurrentTimeInMillis does not exist below 197: TWS cannot read it.
    client.send(&["105"]).await;
    let refused = client.error_with(321).await;
    assert!(refused[4].contains("reqCurrentTimeInMillis"), "{refused:?}");
}

#[tokio::test]
async fn errors_gain_a_time_and_lose_their_version_at_194() {
    let sim = sim().await;
    let (mut client, version) = TextClient::start(sim.addr(0), "v157..200", 6).await;
    assert_eq!(version, 200);
    let farm = client.error_with(2106).await;
    assert_eq!(&farm[..5], ["4", "-1", "2106", "HMDS data farm connection is OK:ushmds", ""]);
    let time: i64 = farm[5].parse().expect("errorTime in milliseconds");
    assert!((time - chrono::Utc::now().timestamp_millis()).abs() < 5_000);
}

#[tokio::test]
async fn malformed_text_frames_are_answered_with_320_or_321_and_the_session_goes_on() {
    let sim = sim().await;
    let (mut client, _) = TextClient::start(sim.addr(0), "v157..178", 7).await;

    // reqAccountSummary with its tags missing: 320 on its request id, naming the field.
    client.send(&["62", "1", "9001", "All"]).await;
    let missing = client.error_with(320).await;
    assert_eq!(missing[2], "9001", "{missing:?}");
    assert!(missing[4].contains("reqAccountSummary") && missing[4].contains("tags"), "{missing:?}");

    // A request id that is not a number: 320, and there is no id to answer on.
    client.send(&["92", "x", "DU1234567", ""]).await;
    let bad = client.error_with(320).await;
    assert_eq!(bad[2], "-1", "{bad:?}");
    assert!(bad[4].contains("reqId") && bad[4].contains("\"x\""), "{bad:?}");

    // A message id that is not a number, and fields that are not UTF-8.
    client.send(&["abc", "1"]).await;
    assert_eq!(client.error_with(320).await[2], "-1");
    client.send_body(b"49\x001\x00\xff\xfe\x00").await;
    assert!(client.error_with(320).await[4].contains("UTF-8"));

    // Unsupported, with a request id (reqMktDepth: version, reqId, …) and without one.
    client.send(&["10", "5", "77", "0", "AAPL"]).await;
    let depth = client.error_with(321).await;
    assert_eq!(depth[2], "77", "{depth:?}");
    assert!(depth[4].contains("reqMktDepth"), "{depth:?}");
    client.send(&["999"]).await;
    assert_eq!(client.error_with(321).await[2], "-1");

    // An empty frame body (length 0) is a frame TWS cannot follow: the session ends, alone.
    let (mut other, _) = TextClient::start(sim.addr(0), "v157..176", 8).await;
    other.raw.send_raw(&[0, 0, 0, 0]).await;
    assert!(tokio::time::timeout(WAIT, other.raw.read_to_close()).await.is_ok(), "closed");

    client.send(&["49", "1"]).await;
    client.until(|f| f[0] == "49").await;
    eventually(WAIT, "only the good client remains", || async { sim.clients().len() == 1 }).await;
}

#[tokio::test]
async fn upstream_notices_reach_a_text_client_as_text_errors() {
    let sim = sim().await;
    let (mut client, _) = TextClient::start(sim.addr(0), "v157..178", 9).await;
    sim.inject_all(Fault::UpstreamLost { message: None });
    let lost = client.error_with(1100).await;
    assert_eq!(&lost[..4], ["4", "2", "-1", "1100"]);
    assert!(lost[4].contains("has been lost"), "{lost:?}");
    sim.inject_all(Fault::UpstreamRestored { data_lost: false });
    client.error_with(1102).await;
    sim.inject_all(Fault::UpstreamLost { message: Some("naïve <b>".into()) });
    // From 153 the text is 7-bit ASCII with \uXXXX escapes, as IB's decoder expects.
    assert_eq!(client.error_with(1100).await[4], "na\\u00efve <b>");
    sim.inject_all(Fault::UpstreamRestored { data_lost: true });
    client.error_with(1101).await;
}

#[tokio::test]
async fn drop_reset_and_hang_reach_a_text_client_as_they_reach_any() {
    let sim = sim().await;
    let (mut dropped, _) = TextClient::start(sim.addr(0), "v157..178", 1).await;
    sim.inject_all(Fault::Drop);
    let closed = tokio::time::timeout(WAIT, dropped.raw.read_to_close()).await.expect("closed");
    assert!(closed.is_ok(), "a clean FIN: {closed:?}");

    let (mut reset, _) = TextClient::start(sim.addr(0), "v157..178", 2).await;
    sim.inject_all(Fault::Reset);
    let closed = tokio::time::timeout(WAIT, reset.raw.read_to_close()).await.expect("closed");
    assert_eq!(closed.expect_err("an RST").kind(), std::io::ErrorKind::ConnectionReset);

    let (mut hung, _) = TextClient::start(sim.addr(0), "v157..178", 3).await;
    hung.error_with(2158).await; // the last session-start message
    sim.inject_all(Fault::Hang);
    hung.send(&["49", "1"]).await;
    assert!(tokio::time::timeout(Duration::from_millis(300), hung.read()).await.is_err(), "no answer while hung");
    sim.inject_all(Fault::Clear);
    hung.until(|f| f[0] == "49").await;
}

#[tokio::test]
async fn a_held_client_id_is_refused_with_a_text_326() {
    let sim = sim().await;
    let (_first, _) = TextClient::start(sim.addr(0), "v157..176", 4).await;
    let mut second = RawClient::connect(sim.addr(0)).await;
    second.send_prefix("v157..176").await;
    second.read_handshake().await.unwrap();
    let mut second = TextClient { raw: second };
    second.send(&["71", "2", "4", ""]).await;
    let refused = second.error_with(326).await;
    assert_eq!(&refused[..4], ["4", "2", "-1", "326"]);
    assert!(tokio::time::timeout(WAIT, second.raw.read_to_close()).await.is_ok(), "then closed");
}

#[tokio::test]
async fn market_data_lines_are_capped_at_100_per_session() {
    let sim = sim().await;
    let (mut client, _) = TextClient::start(sim.addr(0), "v157..178", 10).await;
    for req_id in 1..=101 {
        let id = req_id.to_string();
        client.send(&market_data_request(&id, "AAPL")).await;
    }
    let capped = client.error_with(101).await;
    assert_eq!(capped[2], "101", "{capped:?}");
    assert_eq!(capped[4], "Max number of tickers has been reached");
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 100);
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_off_and_others_carry_on() {
    let sim = sim_with(SimOptions {
        tick_interval: Duration::from_millis(1),
        outbox_limit_bytes: 256 * 1024,
        seed: Some(3),
        ..SimOptions::default()
    })
    .await;
    let (reader, _notices) = connect(sim.addr(0), 1).await;
    let (mut silent, _) = TextClient::start(sim.addr(0), "v157..178", 2).await;
    for req_id in 1..=50 {
        let id = req_id.to_string();
        silent.send(&market_data_request(&id, "SPY")).await;
    }
    // It never reads: its TCP window fills, then its outbox; the gateway resets it.
    eventually(Duration::from_secs(20), "the silent client is cut off", || async {
        sim.clients().iter().all(|c| c.client_id != 2)
    })
    .await;
    let closed = tokio::time::timeout(WAIT, silent.raw.read_to_close()).await.expect("closed");
    assert!(closed.is_err(), "reset, since what was queued can never be delivered");
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 0, "its subscriptions ended with it");
    reader.server_time().await.expect("the other client is unaffected");
}

#[tokio::test]
async fn refuse_stall_and_latency_reach_a_text_client_as_they_reach_any() {
    let sim = sim().await;
    let (mut refused, _) = TextClient::start(sim.addr(0), "v157..178", 11).await;
    sim.inject_all(Fault::Refuse { duration_ms: None });
    assert!(tokio::time::timeout(WAIT, refused.raw.read_to_close()).await.expect("closed").is_ok(), "FIN");
    let err = tokio::net::TcpStream::connect(sim.addr(0)).await.expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    sim.inject_all(Fault::Clear);
    eventually(WAIT, "listening again", || async { tokio::net::TcpStream::connect(sim.addr(0)).await.is_ok() }).await;

    sim.inject_all(Fault::StallHandshake);
    let mut stalled = RawClient::connect(sim.addr(0)).await;
    stalled.send_prefix("v157..176").await;
    assert!(tokio::time::timeout(Duration::from_millis(300), stalled.read_handshake()).await.is_err(), "no reply");
    sim.inject_all(Fault::Clear);
    assert_eq!(tokio::time::timeout(WAIT, stalled.read_handshake()).await.unwrap().unwrap().0, 176);

    let (mut slow, _) = TextClient::start(sim.addr(0), "v157..178", 12).await;
    slow.error_with(2158).await;
    sim.inject_all(Fault::Latency { latency_ms: 150 });
    let asked = std::time::Instant::now();
    slow.send(&["49", "1"]).await;
    slow.until(|f| f[0] == "49").await;
    assert!(asked.elapsed() >= Duration::from_millis(150), "delayed: {:?}", asked.elapsed());
}
