//! The `/trades` dashboard in a real headless Chromium, driven over the Chrome DevTools
//! Protocol: one live page sees the account go from green to the yellow banner (with its
//! countdown and the right buttons enabled) and back, through htmx polling and the page's own
//! JavaScript, and the operator's buttons are clicked in the browser.
//!
//! Needs `chromium` on PATH (Debian: `apt-get install chromium`; `.ci/run` installs it). The
//! test fails, never skips, when it is missing. Screenshots go to `target/dashboard-*.png`.
//!
//! The DevTools WebSocket client is hand-written below (a few dozen lines over a TcpStream)
//! so the test needs no extra dependency.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use ibkr_supervisor::sim::{Fault, SimConfig, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Generous: a loaded 2-core CI machine compiles other tests while this one runs.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL_MS: u64 = 500;
/// Slack over one poll for the banner to appear (a busy CI machine delays timers and paints).
const BANNER_MARGIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_goes_yellow_and_green_again_in_a_real_browser() {
    let chromium = chromium_binary();
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let settings = settings_for(
        &sim.addrs(),
        json!({
            "http": { "bind": "127.0.0.1:0" },
            "heartbeat": { "interval": "2s", "probe_timeout": "1s", "connect_timeout": "2s" },
            // Long: the account stays down (banner, countdown) until the operator connects it.
            "reconnect": { "schedule": ["30s"] },
        }),
    );
    let service = Service::start(settings, RunOptions::default()).await.unwrap();
    let addr = service.http_addr();
    let mut browser = Browser::launch(&chromium).await;

    // Green.
    browser.viewport(1024, 768, 1.0, false).await;
    browser.navigate(&format!("http://{addr}/trades?poll_ms={POLL_MS}")).await;
    browser.wait_paper("Paper connected (green card)", DEADLINE, |p| p.state == "connected" && p.ok).await;
    assert_eq!(browser.eval("typeof htmx").await, "object", "htmx loaded from /assets/htmx.min.js");

    // Pause trading with the page's own button, so "Activate trading" is shown.
    browser.click("section[data-account=\"Paper\"] button.pause").await;
    let paper = browser
        .wait_paper("trading paused, Activate enabled while connected", DEADLINE, |p| {
            p.trading == "paused by operator" && p.activate == "enabled"
        })
        .await;
    assert_eq!(paper.connect, "disabled", "Connect is disabled while connected: {paper:?}");
    assert!(!paper.warning && paper.countdown.is_none(), "no banner while connected: {paper:?}");
    assert_eq!(paper.message, "", "the POST succeeded: {paper:?}");
    browser.screenshot("dashboard-connected.png").await;

    // The gateway drops Paper: within one poll (plus margin) the banner, the buttons, the countdown.
    let dropped = tokio::time::Instant::now();
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    let paper = browser
        .wait_paper("yellow banner for Paper", DEADLINE, |p| {
            p.state != "connected" && p.warning && !p.ok && p.countdown.is_some()
        })
        .await;
    let seen_after = dropped.elapsed();
    eprintln!("banner seen {seen_after:?} after the drop (poll every {POLL_MS} ms): {paper:?}");
    assert!(
        seen_after <= Duration::from_millis(POLL_MS) + BANNER_MARGIN,
        "the banner took {seen_after:?}, more than one poll ({POLL_MS} ms) + {BANNER_MARGIN:?}"
    );
    assert_eq!(paper.activate, "disabled", "Activate is disabled while Paper is not usable: {paper:?}");
    assert_eq!(paper.connect, "enabled", "Connect is offered while Paper is down: {paper:?}");
    // The countdown is "in Ns" (the server renders "at HH:MM:SS UTC"; only the page's script
    // writes "in Ns") and the script moves it down each second.
    let first = countdown_secs(&paper).unwrap_or_else(|| panic!("countdown text is \"in Ns\": {paper:?}"));
    assert!((1..=30).contains(&first), "countdown within the 30 s schedule: {paper:?}");
    let later = browser
        .wait_paper("the countdown to tick down", DEADLINE, |p| countdown_secs(p).is_some_and(|s| s < first))
        .await;
    eprintln!("countdown {first}s -> {}s", countdown_secs(&later).unwrap());
    // The Live card stays green.
    assert_eq!(
        browser.eval(r#"document.querySelector('section[data-account="Live"]').dataset.state"#).await,
        "connected"
    );
    browser.viewport(390, 844, 2.0, true).await;
    browser.wait_paper("the banner after the resize", DEADLINE, |p| p.warning).await;
    browser.screenshot("dashboard-disconnected.png").await;

    // The gateway is back; the operator clicks "Connect to IB Gateway" (30 s schedule: no
    // automatic attempt for a while).
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    browser.click("section[data-account=\"Paper\"] button.connect").await;
    let paper = browser
        .wait_paper("Paper green again after the Connect click", DEADLINE, |p| {
            p.state == "connected" && p.ok && !p.warning && p.activate == "enabled"
        })
        .await;
    assert_eq!(paper.message, "", "POST /connect_ib succeeded: {paper:?}");
    assert_eq!(paper.connect, "disabled", "{paper:?}");
    browser.screenshot("dashboard-reconnected-phone.png").await;

    // Activate trading again with the page's button.
    browser.click("section[data-account=\"Paper\"] button.activate").await;
    browser
        .wait_paper("trading active again", DEADLINE, |p| p.trading == "enabled by operator" && p.pause == "enabled")
        .await;
    let status = service.handle().guard().is_paused("Paper");
    assert!(!status, "the guard is open again for Paper");

    browser.close().await;
    service.shutdown().await;
}

/// The dashboard's history in each state, in a real browser: connected, down with its
/// countdown (the outage's start kept through a failed attempt), degraded, inside a reset
/// window (an injected clock), each with the timeline bars and the events of a day of history
/// written beforehand through the real persistence path. Screenshots `dashboard-history-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_history_in_every_state_in_a_real_browser() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    use ibkr_supervisor::actors::StartOptions;
    let chromium = chromium_binary();
    let sim = Simulator::start(SimConfig::default().loopback("DU1234567").loopback("U7654321")).await.unwrap();
    let database = scratch_database();
    // 19:00 New York time on 1 December: the nightly reset (23:45 ET) is 4 h 45 m away.
    let t0 = at("2026-12-02T00:00:00Z");
    let overrides = json!({
        "http": { "bind": "127.0.0.1:0" },
        "heartbeat": { "interval": "2s", "probe_timeout": "1s", "connect_timeout": "2s" },
        // The first attempt after a loss comes at once and fails (the gateway refuses); the
        // next is 30 s away: the countdown.
        "reconnect": { "schedule": ["200ms", "30s"] },
        "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "1h",
        "database": { "path": database },
    });
    let settings = settings_for(&sim.addrs(), overrides.clone());
    write_a_day_of_history(&settings, t0).await;

    let options = RunOptions {
        start: StartOptions { clock: Arc::new(OffsetClock::starting_at(t0)), ..StartOptions::default() },
        ..RunOptions::default()
    };
    let service = Service::start(settings, options).await.unwrap();
    let addr = service.http_addr();
    let mut browser = Browser::launch(&chromium).await;
    browser.viewport(1024, 900, 1.0, false).await;
    browser.navigate(&format!("http://{addr}/trades?poll_ms={POLL_MS}")).await;

    // Connected, with the day of history: the bars show the outage, the degraded spell and the
    // reset window of the last 24 hours; the events list what the gateway said, escaped.
    let page = browser
        .wait_history("Paper connected, with the recorded day on its bars", |h| {
            h.paper.state == "connected" && h.paper.day.contains(&"down".into()) && h.events >= 8
        })
        .await;
    for kind in ["up", "down", "degraded", "reset"] {
        assert!(page.paper.day.iter().any(|k| k == kind), "the 24 h bar shows {kind}: {page:?}");
    }
    assert_eq!(page.paper.week_days, 7, "the 7-day bar covers seven days: {page:?}");
    assert!(page.paper.titles.iter().any(|t| t.starts_with("down: ")), "hover titles: {page:?}");
    assert!(page.next_reset.starts_with("Next reset 23:45 EST, in 4 h 4"), "{page:?}");
    assert!(page.uptime_days >= 2, "uptime per day in the footer: {page:?}");
    assert!(page.event_text.contains(HOSTILE), "the gateway's text is shown as text: {page:?}");
    assert_eq!(page.scripts, 2, "and never ran as markup (htmx and dashboard.js only): {page:?}");
    assert!(page.paper.trading_line.starts_with("Trading enabled by operator · orders flow"), "{page:?}");
    browser.screenshot("dashboard-history-connected.png").await;

    // Down: the gateway goes away. The first attempt fails at once; the banner still counts
    // from the loss, not from that attempt, and counts down to the next.
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(0))).unwrap();
    let page = browser
        .wait_history("Paper down after a failed attempt, with its countdown", |h| {
            h.paper.state == "disconnected"
                && h.paper.countdown.is_some()
                && h.paper.banner.contains("1 attempt failed")
        })
        .await;
    let status: Value = serde_json::from_str(&http(addr, "GET", "/status", None).await.1).unwrap();
    let paper = &status["accounts"][0];
    let outage: chrono::DateTime<chrono::Utc> = serde_json::from_value(paper["outage_since"].clone()).unwrap();
    let state_since: chrono::DateTime<chrono::Utc> = serde_json::from_value(paper["detail"]["since"].clone()).unwrap();
    assert!(outage < state_since, "the failed attempt moved the state's start, not the outage's: {paper}");
    let since = outage.with_timezone(&chrono_tz::America::New_York).format("since %H:%M:%S EST").to_string();
    assert!(page.paper.banner.contains(&since), "the banner says {since:?}: {page:?}");
    assert!(page.paper.banner.starts_with("Disconnected: down "), "{page:?}");
    assert!(page.paper.trading_line.contains("orders refused now: disconnected"), "{page:?}");
    browser
        .wait_history("the loss on the 24 h bar and in the events", |h| {
            h.paper.day.last().map(String::as_str) == Some("down") && h.event_text.contains("connected → disconnected")
        })
        .await;
    browser.screenshot("dashboard-history-down.png").await;

    // Degraded: Live's gateway loses IB's upstream.
    sim.inject(Fault::UpstreamLost { message: None }, Some(sim.port(1))).unwrap();
    let page = browser.wait_history("Live degraded", |h| h.live_state == "degraded").await;
    assert!(page.live_banner.starts_with("Degraded: IB upstream lost (1100), down "), "{page:?}");
    browser.screenshot("dashboard-history-degraded.png").await;
    service.shutdown().await;

    // Inside the reset window: the same database, a clock at 23:50 ET.
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Clear, Some(sim.port(1))).unwrap();
    let options = RunOptions {
        start: StartOptions {
            clock: Arc::new(OffsetClock::starting_at(at("2026-12-02T04:50:00Z"))),
            ..StartOptions::default()
        },
        ..RunOptions::default()
    };
    let service = Service::start(settings_for(&sim.addrs(), overrides), options).await.unwrap();
    let addr = service.http_addr();
    browser.navigate(&format!("http://{addr}/trades?poll_ms={POLL_MS}")).await;
    let page = browser
        .wait_history("Paper inside the reset window", |h| {
            h.paper.state == "reset_window" && h.paper.day.last().map(String::as_str) == Some("reset")
        })
        .await;
    assert!(page.next_reset.starts_with("Inside the scheduled reset window until 00:45 EST, ends in "), "{page:?}");
    assert!(page.paper.banner.starts_with("Scheduled reset until 00:45 EST"), "{page:?}");
    assert!(page.paper.trading_line.contains("orders refused now: scheduled reset until 00:45 EST"), "{page:?}");
    assert!(page.events >= 8 && page.paper.week_days == 7, "{page:?}");
    // The buttons still work: pause and see it.
    browser.click("section[data-account=\"Paper\"] button.pause").await;
    browser
        .wait_history("paused by the button", |h| h.paper.trading_line.starts_with("Trading paused by operator"))
        .await;
    browser.screenshot("dashboard-history-reset.png").await;

    browser.close().await;
    service.shutdown().await;
}

