//! The IBC escalation ladder end to end: the real supervision tree against the simulated
//! gateway and its IBC command-server emulation (or a stand-in IBC that answers but mends
//! nothing), one test per rung — a broken farm gets `RECONNECTDATA`, a lasting 1100
//! `RECONNECTACCOUNT`, a dead API `RESTART` and then the `restart_command` (killed at its
//! timeout when it hangs) — plus nothing inside a reset window, the rate limit, an actor
//! restart mid-ladder that does not fire again, and what the operator sees (event, alert,
//! `/status`, `/metrics`, dashboard).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::webhook::Receiver;
use common::*;
use ibkr_supervisor::actors::clock::OffsetClock;
use ibkr_supervisor::actors::escalation::{EscalationMessage, IdleReason, Outcome, Problem, Rung, Step, WaitReason};
use ibkr_supervisor::actors::farms::DataPlane;
use ibkr_supervisor::actors::ibc::Command;
use ibkr_supervisor::actors::{Drill, EventKind, StartOptions, StatusBoard, StatusEvent, Supervision};
use ibkr_supervisor::settings::Settings;
use ibkr_supervisor::sim::{Fault, SimConfig, SimOptions, Simulator};
use ibkr_supervisor::{RunOptions, Service};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(10);

/// A simulator with one gateway and its IBC command server; a RESTART takes 300 ms.
async fn sim_with_ibc() -> Simulator {
    Simulator::start(SimConfig::default().loopback(ACCOUNT).ibc(([127, 0, 0, 1], 0)).options(SimOptions {
        ibc_restart: Duration::from_millis(300),
        seed: Some(7),
        ..SimOptions::default()
    }))
    .await
    .expect("simulator starts")
}

/// Settings for account "Paper" on the simulator's gateway, with IBC at `ibc` (if any), short
/// thresholds, and `overrides` merged over them.
fn settings(sim: &Simulator, ibc: Option<SocketAddr>, overrides: Value) -> Settings {
    let addr = sim.addr(0);
    let mut account = json!({
        "name": "Paper", "paper_trading": true, "host": addr.ip().to_string(), "port": addr.port(),
        "client_id": 1, "fallback_client_ids": [11, 21],
    });
    if let Some(ibc) = ibc {
        account["ibc"] = json!({ "host": ibc.ip().to_string(), "port": ibc.port() });
    }
    let mut base = json!({
        "accounts": [account],
        "escalation": {
            "reconnect_data_after": "300ms", "reconnect_account_after": "300ms", "restart_after": "300ms",
            "restart_command_after": "600ms", "min_interval": "1h",
        },
    });
    merge(&mut base, overrides);
    // Our `accounts` list (with `ibc`) replaces the one settings_for writes.
    settings_for(&[addr], base)
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// The commands the simulator's IBC received.
fn ibc_commands(sim: &Simulator) -> Vec<Option<Command>> {
    sim.state().listeners[0]
        .ibc
        .clone()
        .map(|i| i.commands.into_iter().map(|c| c.command).collect())
        .unwrap_or_default()
}

/// Every escalation event: (rung, problem, outcome).
fn escalations(events: &Events) -> Vec<(Rung, Problem, Option<Outcome>)> {
    events
        .all()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Escalation { rung, problem, outcome, .. } => Some((rung, problem, outcome)),
            _ => None,
        })
        .collect()
}

async fn connected_with_farms(board: &StatusBoard) {
    board
        .wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected() && a.farms.farms.len() == 3))
        .await
        .unwrap_or_else(|b| panic!("not connected with farms: {:?}", b.accounts));
}

async fn connected(board: &StatusBoard, what: &str) {
    board
        .wait_for(WAIT, |b| b.accounts.iter().all(|a| a.connected()))
        .await
        .unwrap_or_else(|b| panic!("{what}: not connected again: {:?}", b.accounts[0].state));
}

