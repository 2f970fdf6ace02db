//! The supervision tree against the simulated gateway, real `ibapi` over TCP, with short
//! millisecond settings: every kind of dead connection found, recovery without storms.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ibkr_supervisor::actors::gateway::{Drill, GatewayMessage};
use ibkr_supervisor::actors::MarketEvent;
use ibkr_supervisor::actors::{ConnectionState, EventKind, Outcome, StartOptions, Supervision};
use ibkr_supervisor::sim::{Fault, SimOptions, Simulator};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

async fn fast_gateways() -> Simulator {
    two_gateways_with(SimOptions { tick_interval: Duration::from_millis(10), ..SimOptions::default() }).await
}

/// A tree connected to both gateways; the events recorded start after that.
async fn start(sim: &Simulator, overrides: serde_json::Value) -> (Supervision, Events) {
    let supervision = Supervision::start(settings_for(&sim.addrs(), overrides), StartOptions::default()).await.unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    wait_state(&supervision, "Live", "connected", WAIT).await;
    let events = Events::record(supervision.events()).await;
    (supervision, events)
}

async fn wait_state(supervision: &Supervision, account: &str, state: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let found =
        supervision.board().wait_for(within, |b| b.account(account).is_some_and(|a| a.state.name() == state)).await;
    if let Err(board) = found {
        panic!("{account} not {state} within {within:?}: {:?}", board.account(account).map(|a| &a.state));
    }
    started.elapsed()
}

fn state_of(supervision: &Supervision, account: &str) -> ConnectionState {
    supervision.board().account(account).unwrap().state
}