const HOSTILE: &str = r#"<script>alert("pwned")</script>"#;

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
}

/// A day before `t0` for Paper and Live, published as events to a PersistenceActor of its own
/// (the real writer thread), which is then stopped: everything is flushed.
async fn write_a_day_of_history(settings: &ibkr_supervisor::settings::Settings, t0: chrono::DateTime<chrono::Utc>) {
    use ibkr_supervisor::actors::clock::OffsetClock;
    use ibkr_supervisor::actors::persistence::{PersistenceActor, PersistenceArgs};
    use ibkr_supervisor::actors::status::EventPort;
    use ibkr_supervisor::actors::{ConnectionState as S, EventKind, StatusBoard, StatusEvent};
    let h = |hours: f64| t0 - chrono::Duration::seconds((hours * 3600.0) as i64);
    let board = StatusBoard::new(&settings.accounts, t0);
    let events: EventPort = Arc::new(ractor::OutputPort::default());
    let args = PersistenceArgs {
        database: settings.database.clone(),
        board,
        events: events.clone(),
        clock: Arc::new(OffsetClock::starting_at(t0)),
        timezone: settings.timezone,
    };
    let (actor, join) = ractor::Actor::spawn(None, PersistenceActor::new(), args).await.unwrap();
    let connected = |since| S::Connected { since, client_id: 1 };
    let down = |since| S::Disconnected { since, last_error: Some("connection closed by the gateway".into()) };
    for account in ["Paper", "Live"] {
        let script = [
            (h(30.0), down(h(30.0)), connected(h(30.0))),
            (h(20.0), connected(h(30.0)), down(h(20.0))),
            (h(19.5), down(h(20.0)), connected(h(19.5))),
            (
                h(9.0),
                connected(h(19.5)),
                S::Degraded { since: h(9.0), client_id: 1, code: 1100, reason: HOSTILE.into() },
            ),
            (
                h(8.8),
                S::Degraded { since: h(9.0), client_id: 1, code: 1100, reason: HOSTILE.into() },
                connected(h(8.8)),
            ),
            (h(5.0), connected(h(8.8)), S::ResetWindow { since: h(5.0), until: h(4.0), link: None }),
            (h(4.0), S::ResetWindow { since: h(5.0), until: h(4.0), link: None }, connected(h(4.0))),
        ];
        for (when, from, to) in script {
            events.send(StatusEvent::new(account, when, EventKind::StateChanged { from, to }));
        }
        events.send(StatusEvent::new(account, h(9.0), EventKind::Notice { code: 1100, message: HOSTILE.into() }));
    }
    eventually(DEADLINE, "the day's events are written", || async {
        let path = settings.database.path.clone();
        let conn = match rusqlite::Connection::open(&path) {
            Ok(conn) => conn,
            Err(_) => return false,
        };
        conn.query_row("SELECT count(*) FROM connection_events", [], |r| r.get::<_, i64>(0)).is_ok_and(|n| n >= 16)
    })
    .await;
    actor.stop(None);
    join.await.unwrap();
}

