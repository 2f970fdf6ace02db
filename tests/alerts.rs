//! Alerts against a local webhook receiver and a local SMTP server: one per episode, retried
//! when the receiver fails, none inside a reset window; in order per channel (a "recovered"
//! never overtakes its retried "down", a slow channel never holds up the other); the rate
//! limit drops whole episodes only; a restarted AlertActor still closes its episodes; a
//! meltdown gets through past the rate limit and ahead of a retry wait.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::smtp::{self, MailOptions, MailServer};
use common::*;
use ibkr_supervisor::actors::alert::QueueView;
use ibkr_supervisor::actors::clock::{Clock, OffsetClock};
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::{EventKind, Outcome, StartOptions, StatusEvent, Supervision};
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use serde_json::json;
use warp::Filter;

const WAIT: Duration = Duration::from_secs(5);

/// A Slack-like receiver: records every request's text in arrival order (`seen`) and each
/// accepted one (`texts`); answers 500 to the first `fail` posts and to every text containing
/// `fail_containing`; holds the first request containing `hold` unanswered until `release`,
/// then answers it 500.
#[derive(Clone)]
struct Receiver {
    texts: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
    fail: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    fail_containing: Arc<Mutex<Option<&'static str>>>,
    hold: Arc<Mutex<Option<&'static str>>>,
    holding: Arc<AtomicU32>,
    released: Arc<tokio::sync::Semaphore>,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            texts: Default::default(),
            seen: Default::default(),
            fail: Default::default(),
            failed: Default::default(),
            fail_containing: Default::default(),
            hold: Default::default(),
            holding: Default::default(),
            released: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let route =
            warp::path!("hook").and(warp::post()).and(warp::body::json()).then(move |body: serde_json::Value| {
                let me = me.clone();
                async move { me.answer(body["text"].as_str().unwrap_or_default().to_owned()).await }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        format!("http://{addr}/hook")
    }

    async fn answer(&self, text: String) -> warp::reply::WithStatus<&'static str> {
        use warp::http::StatusCode;
        self.seen.lock().unwrap().push(text.clone());
        let held = {
            let mut hold = self.hold.lock().unwrap();
            hold.is_some_and(|pattern| text.contains(pattern)) && hold.take().is_some()
        };
        if held {
            self.holding.store(1, Ordering::SeqCst);
            let _ = self.released.acquire().await;
            self.failed.fetch_add(1, Ordering::SeqCst);
            return warp::reply::with_status("late and busy", StatusCode::INTERNAL_SERVER_ERROR);
        }
        let refuse = *self.fail_containing.lock().unwrap();
        let first_ones = self.fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if first_ones || refuse.is_some_and(|pattern| text.contains(pattern)) {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return warp::reply::with_status("busy", StatusCode::INTERNAL_SERVER_ERROR);
        }
        self.texts.lock().unwrap().push(text);
        warp::reply::with_status("ok", StatusCode::OK)
    }

    fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
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

/// The webhook holds Paper's first "down" unanswered while the account recovers, then fails
/// it: the "recovered" waits in the webhook's queue behind the retried "down" and arrives
/// after it; the e-mail channel meanwhile delivers both, held up by nothing.
#[tokio::test]
async fn a_retried_down_is_never_overtaken_by_its_recovery_and_never_holds_the_other_channel() {
    let receiver = Receiver::default();
    *receiver.hold.lock().unwrap() = Some("disconnected");
    let url = receiver.start().await;
    let mail = MailServer::start(MailOptions::default());
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["50ms", "50ms"],
                            "smtp": { "host": "127.0.0.1", "port": mail.port, "tls": "none",
                                      "from": "alerts@example.com", "to": ["trader@example.com"] } },
                "reconnect": { "schedule": ["30ms"] } }),
    );
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "the webhook holding the down", || async { receiver.holding.load(Ordering::SeqCst) == 1 }).await;
    eventually(WAIT, "the recovery queued behind the held down", || async {
        supervision.alerts().queues().iter().any(|q| q.channel == "webhook" && q.queued == 2)
    })
    .await;
    eventually(WAIT, "both e-mails while the webhook is held", || async { mail.messages().len() == 2 }).await;
    let subjects: Vec<String> = mail.messages().iter().map(|m| smtp::subject(m)).collect();
    assert!(subjects[0].contains("IBKR Paper disconnected"), "{subjects:?}");
    assert!(subjects[1].contains("IBKR Paper connected again"), "{subjects:?}");
    assert_eq!(receiver.seen().len(), 1, "nothing else was posted while the down was held: {:?}", receiver.seen());

    receiver.released.add_permits(1);
    eventually(WAIT, "down, then recovered, on the webhook", || async { receiver.texts().len() == 2 }).await;
    let texts = receiver.texts();
    assert!(texts[0].contains("IBKR Paper disconnected"), "{texts:?}");
    assert!(texts[1].contains("IBKR Paper connected again"), "{texts:?}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "the held down, its retry, the recovery: {seen:?}");
    assert!(seen[..2].iter().all(|t| t.contains("disconnected")), "{seen:?}");
    eventually(WAIT, "four deliveries counted", || async { supervision.alerts().sent.load(Ordering::Relaxed) == 4 })
        .await;
    assert_eq!(supervision.alerts().retried.load(Ordering::Relaxed), 1);
    assert!(supervision.alerts().queues().iter().all(|q| q.queued == 0), "{:?}", supervision.alerts().queues());
    supervision.shutdown().await;
}

