//! Alerts against a local webhook receiver: one per episode, retried when the receiver fails,
//! none inside a reset window.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::smtp::{self, MailOptions, MailServer};
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

fn smtp_settings(sim: &Simulator, smtp: serde_json::Value) -> ibkr_supervisor::settings::Settings {
    settings_for(
        &sim.addrs(),
        json!({ "alerts": { "retry": ["50ms", "50ms"], "smtp": smtp }, "reconnect": { "schedule": ["30ms"] },
                "http": { "bind": "127.0.0.1:0" } }),
    )
}

/// Drop Paper's gateway for a moment: one "down" and one "recovered" alert.
async fn one_outage(sim: &Simulator, supervision: &ibkr_supervisor::actors::Handle) {
    supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
    sim.inject(Fault::Refuse { duration_ms: Some(400) }, Some(sim.port(0))).unwrap();
    supervision.board().wait_for(WAIT, |b| !b.accounts[0].connected()).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[0].connected()).await.unwrap();
}

/// STARTTLS with a certificate trusted through `ca_file`, AUTH over TLS only, a refused first
/// connection retried; each e-mail a proper MIME message with an encoded subject.
#[tokio::test]
async fn alerts_reach_a_mailbox_over_starttls_with_auth_once_per_episode() {
    let account = ("alerts".to_owned(), "hunter2-but-long".to_owned());
    let mail = MailServer::start(MailOptions {
        starttls: true,
        account: Some(account),
        refuse_first: 1,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let sim = two_gateways().await;
    let settings = smtp_settings(
        &sim,
        json!({ "host": "127.0.0.1", "port": mail.port, "from": "alerts@example.com", "to": ["trader@example.com"],
                "username": "alerts", "password": "hunter2-but-long", "ca_file": mail.ca_file(dir.path()) }),
    );
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "the down and recovered e-mails", || async { mail.messages().len() == 2 }).await;
    let messages = mail.messages();
    let subjects: Vec<String> = messages.iter().map(|m| smtp::subject(m)).collect();
    assert!(subjects[0].contains("IBKR Paper disconnected") && subjects[0].starts_with('❌'), "{subjects:?}");
    assert!(subjects[1].contains("IBKR Paper connected again"), "{subjects:?}");
    let raw_subject = smtp::header(&messages[0], "Subject").unwrap();
    assert!(raw_subject.starts_with("=?utf-8?b?"), "RFC 2047: {raw_subject}");
    for name in ["Message-ID", "Date", "MIME-Version", "From", "To"] {
        assert!(smtp::header(&messages[0], name).is_some(), "{name} in {}", messages[0]);
    }
    assert_ne!(smtp::header(&messages[0], "Message-ID"), smtp::header(&messages[1], "Message-ID"));
    {
        let log = mail.log.lock().unwrap();
        assert!(!log.auth_in_clear, "the password never crossed in plain text: {:?}", log.commands);
        assert_eq!(log.logins, 2, "{:?}", log.commands);
        assert!(log.commands.iter().any(|c| c == "STARTTLS"), "{:?}", log.commands);
        assert!(!log.commands.iter().any(|c| c.starts_with("MAIL FROM")), "MAIL only after TLS: {:?}", log.commands);
    }
    assert_eq!(supervision.alerts().retried.load(Ordering::Relaxed), 1, "the refused first connection was retried");
    supervision.shutdown().await;
}

/// A server (or a stripping attacker) that does not offer STARTTLS gets neither the password
/// nor the message, and the failure is visible in /status, /metrics and the logs.
#[tokio::test]
async fn a_server_without_starttls_gets_no_password_and_no_mail() {
    let account = ("alerts".to_owned(), "hunter2-but-long".to_owned());
    let mail = MailServer::start(MailOptions { starttls: false, account: Some(account), ..Default::default() });
    let sim = two_gateways().await;
    let settings = smtp_settings(
        &sim,
        json!({ "host": "127.0.0.1", "port": mail.port, "from": "alerts@example.com", "to": ["trader@example.com"],
                "username": "alerts", "password": "hunter2-but-long" }),
    );
    let service = ibkr_supervisor::Service::start(settings, Default::default()).await.unwrap();
    let addr = service.http_addr();
    one_outage(&sim, &service.handle()).await;
    eventually(WAIT, "both alerts given up after their retries", || async {
        service.handle().alerts().given_up.load(Ordering::Relaxed) == 2
    })
    .await;
    assert!(mail.messages().is_empty(), "nothing was sent");
    {
        let log = mail.log.lock().unwrap();
        assert!(!log.auth_in_clear && log.logins == 0, "no AUTH without TLS: {:?}", log.commands);
        assert!(!log.commands.iter().any(|c| c.starts_with("MAIL") || c.starts_with("RCPT")), "{:?}", log.commands);
    }
    let (_, status) = http(addr, "GET", "/status", None).await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let error = status["alerts"]["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("STARTTLS"), "the reason is in /status: {status}");
    assert!(!error.contains("hunter2"), "no secret in the error");
    let (_, metrics) = http(addr, "GET", "/metrics", None).await;
    assert!(metrics.contains("ibkr_alert_failing 1"), "{metrics}");
    assert!(metrics.contains("ibkr_alert_deliveries_total{outcome=\"given_up\"} 2"), "{metrics}");
    service.shutdown().await;
}

/// Implicit TLS (port 465 style) with the trusted certificate; an untrusted certificate is
/// refused; plain text only when configured explicitly for a local relay.
#[tokio::test]
async fn implicit_tls_untrusted_certificates_and_an_explicit_plain_relay() {
    let dir = tempfile::tempdir().unwrap();
    let sim = two_gateways().await;

    let mail = MailServer::start(MailOptions { implicit: true, ..Default::default() });
    let smtp = json!({ "host": "127.0.0.1", "port": mail.port, "tls": "implicit", "from": "alerts@example.com",
                       "to": ["trader@example.com"], "ca_file": mail.ca_file(dir.path()) });
    let supervision = Supervision::start(smtp_settings(&sim, smtp), StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "two e-mails over implicit TLS", || async { mail.messages().len() == 2 }).await;
    assert!(mail.log.lock().unwrap().commands.iter().all(|c| c.starts_with("[tls]")), "TLS from the first byte");
    supervision.shutdown().await;

    let untrusted = MailServer::start(MailOptions { starttls: true, ..Default::default() });
    let smtp = json!({ "host": "127.0.0.1", "port": untrusted.port, "from": "alerts@example.com", "to": ["trader@example.com"] });
    let supervision = Supervision::start(smtp_settings(&sim, smtp), StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "refused: the certificate is not trusted", || async {
        supervision.alerts().given_up.load(Ordering::Relaxed) == 2
    })
    .await;
    assert!(untrusted.messages().is_empty());
    let error = supervision.alerts().last_error().unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    supervision.shutdown().await;

    let relay = MailServer::start(MailOptions::default());
    let smtp = json!({ "host": "127.0.0.1", "port": relay.port, "tls": "none", "from": "alerts@example.com", "to": ["trader@example.com"] });
    let supervision = Supervision::start(smtp_settings(&sim, smtp), StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "two e-mails through the local relay", || async { relay.messages().len() == 2 }).await;
    supervision.shutdown().await;
}