/// What the history parts of the page show, read from the live DOM.
#[derive(Debug, Deserialize)]
struct HistoryPage {
    paper: CardHistory,
    live_state: String,
    live_banner: String,
    next_reset: String,
    /// Rows in the events table.
    events: usize,
    event_text: String,
    /// Rows of the footer's uptime-per-day table (accounts).
    uptime_days: usize,
    /// `<script>` elements in the document.
    scripts: usize,
}

#[derive(Debug, Deserialize)]
struct CardHistory {
    state: String,
    banner: String,
    trading_line: String,
    countdown: Option<String>,
    /// The classes of the 24 h bar's pieces, in order.
    day: Vec<String>,
    /// Their hover titles.
    titles: Vec<String>,
    /// The days with a piece on the 7-day bar.
    week_days: usize,
}

const HISTORY_JS: &str = r#"(() => {
  const card = name => {
    const s = document.querySelector(`section[data-account="${name}"]`);
    if (!s) return null;
    const segs = [...s.querySelectorAll('.timeline[data-span="24h"] rect.seg')];
    const week = [...s.querySelectorAll('.timeline[data-span="7d"] rect.seg')];
    const cell = 1000 / 7;
    return {
      state: s.dataset.state,
      banner: (s.querySelector('.alert') || {}).textContent || '',
      trading_line: (s.querySelector('.trading-line') || {}).textContent || '',
      countdown: (s.querySelector('[data-countdown]') || {}).textContent || null,
      day: segs.map(r => [...r.classList].find(c => c !== 'seg')),
      titles: segs.map(r => (r.querySelector('title') || {}).textContent || ''),
      week_days: new Set(week.map(r => Math.floor((parseFloat(r.getAttribute('x')) + 0.01) / cell))).size,
    };
  };
  const paper = card('Paper'), live = card('Live');
  if (!paper || !live) return null;
  return {
    paper,
    live_state: live.state,
    live_banner: live.banner,
    next_reset: (document.getElementById('next-reset') || {}).textContent || '',
    events: document.querySelectorAll('#events tr.event').length,
    event_text: (document.getElementById('events') || {}).textContent || '',
    uptime_days: document.querySelectorAll('#uptime-days tr[data-account]').length,
    scripts: document.querySelectorAll('script').length,
  };
})()"#;