#[tokio::test]
async fn a_broken_market_data_farm_gets_reconnectdata_and_comes_back() {
    let sim = sim_with_ibc().await;
    let supervision =
        Supervision::start(settings(&sim, sim.ibc_addr(0), json!({})), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, None).unwrap();
    eventually(WAIT, "RECONNECTDATA at the sim's IBC", || async {
        ibc_commands(&sim).contains(&Some(Command::ReconnectData))
    })
    .await;
    // IBC's answer mends the farm: 2104, the data plane whole again.
    supervision
        .board()
        .wait_for(WAIT, |b| b.accounts[0].farms.data_plane == DataPlane::Ok)
        .await
        .unwrap_or_else(|b| panic!("farm not back: {:?}", b.accounts[0].farms));
    eventually(WAIT, "the outcome event", || async { escalations(&events).len() == 2 }).await;
    assert_eq!(
        escalations(&events),
        [
            (Rung::ReconnectData, Problem::DataBroken, None),
            (Rung::ReconnectData, Problem::DataBroken, Some(Outcome::Accepted { detail: String::new() }))
        ]
    );
    // Healthy again: the episode is over and nothing else was sent.
    eventually(WAIT, "the ladder idle", || async {
        supervision.escalation().view("Paper").unwrap().next == Some(Step::Idle { reason: IdleReason::Healthy })
    })
    .await;
    assert_eq!(ibc_commands(&sim), [Some(Command::ReconnectData)]);
    assert!(supervision.board().account("Paper").unwrap().connected(), "a data problem never touched the link");
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_lasting_upstream_loss_gets_reconnectaccount_and_1102_connects_again() {
    let sim = sim_with_ibc().await;
    let supervision =
        Supervision::start(settings(&sim, sim.ibc_addr(0), json!({})), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    sim.inject(Fault::UpstreamLost { message: None }, None).unwrap();
    supervision
        .board()
        .wait_for(WAIT, |b| b.accounts[0].state.name() == "degraded")
        .await
        .unwrap_or_else(|b| panic!("not degraded: {:?}", b.accounts[0].state));
    eventually(WAIT, "RECONNECTACCOUNT at the sim's IBC", || async {
        ibc_commands(&sim).contains(&Some(Command::ReconnectAccount))
    })
    .await;
    connected(supervision.board(), "after 1102").await;
    eventually(WAIT, "the outcome event", || async { escalations(&events).len() == 2 }).await;
    assert_eq!(escalations(&events)[0], (Rung::ReconnectAccount, Problem::UpstreamLost, None));
    assert!(escalations(&events)[1].2.as_ref().is_some_and(Outcome::succeeded), "{:?}", escalations(&events));
    assert_eq!(ibc_commands(&sim), [Some(Command::ReconnectAccount)], "no RESTART for a mended upstream");
    supervision.shutdown().await;
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let (code, body) = http(addr, "GET", path, None).await;
    assert_eq!(code, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn a_dead_api_gets_restart_the_gateway_restarts_and_it_is_recorded_alerted_and_shown() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = sim_with_ibc().await;
    let overrides = json!({ "http": { "bind": "127.0.0.1:0" }, "alerts": { "webhook_url": url, "retry": ["50ms"] } });
    let service = Service::start(settings(&sim, sim.ibc_addr(0), overrides), RunOptions::default()).await.unwrap();
    let (handle, addr) = (service.handle(), service.http_addr());
    connected_with_farms(handle.board()).await;
    let events = Events::record(handle.events()).await;

    // The gateway's API wedges: the session drops, every new one stalls in the handshake.
    sim.inject(Fault::StallHandshake, None).unwrap();
    sim.inject(Fault::Drop, None).unwrap();
    eventually(WAIT, "RESTART at the sim's IBC", || async { ibc_commands(&sim).contains(&Some(Command::Restart)) })
        .await;
    // The restarted gateway listens again with a working API: the account reconnects.
    connected(handle.board(), "after RESTART").await;
    eventually(WAIT, "the outcome event", || async { escalations(&events).len() == 2 }).await;
    let fired =
        events.all().into_iter().find(|e| matches!(e.kind, EventKind::Escalation { outcome: None, .. })).unwrap();
    let EventKind::Escalation { rung, problem, command, since, fired_at, .. } = &fired.kind else { unreachable!() };
    assert_eq!((*rung, *problem, command.as_str()), (Rung::Restart, Problem::ApiDead, "RESTART"));
    assert!(*fired_at - *since >= chrono::TimeDelta::milliseconds(300), "not before restart_after");
    let Some(Outcome::Accepted { detail }) = &escalations(&events)[1].2 else { panic!("{:?}", escalations(&events)) };
    assert!(detail.starts_with("RESTART at "), "the Gateway's second line: {detail}");
    assert!(!ibc_commands(&sim).contains(&Some(Command::Stop)), "never STOP");

    // Alerted, with what was done and why.
    eventually(WAIT, "the escalation alert", || async {
        receiver
            .texts()
            .iter()
            .any(|t| t.contains("IB Gateway for Paper: sent RESTART through IBC after the API was dead"))
    })
    .await;
    // /status per account shows the ladder, /metrics counts it, the dashboard says it.
    let status: Value = serde_json::from_str(&get(addr, "/status").await).unwrap();
    let ladder = &status["accounts"][0]["escalation"];
    assert_eq!((ladder["ibc"].as_bool(), ladder["restart_command"].as_bool()), (Some(true), Some(false)), "{ladder}");
    assert_eq!(ladder["last_fired"][0][0], "restart", "{ladder}");
    assert_eq!(ladder["last"]["rung"], "restart", "{ladder}");
    assert_eq!(ladder["last"]["outcome"]["result"], "accepted", "{ladder}");
    assert_eq!(ladder["fired_total"]["restart"], 1, "{ladder}");
    assert_eq!(ladder["next"]["step"], "idle", "{ladder}");
    let metrics = get(addr, "/metrics").await;
    assert!(metrics.contains("ibkr_escalations_total{account=\"Paper\",rung=\"restart\"} 1"), "{metrics}");
    assert!(metrics.contains("ibkr_escalations_total{account=\"Paper\",rung=\"reconnect_data\"} 0"), "{metrics}");
    let page = get(addr, "/trades/status").await;
    assert!(page.contains("<strong>IBC escalation</strong>: sent RESTART through IBC at "), "{page}");
    assert!(page.contains("acknowledged by IBC: RESTART at "), "{page}");
    // The event history keeps both events.
    eventually(WAIT, "the events stored", || async {
        let body = get(addr, "/events?account=Paper").await;
        body.matches("\"escalation\"").count() >= 2
    })
    .await;
    service.shutdown().await;
}

/// A stand-in IBC command server that answers every command as the Gateway does but mends
/// nothing: the lines it received.
async fn deaf_ibc() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if BufReader::new(read).read_line(&mut line).await.is_ok() {
                    seen.lock().unwrap().push(line.trim().to_owned());
                    let _ = write.write_all(b"OK RESTART in progress\nOK RESTART at 09:31 AM\n").await;
                }
            });
        }
    });
    (addr, lines)
}

