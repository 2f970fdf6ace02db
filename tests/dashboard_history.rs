//! The dashboard's history over real HTTP, against the simulated gateways and a real SQLite
//! file: event details from the gateway are escaped; the 7-day figures come from the daily
//! rollups; no request reads the database (the page answers from the refresher's copy).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use common::*;
use ibkr_supervisor::actors::clock::SystemClock;
use ibkr_supervisor::actors::persistence::{PersistenceActor, PersistenceArgs};
use ibkr_supervisor::actors::status::EventPort;
use ibkr_supervisor::actors::{ConnectionState as S, EventKind, StatusBoard, StatusEvent};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
const HOSTILE: &str = r#"<script>alert("pwned")</script>"#;

async fn fragment(addr: SocketAddr) -> String {
    let (code, page) = http(addr, "GET", "/trades/status", None).await;
    assert_eq!(code, 200, "{page}");
    page
}

/// The `#events` card of a fragment (empty before the history's first read).
fn events_card(page: &str) -> &str {
    let Some(start) = page.find(r#"id="events""#) else { return "" };
    let end = page[start..].find("</section>").map_or(page.len(), |e| start + e);
    &page[start..end]
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, text) = http(addr, "GET", "/metrics", None).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test]
async fn event_details_from_the_gateway_are_escaped_in_the_events_table() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let settings = settings_for(&sim.addrs(), json!({ "http": { "bind": "127.0.0.1:0" } }));
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    let up = service.handle().board().wait_for(WAIT, |b| b.accounts[0].connected()).await;
    assert!(up.is_ok(), "Paper connects");
    sim.inject(Fault::UpstreamLost { message: Some(HOSTILE.into()) }, Some(sim.port(0))).unwrap();
    let escaped = "1100: &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;";
    eventually(WAIT, "the notice in the events table", || async {
        events_card(&fragment(addr).await).contains(escaped)
    })
    .await;
    let page = fragment(addr).await;
    assert!(!page.contains("<script"), "no markup from the gateway reaches the page: {page}");
    let events = events_card(&page);
    assert!(events.contains(r#"<tr class="event" data-kind="notice">"#), "{events}");
    assert!(
        events.contains("connected → degraded: IB upstream lost")
            || events.contains("connected → degraded: &lt;script"),
        "the state change is said in words: {events}"
    );
    service.shutdown().await;
}

fn local(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    New_York.from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
}

/// Publish `events` to a PersistenceActor of its own on `settings`' file (the real writer
/// thread), wait until `done` holds for the file, then stop it (everything is flushed).
async fn with_writer(settings: &Settings, events: Vec<StatusEvent>, done: &str) {
    let board = StatusBoard::new(&settings.accounts, Utc::now());
    let port: EventPort = Arc::new(ractor::OutputPort::default());
    let args = PersistenceArgs {
        database: settings.database.clone(),
        board,
        events: port.clone(),
        clock: Arc::new(SystemClock),
        timezone: settings.timezone,
    };
    let (actor, join) = ractor::Actor::spawn(None, PersistenceActor::new(), args).await.unwrap();
    for event in events {
        port.send(event);
    }
    let path = settings.database.path.clone();
    eventually(WAIT, done, || {
        let path = path.clone();
        async move {
            rusqlite::Connection::open(&path)
                .and_then(|c| c.query_row(done, [], |r| r.get::<_, i64>(0)))
                .is_ok_and(|n| n > 0)
        }
    })
    .await;
    actor.stop(None);
    join.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_week_comes_from_the_rollups_and_no_request_reads_the_database() {
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let settings = settings_for(
        &sim.addrs(),
        json!({ "http": { "bind": "127.0.0.1:0" }, "timezone": "America/New_York", "reset_time": null }),
    );
    // Two days ago in New York: down until 06:00, up until 18:00, down until 21:00, then up:
    // 15 h up, 9 h down, 62.50%.
    let day = Utc::now().with_timezone(&New_York).date_naive() - chrono::Days::new(2);
    let change = |at, from, to| StatusEvent::new("Paper", at, EventKind::StateChanged { from, to });
    let down = |since| S::Disconnected { since, last_error: Some("connection refused".into()) };
    let up = |since| S::Connected { since, client_id: 1 };
    let history = vec![
        change(local(day, 6), down(local(day, 0)), up(local(day, 6))),
        change(local(day, 18), up(local(day, 6)), down(local(day, 18))),
        change(local(day, 21), down(local(day, 18)), up(local(day, 21))),
    ];
    with_writer(&settings, history, "SELECT count(*) FROM connection_events").await;
    // A second writer's first maintenance pass rolls the finished days up.
    let rolled = format!(
        "SELECT count(*) FROM daily_rollups WHERE account = 'Paper' AND zone = 'America/New_York' AND day = '{day}'"
    );
    with_writer(&settings, Vec::new(), &rolled).await;
    // Retention pruned the raw rows of that day but its last: from the raw rows alone the day
    // would read 50% (unknown until 18:00, then 3 h down and 3 h up).
    let conn = rusqlite::Connection::open(&settings.database.path).unwrap();
    let cut = ibkr_supervisor::actors::persistence::timestamp(local(day, 20));
    conn.execute("DELETE FROM connection_events WHERE at < ?1", [&cut]).unwrap();
    drop(conn);

    let service = Service::start(settings.clone(), RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    let both = service.handle().board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await;
    assert!(both.is_ok(), "both accounts connect");
    let column = format!("<th>{}</th>", day.format("%a %d"));
    eventually(WAIT, "the footer's uptime per day", || async { fragment(addr).await.contains(&column) }).await;
    let page = fragment(addr).await;
    let row = &page[page.find(r#"<tr data-account="Paper">"#).expect("Paper's uptime row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(">62.50%</td>"), "that day from its rollup, not from the pruned raw rows: {row}");
    assert!(page.contains(&format!("{}: connected 15 h 0 m", day.format("%a %d %b"))), "the 7-day bar's title");

    // Requests read the copy: a burst of them is no read of the database.
    let reads = metric(addr, "ibkr_dashboard_history_reads_total").await;
    for _ in 0..30 {
        assert!(fragment(addr).await.contains(r#"data-span="24h""#));
    }
    let after = metric(addr, "ibkr_dashboard_history_reads_total").await;
    assert!(after - reads <= 2.0, "30 requests, {} reads (the refresher's, on board changes)", after - reads);

    service.shutdown().await;
}