/// "in Ns" → N.
fn countdown_secs(paper: &Paper) -> Option<u64> {
    paper.countdown.as_deref()?.strip_prefix("in ")?.strip_suffix('s')?.parse().ok()
}

/// What the Paper card shows, read from the live DOM.
#[derive(Debug, Deserialize)]
struct Paper {
    state: String,
    ok: bool,
    warning: bool,
    /// "enabled", "disabled" or "absent".
    activate: String,
    pause: String,
    connect: String,
    countdown: Option<String>,
    trading: String,
    /// `#message`: the error of the last POST the page made, empty when it succeeded.
    message: String,
}

const PAPER_JS: &str = r#"(() => {
  const s = document.querySelector('section[data-account="Paper"]');
  if (!s) return null;
  const button = sel => { const b = s.querySelector(sel); return !b ? 'absent' : b.disabled ? 'disabled' : 'enabled'; };
  const text = sel => { const e = s.querySelector(sel); return e ? e.textContent : null; };
  return {
    state: s.dataset.state,
    ok: !!s.querySelector('.alert.ok'),
    warning: !!s.querySelector('.alert.warning'),
    activate: button('button.activate'),
    pause: button('button.pause'),
    connect: button('button.connect'),
    countdown: text('[data-countdown]'),
    trading: text('.trading') || '',
    message: (document.getElementById('message') || {}).textContent || '',
  };
})()"#;