fn marker_file() -> std::path::PathBuf {
    let db = scratch_database();
    std::path::Path::new(&db).with_file_name("restarted")
}

#[tokio::test]
async fn when_restart_does_not_mend_it_the_restart_command_runs_with_the_account_named() {
    let sim = sim_with_ibc().await;
    let (ibc, received) = deaf_ibc().await;
    let marker = marker_file();
    let script = format!("echo \"$IBKR_ACCOUNT $IBKR_PORT\" >> '{}'", marker.display());
    let overrides = json!({ "escalation": { "restart_command": ["sh", "-c", script] } });
    let supervision = Supervision::start(settings(&sim, Some(ibc), overrides), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    sim.inject(Fault::StallHandshake, None).unwrap();
    sim.inject(Fault::Drop, None).unwrap();
    eventually(WAIT, "the restart command's marker", || async { marker.exists() }).await;
    let written = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(written, format!("Paper {}\n", sim.port(0)));
    assert_eq!(*received.lock().unwrap(), ["RESTART"], "RESTART first, through IBC");
    eventually(WAIT, "the command's outcome", || async {
        escalations(&events).iter().any(|(rung, _, outcome)| *rung == Rung::RestartCommand && outcome.is_some())
    })
    .await;
    let fired: Vec<_> = escalations(&events).into_iter().filter(|(_, _, outcome)| outcome.is_none()).collect();
    assert_eq!(fired, [(Rung::Restart, Problem::ApiDead, None), (Rung::RestartCommand, Problem::ApiDead, None)]);
    let done = escalations(&events).into_iter().find(|(rung, _, o)| *rung == Rung::RestartCommand && o.is_some());
    assert_eq!(done.unwrap().2, Some(Outcome::Exited { code: Some(0), success: true, stderr: String::new() }));
    // Every rung fired: the ladder waits for a human, and sends nothing more.
    eventually(WAIT, "the ladder exhausted", || async {
        supervision.escalation().view("Paper").unwrap().next == Some(Step::Idle { reason: IdleReason::Exhausted })
    })
    .await;
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);
    sim.inject(Fault::Clear, None).unwrap();
    connected(supervision.board(), "after clear").await;
    supervision.shutdown().await;
}

