//! The simulated gateway at the byte level, and its HTTP control API: version negotiation,
//! silence before StartApi, bad input answered as TWS answers it and never a crash, for both
//! the protobuf-era framing (binary message ids) and the classic text protocol.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn negotiates_the_highest_common_version() {
    let sim = sim().await;
    let ranges = [
        ("v213..226", 226),
        ("v100..226", 226),
        ("v213..220", 220),
        ("v100..230 +PACEAPI", 226),
        ("v157..178", 178),
        ("v157..176", 176),
        ("v100..157", 157),
    ];
    for (range, expected) in ranges {
        let mut raw = RawClient::connect(sim.addr(0)).await;
        raw.send_prefix(range).await;
        let (version, time) = raw.read_handshake().await.unwrap();
        assert_eq!(version, expected, "for {range}");
        // "YYYYMMDD HH:MM:SS UTC"
        assert_eq!(time.len(), 21, "connection time {time:?}");
        assert!(time.ends_with(" UTC"));
    }
}

#[tokio::test]
async fn refuses_a_range_it_cannot_serve_by_closing() {
    let sim = sim().await;
    for range in ["v100..156", "v227..230", "v226..213", "nonsense"] {
        let mut raw = RawClient::connect(sim.addr(0)).await;
        raw.send_prefix(range).await;
        let reply = tokio::time::timeout(WAIT, raw.read_handshake()).await.expect("closed, not hung");
        assert!(reply.is_err(), "{range} must be refused, got {reply:?}");
    }
    let mut http = RawClient::connect(sim.addr(0)).await;
    http.send_raw(b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(tokio::time::timeout(WAIT, http.read_handshake()).await.unwrap().is_err());
    // Still serving.
    let (client, _n) = connect(sim.addr(0), 1).await;
    client.server_time().await.unwrap();
}

#[tokio::test]
async fn sends_nothing_between_the_handshake_reply_and_start_api() {
    let sim = sim().await;
    let mut raw = RawClient::connect(sim.addr(0)).await;
    raw.send_prefix("v100..226").await;
    raw.read_handshake().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), raw.read_frame()).await.is_err(),
        "the official Python client drops bytes that arrive before StartApi is sent"
    );
    raw.send_frame(271, &[0x08, 0x07]).await;
    let mut ids = vec![];
    while !ids.contains(&209) {
        ids.push(raw.read_frame().await.unwrap().0);
    }
    assert!(ids.contains(&215), "ManagedAccounts sent: {ids:?}");
}

#[tokio::test]
async fn handles_a_prefix_split_into_single_bytes() {
    let sim = sim().await;
    let mut raw = RawClient::connect(sim.addr(0)).await;
    let mut prefix = b"API\0".to_vec();
    prefix.extend_from_slice(&9u32.to_be_bytes());
    prefix.extend_from_slice(b"v213..226");
    for byte in prefix {
        raw.send_raw(&[byte]).await;
    }
    assert_eq!(raw.read_handshake().await.unwrap().0, 226);
}

#[tokio::test]
async fn answers_an_undecodable_request_with_320_and_carries_on() {
    let sim = sim().await;
    let mut raw = RawClient::start(sim.addr(0), 3).await;
    raw.send_frame(208, &[0x08]).await; // reqIds with a truncated varint
    let (id, payload) = next_error(&mut raw).await;
    assert_eq!(id, 204);
    let (req, code, message) = error_fields(&payload);
    assert_eq!((req, code), (-1, 320), "{message}");
    assert!(message.contains("Unable to parse"), "{message}");

    raw.send_frame(249, &[]).await; // reqCurrentTime still answered
    assert_eq!(next_frame_with(&mut raw, 249).await.0, 249);
}

#[tokio::test]
async fn answers_an_unsupported_request_on_its_own_id() {
    let sim = sim().await;
    let mut raw = RawClient::start(sim.addr(0), 3).await;
    // reqMktDepth (10) with reqId 1_500_000_000 in field 1: not served, answered on its id.
    raw.send_frame(210, &[0x08, 0x80, 0xde, 0xa0, 0xcb, 0x05]).await;
    let (_, payload) = next_error(&mut raw).await;
    let (req, code, message) = error_fields(&payload);
    assert_eq!((req, code), (1_500_000_000, 321), "{message}");
    assert!(message.contains("reqMktDepth"), "names the request: {message}");
    // An unknown message id is refused the same way, and the session goes on.
    raw.send_frame(400, &[0x08, 0x05]).await;
    let (_, payload) = next_error(&mut raw).await;
    let (req, code, message) = error_fields(&payload);
    assert_eq!((req, code), (-1, 321), "{message}");
    // A text-encoded request (binary id below 201) is read as text, as TWS reads it.
    raw.send_frame(49, b"1\0").await;
    next_frame_with(&mut raw, 249).await;
}