/// Four accounts drop at once, two alerts a minute allowed: two "down"s go out, two are dropped;
/// every delivered "down" gets its "recovered" although the window is full, and no "recovered"
/// arrives for a "down" that was dropped.
#[tokio::test]
async fn a_burst_over_the_rate_limit_drops_whole_episodes_only() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = Simulator::start(SimConfig::default().loopback("DU1").loopback("U2").loopback("U3").loopback("U4"))
        .await
        .unwrap();
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["50ms"], "max_per_minute": 2 },
                "reconnect": { "schedule": ["100ms"] } }),
    );
    let supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    let board = supervision.board();
    board.wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
    let names: Vec<String> = board.snapshot().accounts.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names.len(), 4);

    // Each account goes down once and comes back: eight alerts decided (an account that
    // reconnects fast may never be seen down beside the others, so count the decisions).
    sim.inject(Fault::Drop, None).unwrap();
    let alerts = supervision.alerts();
    eventually(WAIT, "eight alerts decided: four sent, four dropped", || async {
        alerts.sent.load(Ordering::Relaxed) + alerts.rate_limited.load(Ordering::Relaxed) == 8
    })
    .await;
    board.wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
    assert_eq!(alerts.rate_limited.load(Ordering::Relaxed), 4, "two downs and their recoveries");
    assert_eq!(alerts.sent.load(Ordering::Relaxed), 4);
    let texts = receiver.texts();
    let mut reported = 0;
    for name in &names {
        let down = texts.iter().position(|t| t.contains(&format!("IBKR {name} disconnected")));
        let up = texts.iter().position(|t| t.contains(&format!("IBKR {name} connected again")));
        match (down, up) {
            (Some(down), Some(up)) => {
                assert!(down < up, "{name}: recovered before down: {texts:?}");
                reported += 1;
            }
            (None, None) => {}
            _ => panic!("{name}: a down without its recovery, or the reverse: {texts:?}"),
        }
    }
    assert_eq!(reported, 2, "{texts:?}");
    supervision.shutdown().await;
}

fn state_changed(account: &str, to: ibkr_supervisor::actors::ConnectionState) -> StatusEvent {
    let from =
        ibkr_supervisor::actors::ConnectionState::Connecting { since: chrono::Utc::now(), attempt: 1, client_id: 1 };
    StatusEvent::new(account, chrono::Utc::now(), EventKind::StateChanged { from, to })
}

/// The AlertActor is killed (as the supervisor kills a stuck one) while its "down" is being
/// retried; the next incarnation, on the same counters, finds the queue and the open episode:
/// the "down" arrives once, then the "recovered" decided after the restart.
#[tokio::test]
async fn a_restarted_alert_actor_keeps_its_queue_and_closes_its_episode() {
    use ibkr_supervisor::actors::alert::{AlertActor, AlertArgs, AlertCounters, Channel};
    use ibkr_supervisor::actors::ConnectionState;
    let receiver = Receiver::default();
    receiver.fail.store(2, Ordering::SeqCst);
    let url = receiver.start().await;
    let events: ibkr_supervisor::actors::status::EventPort = Arc::new(ractor::OutputPort::default());
    let counters = Arc::new(AlertCounters::default());
    let args = AlertArgs {
        channels: vec![Channel::Webhook(url)],
        retry: vec![Duration::from_millis(300), Duration::from_millis(300)],
        max_per_minute: 20,
        events: events.clone(),
        counters: Arc::clone(&counters),
        reauth: None,
        clock: Arc::new(ibkr_supervisor::actors::clock::SystemClock),
    };
    let (first, _) = ractor::Actor::spawn(None, AlertActor, args.clone()).await.unwrap();
    let down = ConnectionState::Disconnected { since: chrono::Utc::now(), last_error: Some("refused".into()) };
    events.send(state_changed("Paper", down));
    eventually(WAIT, "the down's first attempt failed", || async { counters.retried.load(Ordering::Relaxed) == 1 })
        .await;
    first.kill_and_wait(None).await.unwrap();

    let (second, _) = ractor::Actor::spawn(None, AlertActor, args).await.unwrap();
    events.send(state_changed("Paper", ConnectionState::Connected { since: chrono::Utc::now(), client_id: 1 }));
    eventually(WAIT, "down and recovered", || async { receiver.texts().len() == 2 }).await;
    let texts = receiver.texts();
    assert!(texts[0].contains("IBKR Paper disconnected: refused"), "{texts:?}");
    assert!(texts[1].contains("IBKR Paper connected again"), "{texts:?}");
    assert_eq!(receiver.seen().len(), 4, "two failed attempts, the down once, the recovery: {:?}", receiver.seen());
    eventually(WAIT, "both counted", || async { counters.sent.load(Ordering::Relaxed) == 2 }).await;
    assert_eq!(counters.retried.load(Ordering::Relaxed), 2);
    second.kill_and_wait(None).await.unwrap();
}