#[tokio::test]
async fn without_ibc_a_hanging_restart_command_is_killed_at_its_timeout_and_reported() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = sim_with_ibc().await;
    let overrides = json!({
        "escalation": { "restart_command": ["sleep", "30"], "restart_command_timeout": "300ms" },
        "alerts": { "webhook_url": url, "retry": ["50ms"] },
    });
    let supervision = Supervision::start(settings(&sim, None, overrides), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    sim.inject(Fault::Refuse { duration_ms: None }, None).unwrap();
    eventually(WAIT, "the command's timeout", || async {
        escalations(&events).iter().any(|(_, _, outcome)| outcome.is_some())
    })
    .await;
    assert_eq!(
        escalations(&events),
        [
            (Rung::RestartCommand, Problem::ApiDead, None),
            (Rung::RestartCommand, Problem::ApiDead, Some(Outcome::TimedOut { after_ms: 300 }))
        ],
        "without IBC the dead API goes straight to the restart command"
    );
    eventually(WAIT, "the failure alert", || async {
        receiver.texts().iter().any(|t| t.contains("ran the restart command `sleep 30`: killed after 300ms"))
    })
    .await;
    assert!(ibc_commands(&sim).is_empty(), "no IBC configured: the sim's IBC heard nothing");
    supervision.shutdown().await;
}

/// Wednesday 2026-06-17 at `h:m:s` UTC.
fn wednesday(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 17, h, m, s).unwrap()
}

#[tokio::test]
async fn nothing_fires_inside_a_reset_window_and_the_problem_counts_from_its_end() {
    let sim = sim_with_ibc().await;
    // A 3 s daily window at 12:00 UTC; the supervisor's clock starts three seconds before it.
    let overrides = json!({
        "reset_windows": [{ "time": "12:00", "duration": "3s", "timezone": "UTC" }],
        "heartbeat": { "interval": "100ms", "probe_timeout": "80ms" },
    });
    let clock = Arc::new(OffsetClock::starting_at(wednesday(11, 59, 57)));
    let options = StartOptions { clock: clock.clone(), ..StartOptions::default() };
    let supervision = Supervision::start(settings(&sim, sim.ibc_addr(0), overrides), options).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;
    supervision
        .board()
        .wait_for(WAIT, |b| b.accounts[0].state.reset_window_ends_at().is_some())
        .await
        .unwrap_or_else(|b| panic!("no window: {:?}", b.accounts[0].state));

    // The farm breaks inside the window and stays broken past the threshold, many times over.
    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, None).unwrap();
    let window_end = wednesday(12, 0, 3);
    eventually(WAIT, "the ladder waiting for the window, the threshold long past", || async {
        let view = supervision.escalation().view("Paper").unwrap();
        let down = supervision.board().account("Paper").unwrap().farms.market_data_down().and_then(|f| f.down_since);
        let waiting = matches!(view.next, Some(Step::Wait { reason: WaitReason::ResetWindow, .. }));
        waiting && down.is_some_and(|since| clock_now(&supervision) - since > chrono::TimeDelta::milliseconds(1200))
    })
    .await;
    assert!(clock_now(&supervision) < window_end, "still inside the window");
    assert!(ibc_commands(&sim).is_empty(), "the sim's IBC heard nothing inside the window");
    assert!(escalations(&events).is_empty());

    // After the window the farm's outage counts from its end: RECONNECTDATA 300 ms later.
    eventually(WAIT, "RECONNECTDATA after the window", || async {
        ibc_commands(&sim).contains(&Some(Command::ReconnectData))
    })
    .await;
    let fired_at = events
        .all()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Escalation { fired_at, outcome: None, .. } => Some(fired_at),
            _ => None,
        })
        .unwrap();
    assert!(fired_at >= window_end + chrono::TimeDelta::milliseconds(300), "fired at {fired_at}");
    supervision.shutdown().await;
}

fn clock_now(supervision: &Supervision) -> DateTime<Utc> {
    supervision.clock().now()
}