#[tokio::test]
async fn a_bad_frame_length_closes_that_connection_only() {
    let sim = sim().await;
    let (client, _n) = connect(sim.addr(0), 1).await;
    let mut raw = RawClient::start(sim.addr(0), 2).await;
    raw.send_raw(&[0xff, 0xff, 0xff, 0xff]).await;
    assert!(tokio::time::timeout(WAIT, raw.read_to_close()).await.is_ok(), "closed");
    client.server_time().await.expect("other sessions unaffected");
    let mut tiny = RawClient::start(sim.addr(0), 3).await;
    tiny.send_raw(&[0, 0, 0, 1, 0]).await;
    assert!(tokio::time::timeout(WAIT, tiny.read_to_close()).await.is_ok());
    eventually(WAIT, "only the good client remains", || async { sim.clients().len() == 1 }).await;
}

#[tokio::test]
async fn requests_before_start_api_are_ignored() {
    let sim = sim().await;
    let mut raw = RawClient::connect(sim.addr(0)).await;
    raw.send_prefix("v213..226").await;
    raw.read_handshake().await.unwrap();
    raw.send_frame(249, &[]).await;
    assert!(tokio::time::timeout(Duration::from_millis(200), raw.read_frame()).await.is_err());
    raw.send_frame(271, &[0x08, 0x01]).await;
    next_frame_with(&mut raw, 209).await;
}

async fn next_error(raw: &mut RawClient) -> (i32, Vec<u8>) {
    loop {
        let (id, payload) = next_frame_with(raw, 204).await;
        let (_, code, _) = error_fields(&payload);
        if !(2100..2200).contains(&code) {
            return (id, payload);
        }
    }
}

async fn next_frame_with(raw: &mut RawClient, wire_id: i32) -> (i32, Vec<u8>) {
    tokio::time::timeout(WAIT, async {
        loop {
            let frame = raw.read_frame().await.expect("frame");
            if frame.0 == wire_id {
                return frame;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no frame {wire_id}"))
}

// ---- control API -------------------------------------------------------------------------

async fn control() -> (ibkr_supervisor::sim::Simulator, SocketAddr) {
    let sim = sim().await;
    let addr = sim.serve_control(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    (sim, addr)
}

#[tokio::test]
async fn control_api_shows_state_and_injects_faults() {
    let (sim, control) = control().await;
    let (client, mut notices) = connect(sim.addr(0), 12).await;

    let (status, body) = http(control, "GET", "/sim/state", None).await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["clients"][0]["client_id"], 12);
    assert_eq!(state["listeners"][0]["account"], ACCOUNT);
    assert_eq!(state["listeners"][0]["upstream"], "connected");
    assert!(state["clients"][0]["peer"].as_str().unwrap().starts_with("127.0.0.1:"));

    let port = sim.port(0).to_string();
    let body = format!(r#"{{"kind":"upstream_lost","port":{port}}}"#);
    let (status, reply) = http(control, "POST", "/sim/fault", Some(body.as_bytes())).await;
    assert_eq!(status, 200, "{reply}");
    notice_with(&mut notices, &[1100], WAIT).await;
    let (_, body) = http(control, "GET", "/sim/state", None).await;
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["listeners"][0]["upstream"], "lost");
    assert_eq!(state["listeners"][0]["last_fault"]["kind"], "upstream_lost");

    let (status, _) = http(control, "POST", "/sim/fault", Some(br#"{"kind":"drop"}"#)).await;
    assert_eq!(status, 200);
    tokio::time::timeout(WAIT, async { while notices.next().await.is_some() {} }).await.unwrap();
    assert!(!client.is_connected());
}

#[tokio::test]
async fn control_api_rejects_bad_requests_with_the_reason() {
    let (_sim, control) = control().await;
    let cases: [(&str, &str, &[u8], u16, &str); 6] = [
        ("POST", "/sim/fault", b"{not json", 400, "not valid JSON"),
        ("POST", "/sim/fault", br#"{"kind":"explode"}"#, 400, "unknown fault kind"),
        ("POST", "/sim/fault", br#"{"kind":"latency"}"#, 400, "latency_ms"),
        ("POST", "/sim/fault", br#"{"kind":"drop","port":1}"#, 404, "no simulated listener on port 1"),
        ("GET", "/sim/fault", b"", 405, "method not allowed"),
        ("GET", "/sim/nothing", b"", 404, "no such endpoint"),
    ];
    for (method, path, body, status, reason) in cases {
        let (got, reply) = http(control, method, path, Some(body)).await;
        assert_eq!(got, status, "{method} {path} {}: {reply}", String::from_utf8_lossy(body));
        assert!(reply.contains(reason), "{reply:?} should contain {reason:?}");
    }
    let huge = vec![b' '; 70 * 1024];
    assert_eq!(http(control, "POST", "/sim/fault", Some(&huge)).await.0, 413);
}