#[tokio::test]
async fn drop_and_reset_are_noticed_without_waiting_for_a_heartbeat() {
    let sim = fast_gateways().await;
    // A heartbeat interval far longer than the test: only the event path can notice.
    let (supervision, events) = start(&sim, json!({ "heartbeat": { "interval": "1h" } })).await;
    wait_state(&supervision, "Live", "connected", WAIT).await;

    for fault in [Fault::Drop, Fault::Reset] {
        sim.inject(fault.clone(), Some(sim.port(0))).unwrap();
        let noticed = wait_state(&supervision, "Paper", "disconnected", Duration::from_secs(1)).await;
        assert!(noticed < Duration::from_millis(500), "{fault:?} noticed after {noticed:?}");
        assert!(state_of(&supervision, "Live").is_usable(), "the other account is untouched");
        wait_state(&supervision, "Paper", "connected", WAIT).await;
    }
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. })), 2);
    assert_eq!(events.count("Live", |k| matches!(k, EventKind::Lost { .. })), 0);
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_hang_is_found_by_the_probe_within_interval_plus_timeout_and_recovers() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(
        &sim,
        json!({ "heartbeat": { "interval": "150ms", "probe_timeout": "100ms", "connect_timeout": "200ms" },
                "reconnect": { "schedule": ["100ms"] } }),
    )
    .await;
    sim.inject(Fault::Hang, Some(sim.port(0))).unwrap();
    let found = wait_state(&supervision, "Paper", "disconnected", Duration::from_secs(2)).await;
    assert!(found <= Duration::from_millis(150 + 100 + 150), "half-open socket found after {found:?}");
    assert!(events.count("Paper", |k| matches!(k, EventKind::ProbeFailed { .. })) >= 1);
    // While hung, attempts time out (stalled handshake) and back off; then the hang clears.
    eventually(WAIT, "an attempt timed out against the hung gateway", || async {
        events.count(
            "Paper",
            |k| matches!(k, EventKind::AttemptFailed { error, .. } if error.contains("connect timeout")),
        ) >= 1
    })
    .await;
    assert!(!state_of(&supervision, "Paper").is_usable());
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn no_false_alarm_under_latency_below_the_probe_timeout() {
    let sim = fast_gateways().await;
    let (supervision, events) =
        start(&sim, json!({ "heartbeat": { "interval": "20ms", "probe_timeout": "500ms", "connect_timeout": "2s" } }))
            .await;
    sim.inject(Fault::Latency { latency_ms: 200 }, Some(sim.port(0))).unwrap();
    // 100 probes in a row, each answered after ~200 ms.
    let probes = Arc::new(AtomicUsize::new(0));
    let gateway = supervision.gateway("Paper").unwrap();
    for _ in 0..100 {
        let rtt = gateway.call(GatewayMessage::ProbeNow, Some(Duration::from_secs(2))).await.unwrap();
        let rtt = match rtt {
            ractor::rpc::CallResult::Success(Ok(rtt)) => rtt,
            other => panic!("probe failed under latency: {other:?}"),
        };
        assert!(rtt >= Duration::from_millis(190), "latency applied: {rtt:?}");
        probes.fetch_add(1, Ordering::Relaxed);
        assert!(state_of(&supervision, "Paper").is_usable());
    }
    assert_eq!(probes.load(Ordering::Relaxed), 100);
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::ProbeFailed { .. })), 0);
    let rtt = supervision.board().account("Paper").unwrap().probe_rtt_ms.unwrap();
    assert!(rtt >= 190.0, "RTT recorded: {rtt}");
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_stalled_handshake_times_out_and_backoff_continues() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(
        &sim,
        json!({ "heartbeat": { "connect_timeout": "150ms" }, "reconnect": { "schedule": ["100ms", "200ms"] } }),
    )
    .await;
    sim.inject(Fault::StallHandshake, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    eventually(WAIT, "three attempts timed out", || async {
        events.count(
            "Paper",
            |k| matches!(k, EventKind::AttemptFailed { error, .. } if error.contains("connect timeout")),
        ) >= 3
    })
    .await;
    let attempts = events.attempts("Paper");
    for pair in attempts.windows(2) {
        let gap = (pair[1].0 - pair[0].0).to_std().unwrap();
        assert!(gap >= Duration::from_millis(150 + 100), "timeout then backoff between attempts: {gap:?}");
    }
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn refused_attempts_follow_the_schedule_then_reconnect_and_reset() {
    let sim = fast_gateways().await;
    let schedule_ms = [100u64, 200, 300];
    let (supervision, events) =
        start(&sim, json!({ "reconnect": { "schedule": ["100ms", "200ms", "300ms"], "jitter": 0.1 } })).await;
    sim.inject(Fault::Refuse { duration_ms: Some(1300) }, Some(sim.port(0))).unwrap();
    let lost_at = chrono::Utc::now();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    wait_state(&supervision, "Paper", "connected", WAIT).await;

    let attempts = events.attempts("Paper");
    assert!(attempts.len() >= 4, "several refused attempts then a success: {attempts:?}");
    let mut previous = lost_at;
    for (i, (at, number, _)) in attempts.iter().enumerate() {
        assert_eq!(*number as usize, i + 1, "attempts numbered in order");
        let step = schedule_ms[i.min(2)] as f64;
        // A refused connect fails in ~1 ms, so the gap is the scheduled delay ± 10 %.
        let gap = (*at - previous).num_microseconds().unwrap() as f64 / 1000.0;
        assert!(
            gap >= step * 0.9 - 5.0 && gap <= step * 1.1 + 60.0,
            "attempt {} after {gap} ms, scheduled {step} ms",
            i + 1
        );
        previous = *at;
    }
    // After success the schedule starts again at its first step.
    sim.inject(Fault::Refuse { duration_ms: Some(250) }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    let before = events.attempts("Paper").len();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    let after = events.attempts("Paper");
    assert_eq!(after[before].1, 1, "attempt numbering restarted after the success");
    assert_eq!(supervision.board().account("Paper").unwrap().reconnect_attempts, 0);
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_held_client_id_moves_to_the_fallbacks_without_a_tight_loop() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(&sim, json!({ "reconnect": { "schedule": ["200ms"] } })).await;
    sim.inject(Fault::HoldClientId { duration_ms: 60_000 }, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    let attempts = events.attempts("Paper");
    let ids: Vec<i32> = attempts.iter().map(|a| a.2).collect();
    assert_eq!(ids, [1, 11], "primary id refused with 326, first fallback admitted");
    assert_eq!(supervision.board().account("Paper").unwrap().client_id, 11);

    // Every id in use (1 and 11 held after the drop, 21 taken by another client): after each
    // round the schedule applies; no tight loop.
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    let (_squatter, _notices) = connect(sim.addr(0), 21).await;
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    let start_count = events.attempts("Paper").len();
    eventually(WAIT, "four rounds of attempts", || async { events.attempts("Paper").len() >= start_count + 12 }).await;
    // Three ids per round, then the 200 ms step: any four attempts in a row span a step.
    let round = events.attempts("Paper")[start_count..].to_vec();
    for window in round.windows(4) {
        let span = (window[3].0 - window[0].0).to_std().unwrap();
        assert!(span >= Duration::from_millis(180), "4 attempts within {span:?}: a storm");
    }
    supervision.shutdown().await;
}

#[tokio::test]
async fn upstream_loss_degrades_and_1101_re_requests_market_data_but_1102_does_not() {
    let sim = fast_gateways().await;
    let (supervision, _events) = start(&sim, json!({})).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: ibkr_supervisor::actors::TickReceiver =
        Arc::new(move |tick: ibkr_supervisor::actors::Tick| tx.send(tick.event).is_ok());
    let contract = ibapi::contracts::Contract::stock("AAPL").build();
    supervision.guard().subscribe_market_data("Paper", contract, sink).await.unwrap();
    let first = tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    assert!(matches!(first, MarketEvent::Price { price, .. } if price > 0.0));
    let requests = || sim.state().listeners[0].market_data_requests;
    assert_eq!(requests(), 1);

    sim.inject(Fault::UpstreamLost { message: None }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "degraded", WAIT).await;
    assert!(supervision.board().account("Paper").unwrap().error_message.unwrap().contains("1100"));
    sim.inject(Fault::UpstreamRestored { data_lost: false }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    assert_eq!(requests(), 1, "1102: data maintained, nothing re-requested");

    sim.inject(Fault::UpstreamLost { message: None }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "degraded", WAIT).await;
    sim.inject(Fault::UpstreamRestored { data_lost: true }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    eventually(WAIT, "1101: market data re-requested", || async { requests() == 2 }).await;
    // The engine is told about the gap, then ticks flow again.
    let mut saw_gap = false;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = rx.recv().await {
            match event {
                MarketEvent::Gap { reason, .. } => saw_gap |= reason.contains("1101"),
                MarketEvent::Price { .. } if saw_gap => return,
                MarketEvent::Price { .. } => {}
            }
        }
    })
    .await
    .expect("gap notice then ticks");
    assert_eq!(sim.state().listeners[0].market_data_subscriptions, 1);
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_panicking_gateway_is_restarted_and_reconnects() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(&sim, json!({})).await;
    let before = supervision.gateway("Paper").unwrap();
    before.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
    eventually(WAIT, "a new gateway actor", || async {
        supervision.gateway("Paper").is_some_and(|g| g.get_id() != before.get_id())
    })
    .await;
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::ActorRestarted { restarts: 1, .. })), 1);
    let tree = supervision.tree().await;
    let paper = tree.iter().find(|c| c.name == "gateway:Paper").unwrap();
    assert_eq!(paper.restarts, 1);
    eventually(WAIT, "the old session was closed at the gateway", || async { sim.clients().len() == 2 }).await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_stuck_gateway_is_detected_and_restarted() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(
        &sim,
        json!({ "heartbeat": { "interval": "100ms", "probe_timeout": "100ms" }, "supervisor": { "stuck_margin": "100ms" } }),
    )
    .await;
    let before = supervision.gateway("Paper").unwrap();
    before.send_message(GatewayMessage::Drill(Drill::Freeze(Duration::from_secs(30)))).unwrap();
    eventually(WAIT, "the stuck gateway was replaced", || async {
        supervision.gateway("Paper").is_some_and(|g| g.get_id() != before.get_id())
    })
    .await;
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    let restarts = events.of("Paper");
    assert!(restarts
        .iter()
        .any(|e| matches!(&e.kind, EventKind::ActorRestarted { reason, .. } if reason.contains("stuck"))));
    supervision.shutdown().await;
}