/// The fired (outcome-less) escalation events of `rung`, with their times.
fn fired_times(events: &Events, rung: Rung) -> Vec<DateTime<Utc>> {
    events
        .all()
        .into_iter()
        .filter_map(|e: StatusEvent| match e.kind {
            EventKind::Escalation { rung: r, fired_at, outcome: None, .. } if r == rung => Some(fired_at),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_rung_fires_at_most_once_per_min_interval_and_again_after_it() {
    let sim = sim_with_ibc().await;
    let overrides = json!({ "escalation": { "min_interval": "2s" } });
    let supervision =
        Supervision::start(settings(&sim, sim.ibc_addr(0), overrides), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;
    let board = supervision.board();
    let ok = |b: &ibkr_supervisor::actors::BoardSnapshot| b.accounts[0].farms.data_plane == DataPlane::Ok;

    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, None).unwrap();
    eventually(WAIT, "the first RECONNECTDATA", || async { fired_times(&events, Rung::ReconnectData).len() == 1 })
        .await;
    board.wait_for(WAIT, ok).await.unwrap_or_else(|b| panic!("not mended: {:?}", b.accounts[0].farms));
    // It breaks again at once: the rung is due by its threshold, but held by min_interval.
    sim.inject(Fault::FarmBroken { farm: "usfarm".into() }, None).unwrap();
    eventually(WAIT, "held by min_interval", || async {
        let view = supervision.escalation().view("Paper").unwrap();
        matches!(view.next, Some(Step::Wait { next: Some(Rung::ReconnectData), reason: WaitReason::MinInterval, .. }))
    })
    .await;
    assert_eq!(ibc_commands(&sim), [Some(Command::ReconnectData)], "no second command within min_interval");
    assert_ne!(board.account("Paper").map(|a| a.farms.data_plane), Some(DataPlane::Ok), "the farm is still broken");
    // Once min_interval has passed it fires again, and mends the farm again.
    eventually(WAIT, "the second RECONNECTDATA", || async { fired_times(&events, Rung::ReconnectData).len() == 2 })
        .await;
    let times = fired_times(&events, Rung::ReconnectData);
    assert!(times[1] - times[0] >= chrono::TimeDelta::seconds(2), "{times:?}");
    board.wait_for(WAIT, ok).await.unwrap_or_else(|b| panic!("not mended again: {:?}", b.accounts[0].farms));
    assert_eq!(ibc_commands(&sim), [Some(Command::ReconnectData), Some(Command::ReconnectData)]);
    supervision.shutdown().await;
}

#[tokio::test]
async fn a_restarted_escalation_actor_does_not_fire_again_what_fired_within_min_interval() {
    restarted_mid_ladder(Drill::Panic, "drill: escalation panics").await;
}

#[tokio::test]
async fn an_escalation_actor_killed_as_stuck_mid_ladder_does_not_fire_again_either() {
    restarted_mid_ladder(Drill::Freeze(Duration::from_secs(30)), "stuck").await;
}

/// Fire RESTART (answered, mending nothing), then fail the actor with `drill`: the supervisor
/// restarts it (the reason says `why`) and the new incarnation fires nothing again.
async fn restarted_mid_ladder(drill: Drill, why: &str) {
    let sim = sim_with_ibc().await;
    let (ibc, received) = deaf_ibc().await;
    // Watchdog rounds every 200 ms: a frozen actor is found within a second.
    let overrides = json!({ "heartbeat": { "interval": "200ms", "probe_timeout": "150ms" } });
    let supervision = Supervision::start(settings(&sim, Some(ibc), overrides), StartOptions::default()).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    // RESTART answered but nothing mended: the API stays dead, no restart command to climb to.
    sim.inject(Fault::Refuse { duration_ms: None }, None).unwrap();
    eventually(WAIT, "RESTART sent", || async { received.lock().unwrap().len() == 1 }).await;
    eventually(WAIT, "the ladder exhausted", || async {
        supervision.escalation().view("Paper").unwrap().next == Some(Step::Idle { reason: IdleReason::Exhausted })
    })
    .await;

    // The actor fails mid-ladder: the supervisor restarts it, and the new one remembers.
    let before = supervision.escalation_actor().expect("the escalation actor runs");
    before.send_message(EscalationMessage::Drill(drill)).unwrap();
    eventually(WAIT, "the escalation actor restarted", || async {
        events.all().iter().any(|e| {
            matches!(&e.kind, EventKind::ActorRestarted { actor, reason, .. } if actor == "escalation" && reason.contains(why))
        })
    })
    .await;
    let after = supervision.escalation_actor().unwrap();
    assert_ne!(after.get_id(), before.get_id());
    // The new incarnation stepped every ladder before it was registered (in pre_start), and
    // steps again on each board change (the refused attempts make them): a firing would be
    // counted at once in the book, and sent before its task reports.
    assert_eq!(supervision.escalation().view("Paper").unwrap().fired_total.get(&Rung::Restart), Some(&1));
    let snapshot = after.call(EscalationMessage::Snapshot, Some(WAIT)).await.unwrap().unwrap();
    assert_eq!(snapshot.in_flight, 0, "nothing being sent");
    let (_, view) = &snapshot.accounts[0];
    assert_eq!(view.as_ref().unwrap().next, Some(Step::Idle { reason: IdleReason::Exhausted }));
    assert!(view.as_ref().unwrap().fired.last_fired.iter().any(|(rung, _)| *rung == Rung::Restart));
    assert_eq!(*received.lock().unwrap(), ["RESTART"], "not sent again after the restart");
    assert_eq!(fired_times(&events, Rung::Restart).len(), 1, "fired once, before the panic");
    // The watchdog's rounds cover it: it is in the tree and answers.
    let tree = supervision.tree().await;
    assert!(tree.iter().any(|c| c.name == "escalation" && c.kind == "EscalationActor" && c.alive && c.restarts == 1));
    supervision.shutdown().await;
}

#[tokio::test]
async fn while_the_weekly_login_is_due_a_dead_api_gets_no_restart_but_the_login_alert() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = sim_with_ibc().await;
    // Sunday 2026-06-21 01:00:05 in New York (EDT): five seconds after IB's weekly expiry.
    let expiry = Utc.with_ymd_and_hms(2026, 6, 21, 5, 0, 0).unwrap();
    let clock = Arc::new(OffsetClock::starting_at(expiry + chrono::TimeDelta::seconds(5)));
    let overrides = json!({
        "reauth": { "weekly": { "weekday": "sun", "time": "01:00", "timezone": "America/New_York" }, "grace": "1s" },
        "alerts": { "webhook_url": url, "retry": ["50ms"] },
    });
    let options = StartOptions { clock: clock.clone(), ..StartOptions::default() };
    let supervision = Supervision::start(settings(&sim, sim.ibc_addr(0), overrides), options).await.unwrap();
    connected_with_farms(supervision.board()).await;
    let events = Events::record(supervision.events()).await;

    // The gateway's API dies after the expiry: the outage is the weekly login's.
    sim.inject(Fault::StallHandshake, None).unwrap();
    sim.inject(Fault::Drop, None).unwrap();
    eventually(WAIT, "the ladder holding the restart for the login", || async {
        let view = supervision.escalation().view("Paper").unwrap();
        matches!(view.next, Some(Step::Idle { reason: IdleReason::NeedsLogin }))
    })
    .await;
    // The login alert comes (once the grace is over), never the ordinary outage alert.
    eventually(WAIT, "the login alert", || async {
        receiver.texts().iter().any(|t| t.contains("IB Gateway for Paper needs a login (weekly re-authentication)"))
    })
    .await;
    // Well past restart_after and restart_command_after (300 / 600 ms): still nothing sent.
    let down_since = supervision.board().account("Paper").unwrap().outage_since.expect("an outage");
    eventually(WAIT, "the outage 2 s old", || async {
        clock_now(&supervision) - down_since > chrono::TimeDelta::seconds(2)
    })
    .await;
    let view = supervision.escalation().view("Paper").unwrap();
    assert_eq!(view.next, Some(Step::Idle { reason: IdleReason::NeedsLogin }), "{view:?}");
    assert!(ibc_commands(&sim).is_empty(), "a RESTART would only end at the login dialog: {:?}", ibc_commands(&sim));
    assert!(escalations(&events).is_empty(), "{:?}", escalations(&events));
    assert!(!receiver.texts().iter().any(|t| t.contains("IBKR Paper disconnected")), "{:?}", receiver.texts());
    supervision.shutdown().await;
}