fn chromium_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "this test drives a real headless Chromium, and none is on PATH: install it with \
         `apt-get install chromium` (Debian/Ubuntu; .ci/run does this), or set CHROMIUM=/path/to/chrome"
    );
}

/// Where `cargo` puts its output: the screenshots go there (never committed).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test binary>
    exe.ancestors()
        .nth(3)
        .filter(|dir| dir.join("CACHEDIR.TAG").exists() || dir.ends_with("target"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A headless Chromium (its own process group, killed on drop) and one page, attached over CDP.
struct Browser {
    child: tokio::process::Child,
    cdp: Cdp,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch(binary: &std::path::Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-proxy-server",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (apt-get install chromium)", binary.display()));

        // Chromium prints "DevTools listening on ws://…" on stderr; keep draining it after that.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (found, url) = tokio::sync::oneshot::channel::<String>();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut found = Some(found);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    if let Some(found) = found.take() {
                        let _ = found.send(url.trim().to_owned());
                    }
                }
                let mut log = log.lock().unwrap();
                if log.len() < 200 {
                    log.push(line);
                }
            }
        });
        let url = match tokio::time::timeout(DEADLINE, url).await {
            Ok(Ok(url)) => url,
            _ => panic!(
                "Chromium printed no DevTools URL within {DEADLINE:?}; stderr:\n{}",
                stderr.lock().unwrap().join("\n")
            ),
        };
        let mut cdp = Cdp::connect(&url).await;
        let target = cdp.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = cdp.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await;
        let session = attached["sessionId"].as_str().expect("a session id").to_owned();
        Browser { child, cdp, session, _profile: profile }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.cdp.call(Some(&session), method, params).await
    }

    /// Load `url` and wait until its document (not the previous one) has loaded.
    async fn navigate(&mut self, url: &str) {
        let answer = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(answer.get("errorText").is_none(), "navigating to {url}: {answer}");
        let loaded = format!("location.href === {} && document.readyState === 'complete'", json!(url));
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            // While the navigation commits the old context can vanish under the call: retry.
            let session = self.session.clone();
            let answer = self
                .cdp
                .try_call(Some(&session), "Runtime.evaluate", json!({ "expression": loaded, "returnByValue": true }))
                .await;
            if matches!(answer, Ok(ref r) if r["result"]["value"] == true) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{url} did not load within {DEADLINE:?}: {answer:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Evaluate `expression` in the page; its JSON value.
    async fn eval(&mut self, expression: &str) -> Value {
        let answer = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await;
        if let Some(exception) = answer.get("exceptionDetails") {
            panic!("JavaScript error in {expression}: {exception}");
        }
        answer["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Read the Paper card until `check` holds; panic with what it showed at the deadline.
    async fn wait_paper(&mut self, what: &str, within: Duration, check: impl Fn(&Paper) -> bool) -> Paper {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.eval(PAPER_JS).await;
            let paper: Option<Paper> = serde_json::from_value(value.clone()).ok();
            match paper {
                Some(paper) if check(&paper) => return paper,
                _ if tokio::time::Instant::now() >= deadline => {
                    let html = self.eval("document.getElementById('status').outerHTML").await;
                    panic!("timed out after {within:?} waiting for: {what}\nlast seen: {value}\n#status: {html}");
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Read the history parts of the page until `check` holds; panic with what they showed.
    async fn wait_history(&mut self, what: &str, check: impl Fn(&HistoryPage) -> bool) -> HistoryPage {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let value = self.eval(HISTORY_JS).await;
            match serde_json::from_value::<HistoryPage>(value.clone()) {
                Ok(page) if check(&page) => return page,
                _ if tokio::time::Instant::now() >= deadline => {
                    panic!("timed out after {DEADLINE:?} waiting for: {what}\nlast seen: {value}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Click the element matching `selector`, as a user would (a DOM click runs its onclick).
    async fn click(&mut self, selector: &str) {
        let selector_js = serde_json::to_string(selector).unwrap();
        let clicked = self
            .eval(&format!(
                "(() => {{ const b = document.querySelector({selector_js}); \
                 if (!b || b.disabled) return false; b.click(); return true; }})()"
            ))
            .await;
        assert_eq!(clicked, true, "{selector} is present and enabled");
    }

    /// Emulate a viewport (CSS pixels); `mobile` for a phone.
    async fn viewport(&mut self, width: u32, height: u32, scale: f64, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile }),
        )
        .await;
    }

    /// A full-page PNG under `target/`.
    async fn screenshot(&mut self, name: &str) {
        let size = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]").await;
        let (width, height) = (size[0].as_f64().unwrap_or(1024.0), size[1].as_f64().unwrap_or(768.0));
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("DevTools sends base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = target_dir().join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
    }

    /// Ask Chromium to quit (no answer awaited: it closes the socket), then make sure it did.
    async fn close(mut self) {
        let message = json!({ "id": 0, "method": "Browser.close" }).to_string();
        self.cdp.send(0x1, message.as_bytes()).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The browser's helpers (zygote, renderers) share its process group: end them all.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The Chrome DevTools Protocol over a minimal WebSocket client (RFC 6455: masked client
/// frames, text messages, fragments, pings).
struct Cdp {
    stream: BufReader<TcpStream>,
    next_id: u64,
}

impl Cdp {
    async fn connect(url: &str) -> Cdp {
        let rest = url.strip_prefix("ws://").unwrap_or_else(|| panic!("unexpected DevTools URL {url}"));
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let stream = TcpStream::connect(host).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        stream.set_nodelay(true).unwrap();
        let mut stream = BufReader::new(stream);
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.get_mut().write_all(request.as_bytes()).await.unwrap();
        let mut status = String::new();
        stream.read_line(&mut status).await.unwrap();
        assert!(status.starts_with("HTTP/1.1 101"), "DevTools WebSocket upgrade refused: {status}");
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Cdp { stream, next_id: 1 }
    }

    /// One command; its `result`. Events and other answers in between are skipped.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params).await.unwrap_or_else(|error| panic!("{method} failed: {error}"))
    }

    /// One command; its `result`, or the protocol's `error`.
    async fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let exchange = async {
            self.send(0x1, message.to_string().as_bytes()).await;
            loop {
                let text = self.receive().await;
                let answer: Value = serde_json::from_str(&text).expect("DevTools sends JSON");
                if answer["id"] == id {
                    return answer;
                }
            }
        };
        let mut answer = tokio::time::timeout(DEADLINE, exchange)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} within {DEADLINE:?}"));
        match answer.get_mut("error") {
            Some(error) => Err(error.take()),
            None => Ok(answer["result"].take()),
        }
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = rand::random();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.get_mut().write_all(&frame).await.expect("writing to DevTools");
    }

    /// The next complete text message (answering pings on the way).
    async fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await.expect("reading from DevTools");
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let len = match head[1] & 0x7f {
                126 => self.stream.read_u16().await.unwrap() as usize,
                127 => self.stream.read_u64().await.unwrap() as usize,
                n => n as usize,
            };
            let mask = if head[1] & 0x80 != 0 {
                let mut mask = [0u8; 4];
                self.stream.read_exact(&mut mask).await.unwrap();
                Some(mask)
            } else {
                None
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).await.expect("reading from DevTools");
            if let Some(mask) = mask {
                payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
            }
            match opcode {
                0x0..=0x2 => message.extend_from_slice(&payload),
                0x8 => panic!("DevTools closed the WebSocket"),
                0x9 => {
                    self.send(0xA, &payload).await;
                    continue;
                }
                _ => continue,
            }
            if fin {
                return String::from_utf8(message).expect("DevTools sends UTF-8");
            }
        }
    }
}