#[tokio::test]
async fn past_the_restart_limit_the_supervisor_melts_down() {
    let sim = fast_gateways().await;
    let (mut supervision, events) =
        start(&sim, json!({ "supervisor": { "max_restarts": 2, "restart_window": "60s" } })).await;
    for round in 0..3 {
        let gateway = supervision.gateway("Paper").unwrap();
        gateway.send_message(GatewayMessage::Drill(Drill::Panic)).unwrap();
        if round < 2 {
            eventually(WAIT, "restarted", || async {
                supervision.gateway("Paper").is_some_and(|g| g.get_id() != gateway.get_id())
            })
            .await;
        }
    }
    let outcome = tokio::time::timeout(WAIT, supervision.wait()).await.expect("the tree stops");
    let Outcome::Meltdown(meltdown) = outcome.clone() else { panic!("expected a meltdown, got {outcome:?}") };
    assert_eq!(meltdown.actor, "gateway:Paper");
    assert!(supervision.board().snapshot().meltdown.is_some(), "every guard reads this and closes");
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Meltdown { .. })), 1);
    assert_ne!(
        ibkr_supervisor::exit_code(&outcome),
        std::process::ExitCode::SUCCESS,
        "the process exits non-zero so the service manager restarts it"
    );
    eventually(WAIT, "every client disconnected", || async { sim.clients().is_empty() }).await;
}