/// A meltdown while the window is full and Paper's "down" waits 30 s for its retry: the
/// meltdown is not rate-limited and does not wait behind the retry — the down gets one last
/// attempt at once, is given up with its recovery, and the meltdown goes out.
#[tokio::test]
async fn a_meltdown_gets_through_the_rate_limit_and_a_retry_wait() {
    let receiver = Receiver::default();
    *receiver.fail_containing.lock().unwrap() = Some("disconnected");
    let url = receiver.start().await;
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["30s"], "max_per_minute": 1 },
                "reconnect": { "schedule": ["30ms"] },
                "supervisor": { "max_restarts": 1, "restart_window": "60s" } }),
    );
    let mut supervision = Supervision::start(settings, StartOptions::default()).await.unwrap();
    one_outage(&sim, &supervision.handle()).await;
    eventually(WAIT, "the down failed and waits, its recovery behind it", || async {
        supervision.alerts().queues() == [QueueView { channel: "webhook", queued: 2, head_failures: 1 }]
    })
    .await;
    for round in 0..2 {
        let gateway = supervision.gateway("Live").unwrap();
        gateway.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
        if round == 0 {
            eventually(WAIT, "Live restarted", || async {
                supervision.gateway("Live").is_some_and(|g| g.get_id() != gateway.get_id())
            })
            .await;
        }
    }
    let outcome = tokio::time::timeout(WAIT, supervision.wait()).await.expect("the tree stops");
    assert!(matches!(outcome, Outcome::Meltdown(_)), "{outcome:?}");
    eventually(WAIT, "the meltdown alert", || async { !receiver.texts().is_empty() }).await;
    let texts = receiver.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("meltdown (gateway:Live)"), "{texts:?}");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3, "the down twice, then the meltdown: {seen:?}");
    assert!(seen[..2].iter().all(|t| t.contains("IBKR Paper disconnected")), "{seen:?}");
    assert!(!seen.iter().any(|t| t.contains("connected again")), "no recovery for a down never delivered");
    eventually(WAIT, "the down and its recovery given up", || async {
        supervision.alerts().given_up.load(Ordering::Relaxed) == 2
    })
    .await;
}

/// Start Paper and Live with their wall clock at `start` (grace 800 ms) and wait for both links.
async fn at_wall_time(start: &str, receiver: &Receiver) -> (Simulator, Supervision, OffsetClock) {
    let url = receiver.start().await;
    let sim = two_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "alerts": { "webhook_url": url, "retry": ["50ms"] }, "reconnect": { "schedule": ["50ms"] },
                "reauth": { "weekly": { "weekday": "sun", "time": "01:00", "timezone": "America/New_York" },
                            "grace": "800ms" } }),
    );
    let start = chrono::DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&chrono::Utc);
    let clock = OffsetClock::starting_at(start);
    let options = StartOptions { clock: Arc::new(clock), ..StartOptions::default() };
    let supervision = Supervision::start(settings, options).await.unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected())).await.unwrap();
    (sim, supervision, clock)
}

/// Sunday 00:59:59.7 New York, just before IB invalidates the week's tokens: Live's gateway goes
/// away for its login and stays away. No "disconnected" alert; once the grace has passed (no
/// event arrives meanwhile but failed attempts), exactly one "needs a login", never repeated
/// through the attempts after it; when a human has logged in, the recovery.
#[tokio::test]
async fn the_weekly_login_is_alerted_once_instead_of_the_outage() {
    let receiver = Receiver::default();
    let (sim, supervision, _) = at_wall_time("2026-06-14T04:59:59.700Z", &receiver).await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    eventually(WAIT, "the login alert", || async { !receiver.texts().is_empty() }).await;
    let texts = receiver.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("IB Gateway for Live needs a login (weekly re-authentication)"), "{texts:?}");

    // More attempts fail after it: still the one alert.
    let attempts = supervision.board().snapshot().accounts[1].reconnect_attempts;
    supervision.board().wait_for(WAIT, |b| b.accounts[1].reconnect_attempts >= attempts + 3).await.unwrap();
    sim.inject(Fault::Clear, Some(sim.port(1))).unwrap();
    supervision.board().wait_for(WAIT, |b| b.accounts[1].connected()).await.unwrap();
    eventually(WAIT, "the recovery", || async { receiver.texts().len() == 2 }).await;
    // One channel, one queue, in order: a "down" decided at any point would be in between.
    let texts = receiver.texts();
    assert!(texts[1].contains("IBKR Live connected again"), "{texts:?}");
    assert!(
        !receiver.seen().iter().any(|t| t.contains("disconnected")),
        "no ordinary outage alert: {:?}",
        receiver.seen()
    );
    assert_eq!(supervision.alerts().rate_limited.load(Ordering::Relaxed), 0);
    supervision.shutdown().await;
}

