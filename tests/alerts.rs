//! Alerts against a local webhook receiver: one per episode, retried when the receiver fails,
//! none inside a reset window.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ibkr_supervisor::actors::clock::OffsetClock;
use ibkr_supervisor::actors::{StartOptions, Supervision};
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use serde_json::json;
use warp::Filter;

const WAIT: Duration = Duration::from_secs(5);

/// A Slack-like receiver: records each accepted body; answers 500 to the first `fail` posts.
#[derive(Clone, Default)]
struct Receiver {
    texts: Arc<Mutex<Vec<String>>>,
    fail: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let route =
            warp::path!("hook").and(warp::post()).and(warp::body::json()).map(move |body: serde_json::Value| {
                if me.fail.load(Ordering::SeqCst) > 0 {
                    me.fail.fetch_sub(1, Ordering::SeqCst);
                    me.failed.fetch_add(1, Ordering::SeqCst);
                    return warp::reply::with_status("busy", warp::http::StatusCode::INTERNAL_SERVER_ERROR);
                }
                me.texts.lock().unwrap().push(body["text"].as_str().unwrap_or_default().to_owned());
                warp::reply::with_status("ok", warp::http::StatusCode::OK)
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        format!("http://{addr}/hook")
    }

    fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }
}

async fn two_gateways() -> Simulator {
    Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap()
}

#[tokio::test]
async fn one_alert_per_episode_retried_until_the_receiver_takes_it() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["50ms", "50ms", "50ms"] }, "reconnect": { "schedule": ["30ms"] } }),
    );
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();

    // The receiver is down for the first two posts; the gateway refuses for a while, so many
    // attempts fail: still one "down" alert, delivered on the third try.
    receiver.fail.store(2, Ordering::SeqCst);
    sim.inject(Fault::Refuse { duration_ms: Some(600) }, Some(sim.port(0))).unwrap();
    eventually(WAIT, "the down alert, after two failed posts", || async { !receiver.texts().is_empty() }).await;
    assert_eq!(receiver.failed.load(Ordering::SeqCst), 2);
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.unwrap();
    eventually(WAIT, "the recovery alert", || async { receiver.texts().len() == 2 }).await;
    let texts = receiver.texts();
    assert!(texts[0].contains("IBKR Paper disconnected"), "{texts:?}");
    assert!(texts[1].contains("IBKR Paper connected again"), "{texts:?}");
    assert!(
        supervision.board().snapshot().accounts[0].reconnect_attempts == 0,
        "reconnected; several attempts had failed meanwhile"
    );
    // The receiver records a text before it answers; the sender counts it once the answer is in.
    eventually(WAIT, "both deliveries counted", || async { supervision.alerts().sent.load(Ordering::Relaxed) >= 2 })
        .await;
    assert_eq!(supervision.alerts().sent.load(Ordering::Relaxed), 2, "two alerts for one episode");
    assert_eq!(supervision.alerts().retried.load(Ordering::Relaxed), 2);

    // A degraded episode is reported once too.
    sim.inject(Fault::UpstreamLost { message: None }, Some(sim.port(1))).unwrap();
    eventually(WAIT, "the degraded alert", || async { receiver.texts().len() == 3 }).await;
    assert!(receiver.texts()[2].contains("IBKR Live degraded"), "{:?}", receiver.texts());
    supervision.shutdown().await;
}

#[tokio::test]
async fn nothing_is_sent_for_an_outage_inside_a_reset_window() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["50ms"] },
                "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "800ms",
                "reconnect": { "schedule": ["50ms"] } }),
    );
    // 23:44:59.700 New York: the window opens 300 ms in and lasts 800 ms.
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:44:59.700Z").unwrap().with_timezone(&chrono::Utc);
    let options = StartOptions { clock: Arc::new(OffsetClock::starting_at(start)), ..StartOptions::default() };
    let supervision = Supervision::start(settings, options).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[0].state.name() == "reset_window").await.unwrap();
    sim.inject(Fault::Drop, None).unwrap();
    // The window ends, the accounts reconnect at once: no alert at any point.
    supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
    let quiet = supervision.board().wait_for(Duration::from_millis(300), |_| !receiver.texts().is_empty()).await;
    assert!(quiet.is_err() && receiver.texts().is_empty(), "alerts during a scheduled reset: {:?}", receiver.texts());
    supervision.shutdown().await;
}

/// A local SMTP server: records each message's Subject; greets the first `refuse` connections
/// with 421 (service unavailable) so the client must retry.
#[derive(Clone, Default)]
struct MailServer {
    subjects: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicU32>,
}

impl MailServer {
    async fn start(&self) -> u16 {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    if me.refuse.load(Ordering::SeqCst) > 0 {
                        me.refuse.fetch_sub(1, Ordering::SeqCst);
                        let _ = write.write_all(b"421 try again later\r\n").await;
                        return;
                    }
                    let _ = write.write_all(b"220 test ESMTP\r\n").await;
                    let mut lines = BufReader::new(read).lines();
                    let mut in_data = false;
                    let mut subject = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if in_data {
                            if let Some(s) = line.strip_prefix("Subject: ") {
                                subject = s.to_owned();
                            }
                            if line == "." {
                                in_data = false;
                                me.subjects.lock().unwrap().push(std::mem::take(&mut subject));
                                b"250 queued\r\n"
                            } else {
                                continue;
                            }
                        } else if line.starts_with("EHLO") {
                            b"250-test\r\n250 OK\r\n"
                        } else if line == "DATA" {
                            in_data = true;
                            b"354 go ahead\r\n"
                        } else if line == "QUIT" {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn subjects(&self) -> Vec<String> {
        self.subjects.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn alerts_reach_a_mailbox_once_per_episode_and_retry() {
    let mail = MailServer::default();
    let port = mail.start().await;
    mail.refuse.store(1, Ordering::SeqCst);
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "retry": ["50ms", "50ms"],
                            "smtp": { "host": "127.0.0.1", "port": port, "from": "alerts@example.com", "to": ["trader@example.com"] } },
                "reconnect": { "schedule": ["30ms"] } }),
    );
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();

    sim.inject(Fault::Refuse { duration_ms: Some(400) }, Some(sim.port(0))).unwrap();
    supervision.board().wait_for(WAIT, |b| !b.accounts[0].connected()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.unwrap();
    eventually(WAIT, "the down and recovered e-mails", || async { mail.subjects().len() == 2 }).await;
    let subjects = mail.subjects();
    assert!(subjects[0].contains("IBKR Paper disconnected"), "{subjects:?}");
    assert!(subjects[1].contains("IBKR Paper connected again"), "{subjects:?}");
    assert_eq!(supervision.alerts().retried.load(Ordering::Relaxed), 1, "the refused first connection was retried");
    supervision.shutdown().await;
}