#[tokio::test]
async fn no_auto_reconnect_tracks_status_but_only_manual_requests_connect() {
    let sim = fast_gateways().await;
    let supervision = Supervision::start(
        settings_for(&sim.addrs(), json!({ "reconnect": { "auto": false, "manual_min_interval": "300ms" } })),
        StartOptions::default(),
    )
    .await
    .unwrap();
    let events = Events::record(supervision.events()).await;
    let attempted =
        supervision.board().wait_for(Duration::from_millis(200), |b| b.accounts[0].reconnect_attempts > 0).await;
    assert!(attempted.is_err(), "no automatic attempt");
    assert!(events.attempts("Paper").is_empty());
    assert_eq!(state_of(&supervision, "Paper").name(), "disconnected");
    supervision.connect_now("Paper").await.unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    assert!(matches!(
        supervision.connect_now("Paper").await,
        Err(ibkr_supervisor::actors::reconnect::ConnectNowError::AlreadyConnected)
    ));
    assert!(matches!(
        supervision.connect_now("Nope").await,
        Err(ibkr_supervisor::actors::reconnect::ConnectNowError::UnknownAccount { .. })
    ));
    supervision.connect_now("Live").await.unwrap();
    sim.inject(Fault::Refuse { duration_ms: None }, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    // Accepted once the 300 ms since the previous manual attempt have passed.
    eventually(WAIT, "a manual attempt accepted", || async { supervision.connect_now("Paper").await.is_ok() }).await;
    assert!(
        matches!(
            supervision.connect_now("Paper").await,
            Err(ibkr_supervisor::actors::reconnect::ConnectNowError::RateLimited { .. }
                | ibkr_supervisor::actors::reconnect::ConnectNowError::AttemptInFlight)
        ),
        "manual attempts are rate-limited"
    );
    supervision.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_ordered_and_fast_even_with_a_hung_gateway() {
    let sim = fast_gateways().await;
    let (supervision, _events) = start(&sim, json!({ "heartbeat": { "interval": "50ms" } })).await;
    wait_state(&supervision, "Live", "connected", WAIT).await;
    sim.inject(Fault::Hang, Some(sim.port(1))).unwrap();
    let started = Instant::now();
    assert_eq!(supervision.shutdown().await, Outcome::Shutdown);
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    eventually(WAIT, "the paper session is closed", || async { sim.clients().iter().all(|c| c.port != sim.port(0)) })
        .await;
}

/// 23:44:59.600 in New York (EDT, UTC−4) on 2026-06-01: the nightly window opens 400 ms in.
fn just_before_the_nightly_reset() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-06-02T03:44:59.600Z").unwrap().with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn an_outage_inside_the_reset_window_waits_for_its_end_then_reconnects_at_once() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    let sim = fast_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "800ms",
                "reconnect": { "schedule": ["50ms"] } }),
    );
    let clock = Arc::new(OffsetClock::starting_at(just_before_the_nightly_reset()));
    let window_start =
        chrono::DateTime::parse_from_rfc3339("2026-06-02T03:45:00Z").unwrap().with_timezone(&chrono::Utc);
    let window_end = window_start + chrono::Duration::milliseconds(800);
    let supervision =
        Supervision::start(settings, StartOptions { clock: clock.clone(), ..StartOptions::default() }).await.unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    let events = Events::record(supervision.events()).await;

    // The window opens: scheduled reset, not an alarm; the guard (usable) is closed.
    wait_state(&supervision, "Paper", "reset_window", Duration::from_secs(2)).await;
    let paper = supervision.board().account("Paper").unwrap();
    assert!(matches!(paper.state, ConnectionState::ResetWindow { until, link: Some(_), .. } if until == window_end));
    assert!(!paper.connected());

    // IB restarts the gateway inside the window: no reconnect attempt until the window ends,
    // although the schedule (50 ms) would have made a dozen.
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    eventually(WAIT, "the loss is recorded", || async {
        events.count("Paper", |k| matches!(k, EventKind::Lost { .. })) == 1
    })
    .await;
    assert!(matches!(
        supervision.board().account("Paper").unwrap().state,
        ConnectionState::ResetWindow { link: None, .. }
    ));
    assert!(
        events.count("Paper", |k| matches!(k, EventKind::AttemptSuppressed { until } if *until == window_end)) >= 1
    );

    wait_state(&supervision, "Paper", "connected", Duration::from_secs(3)).await;
    let attempts = events.attempts("Paper");
    assert!(!attempts.is_empty());
    let first = attempts[0].0;
    assert!(first >= window_end, "no attempt inside the window: first at {first}, window ends {window_end}");
    let late = (first - window_end).to_std().unwrap();
    assert!(late < Duration::from_millis(100), "an attempt at once when the window ends, not {late:?} later");
    assert_eq!(attempts.len(), 1, "one attempt was enough");
    // Live never lost its socket: it is simply usable again after the window.
    assert!(supervision.board().account("Live").unwrap().connected());
    supervision.shutdown().await;
}