/// The same outage on a Wednesday afternoon is an ordinary one: "disconnected" at once, then
/// the recovery, and no login alert.
#[tokio::test]
async fn an_outage_on_a_wednesday_gets_the_ordinary_down_alert() {
    let receiver = Receiver::default();
    let (sim, supervision, clock) = at_wall_time("2026-06-17T18:00:00Z", &receiver).await;
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(1))).unwrap();
    eventually(WAIT, "the down alert", || async { !receiver.texts().is_empty() }).await;
    // Past the grace (800 ms), still down: no login alert joins it.
    let past_grace = clock.now() + chrono::Duration::seconds(1);
    eventually(WAIT, "the grace over", || async { clock.now() >= past_grace }).await;
    assert!(!supervision.board().snapshot().accounts[1].connected());
    sim.inject(Fault::Clear, Some(sim.port(1))).unwrap();
    eventually(WAIT, "the recovery", || async { receiver.texts().len() == 2 }).await;
    let texts = receiver.texts();
    assert!(texts[0].contains("IBKR Live disconnected"), "{texts:?}");
    assert!(texts[1].contains("IBKR Live connected again"), "{texts:?}");
    supervision.shutdown().await;
}

/// Nothing is published while a gateway stays away between attempts: the actor's own timer,
/// set on the clock for the end of the grace, sends the login alert. A restart of the actor
/// (killed as stuck) while the outage is held keeps it: the next incarnation sets the timer again.
#[tokio::test]
async fn the_login_alert_needs_no_further_event_and_survives_a_restart_of_the_actor() {
    use ibkr_supervisor::actors::alert::{AlertActor, AlertArgs, AlertCounters, AlertMessage, Channel};
    use ibkr_supervisor::actors::reauth::ReauthConfig;
    use ibkr_supervisor::actors::ConnectionState;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let events: ibkr_supervisor::actors::status::EventPort = Arc::new(ractor::OutputPort::default());
    let counters = Arc::new(AlertCounters::default());
    // Sunday 01:00:00 New York, the expiry itself.
    let start = chrono::DateTime::parse_from_rfc3339("2026-06-14T05:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let clock = OffsetClock::starting_at(start);
    let args = AlertArgs {
        channels: vec![Channel::Webhook(url)],
        retry: vec![Duration::from_millis(50)],
        max_per_minute: 20,
        events: events.clone(),
        counters: Arc::clone(&counters),
        reauth: Some(ReauthConfig { grace: Duration::from_millis(600), ..ReauthConfig::default() }),
        clock: Arc::new(clock),
    };
    let (first, _) = ractor::Actor::spawn(None, AlertActor, args.clone()).await.unwrap();
    let now = clock.now();
    let down = ConnectionState::Disconnected { since: now, last_error: Some("refused".into()) };
    let from = ConnectionState::Connected { since: now, client_id: 2 };
    events.send(StatusEvent::new("Live", now, EventKind::StateChanged { from, to: down }));
    eventually(WAIT, "the outage held", || async {
        let snapshot = first.call(AlertMessage::Snapshot, None).await.unwrap().unwrap();
        snapshot.held_for_login == ["Live"]
    })
    .await;
    assert!(receiver.seen().is_empty(), "no down alert: {:?}", receiver.seen());
    first.kill_and_wait(None).await.unwrap();

    let (second, _) = ractor::Actor::spawn(None, AlertActor, args).await.unwrap();
    eventually(WAIT, "the login alert, with no event", || async { !receiver.texts().is_empty() }).await;
    assert!(clock.now() >= start + chrono::Duration::milliseconds(600), "not before the grace ended");
    let texts = receiver.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("IB Gateway for Live needs a login (weekly re-authentication)"), "{texts:?}");
    let snapshot = second.call(AlertMessage::Snapshot, None).await.unwrap().unwrap();
    assert!(snapshot.held_for_login.is_empty());
    assert_eq!(snapshot.open_episodes, ["Live"], "the recovery will close it");
    second.kill_and_wait(None).await.unwrap();
}