#[tokio::test]
async fn starting_inside_a_reset_window_makes_no_attempt_until_it_ends() {
    use ibkr_supervisor::actors::clock::OffsetClock;
    let sim = fast_gateways().await;
    let settings = settings_for(
        &sim.addrs(),
        json!({ "reset_time": "23:45", "timezone": "America/New_York", "reset_duration": "1s" }),
    );
    // 23:45:00.500 New York: half a second into the window.
    let inside = chrono::DateTime::parse_from_rfc3339("2026-06-02T03:45:00.500Z").unwrap().with_timezone(&chrono::Utc);
    let supervision = Supervision::start(
        settings,
        StartOptions { clock: Arc::new(OffsetClock::starting_at(inside)), ..StartOptions::default() },
    )
    .await
    .unwrap();
    let started = Instant::now();
    wait_state(&supervision, "Paper", "reset_window", WAIT).await;
    assert!(sim.clients().is_empty(), "no connection attempt inside the window");
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "connected only after the window: {:?}",
        started.elapsed()
    );
    supervision.shutdown().await;
}

/// The watchdog's counters, from `/actors`.
async fn watchdog_view(supervision: &Supervision) -> serde_json::Value {
    let actors = supervision.actors().await;
    actors.into_iter().find(|a| a.info.name == "watchdog").expect("the watchdog in the tree").snapshot
}

#[tokio::test]
async fn a_stuck_guard_and_a_stuck_reconnect_actor_are_restarted_and_systemd_pings_stop_meanwhile() {
    use ibkr_supervisor::actors::guard::GuardMessage;
    use ibkr_supervisor::actors::reconnect::ReconnectMessage;
    let sim = fast_gateways().await;
    let pings = Arc::new(AtomicUsize::new(0));
    let on_heartbeat = {
        let pings = Arc::clone(&pings);
        Arc::new(move || {
            pings.fetch_add(1, Ordering::SeqCst);
        })
    };
    // 100 ms rounds; an actor has 1 s to answer, so about ten rounds start while one is stuck.
    let settings = settings_for(
        &sim.addrs(),
        json!({ "heartbeat": { "interval": "100ms", "probe_timeout": "100ms" }, "supervisor": { "stuck_margin": "900ms" } }),
    );
    let options = StartOptions { on_heartbeat: Some(on_heartbeat), ..StartOptions::default() };
    let supervision = Supervision::start(settings, options).await.unwrap();
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    wait_state(&supervision, "Live", "connected", WAIT).await;
    let events = Events::record(supervision.events()).await;
    eventually(WAIT, "healthy rounds ping systemd", || async { pings.load(Ordering::SeqCst) >= 3 }).await;

    let directory = supervision.directory().clone();
    for actor in ["guard", "reconnect"] {
        let id = || match actor {
            "guard" => directory.guard().map(|g| g.get_id()),
            _ => directory.reconnect().map(|r| r.get_id()),
        };
        let before = id().expect("the actor is running");
        let withheld_before = watchdog_view(&supervision).await["withheld_rounds"].as_u64().unwrap();
        let pinged_before = pings.load(Ordering::SeqCst);
        let freeze = Drill::Freeze(Duration::from_secs(3600));
        match actor {
            "guard" => directory.guard().unwrap().send_message(GuardMessage::Drill(freeze)).unwrap(),
            _ => directory.reconnect().unwrap().send_message(ReconnectMessage::Drill(freeze)).unwrap(),
        }
        eventually(WAIT, &format!("the stuck {actor} was replaced"), || async {
            id().is_some_and(|now| now != before)
        })
        .await;
        let pinged_while_stuck = pings.load(Ordering::SeqCst) - pinged_before;
        // At most the round that had its answers before the freeze, and one the replacement
        // answered before this line ran: not the ten that started while it was stuck.
        assert!(pinged_while_stuck <= 3, "{pinged_while_stuck} WATCHDOG=1 pings while the {actor} was stuck");
        let view = watchdog_view(&supervision).await;
        assert!(view["withheld_rounds"].as_u64().unwrap() > withheld_before, "{view}");
        let unanswered: Vec<&str> =
            view["last_unanswered"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        assert!(unanswered.contains(&actor), "the withheld round names the {actor}: {view}");
        assert!(
            events.of("*").iter().any(|e| matches!(&e.kind,
                EventKind::ActorRestarted { actor: a, reason, .. } if a == actor && reason.contains("stuck"))),
            "an ActorRestarted event for the {actor}"
        );
        let pinged = pings.load(Ordering::SeqCst);
        eventually(WAIT, "pings resume once every actor answers", || async {
            pings.load(Ordering::SeqCst) >= pinged + 2
        })
        .await;
    }
    // The restarted guard gates as before, from the published state.
    assert_eq!(supervision.guard().refusal("Paper"), None, "a connected account passes orders");
    let tree = supervision.tree().await;
    for actor in ["guard", "reconnect"] {
        assert_eq!(tree.iter().find(|c| c.name == actor).unwrap().restarts, 1, "{actor} restarted once");
    }
    // The restarted reconnect actor still recovers a loss.
    sim.inject(Fault::Drop, Some(sim.port(0))).unwrap();
    wait_state(&supervision, "Paper", "disconnected", WAIT).await;
    wait_state(&supervision, "Paper", "connected", WAIT).await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_pacing_notice_answering_the_probe_is_a_sign_of_life_not_an_outage() {
    let sim = fast_gateways().await;
    let (supervision, events) = start(&sim, json!({ "heartbeat": { "interval": "1h", "probe_timeout": "5s" } })).await;
    let gateway = supervision.gateway("Paper").unwrap();
    // The gateway stops reading: the probe's reqCurrentTime waits at the socket.
    sim.inject(Fault::Hang, Some(sim.port(0))).unwrap();
    let probe = tokio::spawn({
        let gateway = gateway.clone();
        async move { gateway.call(GatewayMessage::ProbeNow, Some(Duration::from_secs(6))).await }
    });
    eventually(WAIT, "the probe is in flight", || async {
        let snapshot = gateway.call(GatewayMessage::Snapshot, Some(Duration::from_secs(1))).await;
        matches!(snapshot, Ok(ractor::rpc::CallResult::Success(s)) if s.probe_in_flight)
    })
    .await;
    // IB's 100 comes first (with no request id, as a pending one-shot's answer), then the time.
    sim.inject(Fault::PacingViolation, Some(sim.port(0))).unwrap();
    sim.inject(Fault::Clear, Some(sim.port(0))).unwrap();
    let answer = probe.await.unwrap();
    assert!(matches!(answer, Ok(ractor::rpc::CallResult::Success(Ok(_)))), "{answer:?}");
    assert!(state_of(&supervision, "Paper").is_usable(), "{:?}", state_of(&supervision, "Paper"));
    assert_eq!(events.count("Paper", |k| matches!(k, EventKind::Lost { .. } | EventKind::ProbeFailed { .. })), 0);
    supervision.shutdown().await;
}
