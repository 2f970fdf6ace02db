//! The PersistenceActor against real SQLite files, checked with plain SQL: status rows, every
//! event in order with its JSON-lines mirror, uptime on a scripted timeline, database faults
//! (read-only file, a lock held by another connection, the directory deleted) during which the
//! actor keeps working and after which nothing is lost, and history across a restart.
//!
//! No sleeping and hoping: after publishing, the tests call the actor's `Flush` and poll the
//! database with a deadline (events travel through the event port's fan-out task, so one flush
//! may run before the last events reached the actor).

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{eventually, settings_for};
use ibkr_supervisor::actors::clock::SystemClock;
use ibkr_supervisor::actors::persistence::{
    self, load_status, PersistenceActor, PersistenceArgs, PersistenceMessage, PersistenceReader,
};
use ibkr_supervisor::actors::status::{EventPort, PersistenceHealth};
use ibkr_supervisor::actors::{ConnectionState, EventKind, StatusBoard, StatusEvent};
use ibkr_supervisor::settings::Settings;
use ractor::{Actor, ActorRef, OutputPort};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn settings(db: &Path, event_log: Option<&Path>) -> Settings {
    let addrs: [SocketAddr; 2] = ["127.0.0.1:4002".parse().unwrap(), "127.0.0.1:4001".parse().unwrap()];
    // The scripted timelines are in March 2026 and the clock is the real one: a retention long
    // enough that maintenance never prunes them mid-test.
    settings_for(
        &addrs,
        json!({ "database": { "path": db, "event_log": event_log, "retention": "100y", "keep_audit": "100y" } }),
    )
}

/// A running PersistenceActor with the board and event port it records.
struct Recorder {
    actor: ActorRef<PersistenceMessage>,
    join: tokio::task::JoinHandle<()>,
    board: StatusBoard,
    events: EventPort,
    db: PathBuf,
}

impl Recorder {
    async fn start(db: &Path, event_log: Option<&Path>) -> Recorder {
        let settings = settings(db, event_log);
        let board = StatusBoard::new(&settings.accounts, Utc::now());
        let events: EventPort = Arc::new(OutputPort::default());
        let args = PersistenceArgs {
            database: settings.database.clone(),
            board: board.clone(),
            events: events.clone(),
            clock: Arc::new(SystemClock),
            timezone: settings.timezone,
        };
        let (actor, join) = Actor::spawn(None, PersistenceActor::new(), args).await.expect("the actor starts");
        Recorder { actor, join, board, events, db: db.to_owned() }
    }

    fn publish(&self, event: StatusEvent) {
        self.events.send(event);
    }

    async fn health(&self) -> PersistenceHealth {
        persistence::health(&self.actor).await.expect("the actor answers")
    }

    async fn flush(&self) {
        persistence::flush(&self.actor, Duration::from_secs(5)).await.expect("the actor answers a flush");
    }

    /// Flush until `events` event rows are in the database and nothing is pending.
    async fn landed(&self, events: i64) -> PersistenceHealth {
        let what = format!("{events} events landed with nothing pending");
        eventually(WAIT, &what, || async {
            self.flush().await;
            let health = self.health().await;
            let rows = try_count(&self.db, "SELECT count(*) FROM connection_events").unwrap_or(-1);
            rows == events && health.pending == 0 && health.ok
        })
        .await;
        self.health().await
    }

    /// Flush until `accepted` events reached the actor (pending counts them) and a write failed
    /// with an error that says `error`.
    async fn failing(&self, accepted: u64, error: &str) -> PersistenceHealth {
        let what = format!("a write failing with {error:?} and {accepted} pending");
        eventually(WAIT, &what, || async {
            self.flush().await;
            let health = self.health().await;
            !health.ok && health.pending >= accepted && health.last_error.as_deref().is_some_and(|e| e.contains(error))
        })
        .await;
        self.health().await
    }

    async fn stop(self) {
        self.actor.stop(None);
        self.join.await.unwrap();
    }
}

/// A plain connection that never creates anything (a test must not create the file it checks).
fn open(db: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

fn try_count(db: &Path, sql: &str) -> rusqlite::Result<i64> {
    open(db)?.query_row(sql, [], |r| r.get(0))
}

fn count(db: &Path, sql: &str) -> i64 {
    try_count(db, sql).unwrap()
}

/// Every event row: (at, account, kind, detail as JSON).
fn event_rows(db: &Path) -> Vec<(String, String, String, Value)> {
    let conn = open(db).unwrap();
    let mut stmt = conn.prepare("SELECT at, account, kind, detail FROM connection_events ORDER BY id").unwrap();
    stmt.query_map([], |r| {
        let detail: String = r.get(3)?;
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, serde_json::from_str(&detail).unwrap()))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A varied event: every kind the supervisor publishes, notices 1100/1101/1102/2110 and 2104.
fn sample(i: usize, base: DateTime<Utc>) -> StatusEvent {
    let t = base + chrono::Duration::milliseconds(1001 * i as i64);
    let account = ["Paper", "Live", "*"][i % 3];
    let kind = match i % 13 {
        0 => EventKind::StateChanged {
            from: ConnectionState::Connecting { since: t - chrono::Duration::seconds(1), attempt: 2, client_id: 1 },
            to: ConnectionState::Connected { since: t, client_id: 1 },
        },
        1 => EventKind::AttemptStarted { attempt: i as u32, client_id: 1 },
        2 => EventKind::AttemptFailed {
            attempt: 3,
            client_id: 11,
            error: "client id in use".into(),
            client_id_in_use: true,
        },
        3 => EventKind::Connected { attempt: 1, client_id: 1, server_version: 226 },
        4 => EventKind::Lost { reason: format!("eof #{i}") },
        5 => EventKind::ProbeFailed { error: "timed out after 2s".into() },
        6 => EventKind::Notice { code: 1100, message: "Connectivity between IB and TWS has been lost.".into() },
        7 => EventKind::Notice { code: 1101, message: "restored, data lost".into() },
        8 => EventKind::Notice { code: 2110, message: "Connectivity between TWS and server is broken.".into() },
        9 => EventKind::Notice { code: 2104, message: "Market data farm connection is OK:usfarm".into() },
        10 => EventKind::AttemptSuppressed { until: t + chrono::Duration::minutes(30) },
        11 => EventKind::ActorRestarted { actor: "gateway-Paper".into(), reason: "panicked".into(), restarts: 1 },
        _ => EventKind::Meltdown { actor: "gateway-Live".into(), reason: "6 failures within 60s".into() },
    };
    StatusEvent::new(account, t, kind)
}

#[tokio::test]
async fn every_event_lands_in_order_and_the_json_lines_mirror_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, log) = (tmp.path().join("status.db"), tmp.path().join("connection_log.json"));
    let recorder = Recorder::start(&db, Some(&log)).await;
    let base = at("2026-03-09T10:00:00.250Z");
    let published: Vec<StatusEvent> = (0..1000).map(|i| sample(i, base)).collect();
    for event in &published {
        recorder.publish(event.clone());
    }
    let health = recorder.landed(1000).await;
    assert!(health.ok && health.dropped == 0 && health.last_error.is_none(), "{health:?}");

    let rows = event_rows(&db);
    assert_eq!(rows.len(), 1000, "nothing lost");
    for (event, (at, account, kind, detail)) in published.iter().zip(&rows) {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(at, &ts(event.at), "the published time, RFC 3339 UTC");
        assert_eq!(account, &event.account);
        assert_eq!(Some(kind.as_str()), json["kind"].as_str());
        assert_eq!(detail, &json, "in publication order, with the event as detail");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM connection_events WHERE kind = 'notice' AND detail LIKE '%2104%'"), 77);
    assert_eq!(
        count(&db, "SELECT count(*) FROM connection_events WHERE from_state = 'connecting' AND to_state = 'connected'"),
        77
    );

    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected: Vec<Value> = published.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    assert_eq!(lines, expected, "one JSON line per event, equal to the event");

    // The read side for GET /events, off the runtime.
    let reader = PersistenceReader::new(&db);
    let latest = reader.recent_events(Some("Paper".into()), None, 3).await.unwrap();
    assert_eq!(
        latest.iter().map(|e| e.at).collect::<Vec<_>>(),
        [published[999].at, published[996].at, published[993].at]
    );
    let since = reader.recent_events(None, Some(published[990].at), 100).await.unwrap();
    assert_eq!(since.len(), 10);
    recorder.stop().await;
}

#[tokio::test]
async fn each_account_has_a_status_row_with_the_board_values() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    let connected_at = at("2026-03-09T14:00:00.125Z");
    let checked_at = at("2026-03-09T14:05:00Z");
    recorder.board.update("Paper", |s| {
        s.state = ConnectionState::Connected { since: connected_at, client_id: 1 };
        s.last_connected = Some(connected_at);
        s.last_checked = Some(checked_at);
        s.probe_rtt_ms = Some(2.5);
    });
    recorder.board.update("Live", |s| {
        s.state = ConnectionState::Disconnected { since: checked_at, last_error: Some("connection refused".into()) };
        s.client_id = 12;
        s.reconnect_attempts = 3;
        s.error_message = Some("connection refused".into());
        s.last_checked = Some(checked_at);
    });
    let before = Utc::now();
    recorder.landed(0).await;

    let conn = open(&db).unwrap();
    // The row as SQL sees it, column by column.
    let row = |account: &str| -> Value {
        let mut stmt = conn.prepare("SELECT * FROM ibkr_status WHERE account = ?1").unwrap();
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        stmt.query_row([account], |r| {
            let mut row = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => json!(n),
                    ValueRef::Real(x) => json!(x),
                    ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                    ValueRef::Blob(_) => panic!("no blobs in ibkr_status"),
                };
                row.insert(name.clone(), value);
            }
            Ok(Value::Object(row))
        })
        .unwrap()
    };
    assert_eq!(count(&db, "SELECT count(*) FROM ibkr_status"), 2, "one row per account");
    let paper = row("Paper");
    assert_eq!(paper["paper_trading"], 1, "paper_trading");
    assert_eq!(
        (&paper["connected"], &paper["state"], &paper["host"], &paper["port"], &paper["client_id"]),
        (&json!(1), &json!("connected"), &json!("127.0.0.1"), &json!(4002), &json!(1))
    );
    assert_eq!(paper["last_checked"], "2026-03-09T14:05:00.000Z");
    assert_eq!(paper["last_connected"], "2026-03-09T14:00:00.125Z");
    assert_eq!(
        (&paper["reconnect_attempts"], &paper["error_message"], &paper["probe_rtt_ms"]),
        (&json!(0), &Value::Null, &json!(2.5))
    );
    let live = row("Live");
    assert_eq!((&live["paper_trading"], &live["connected"]), (&json!(0), &json!(0)));
    assert_eq!(
        (&live["state"], &live["port"], &live["client_id"], &live["last_connected"]),
        (&json!("disconnected"), &json!(4001), &json!(12), &Value::Null)
    );
    assert_eq!(
        (&live["reconnect_attempts"], &live["error_message"], &live["probe_rtt_ms"]),
        (&json!(3), &json!("connection refused"), &Value::Null)
    );
    let updated_text = live["updated_at"].as_str().unwrap();
    let updated = at(updated_text);
    assert!(updated_text.ends_with('Z') && updated_text.len() == "2026-03-09T14:05:00.000Z".len(), "{updated_text}");
    assert!(updated >= before - chrono::Duration::seconds(1) && updated <= Utc::now(), "{updated}");
    assert_eq!(
        serde_json::from_str::<Value>(live["state_detail"].as_str().unwrap()).unwrap()["last_error"],
        "connection refused"
    );
    assert_eq!(recorder.board.snapshot().persistence.map(|p| p.ok), Some(true), "the board shows the health");
    recorder.stop().await;
}

fn changed(account: &str, t: &str, from: ConnectionState, to: ConnectionState) -> StatusEvent {
    StatusEvent::new(account, at(t), EventKind::StateChanged { from, to })
}

#[tokio::test]
async fn uptime_comes_from_the_recorded_timeline_with_reset_windows_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    let (connected, down) = (
        |t: &str| ConnectionState::Connected { since: at(t), client_id: 1 },
        |t: &str| ConnectionState::Disconnected { since: at(t), last_error: None },
    );
    let reset = ConnectionState::ResetWindow {
        since: at("2026-03-09T12:00:00Z"),
        until: at("2026-03-09T13:00:00Z"),
        link: None,
    };
    // Connected 10:00-12:00, reset window 12:00-13:00, disconnected 13:00-14:00, connected from
    // 14:00 over midnight until 03:00, disconnected since.
    let script = [
        changed("Paper", "2026-03-09T10:00:00Z", down("2026-03-09T10:00:00Z"), connected("2026-03-09T10:00:00Z")),
        changed("Paper", "2026-03-09T12:00:00Z", connected("2026-03-09T10:00:00Z"), reset.clone()),
        changed("Paper", "2026-03-09T13:00:00Z", reset, down("2026-03-09T13:00:00Z")),
        changed("Paper", "2026-03-09T14:00:00Z", down("2026-03-09T13:00:00Z"), connected("2026-03-09T14:00:00Z")),
        changed("Paper", "2026-03-10T03:00:00Z", connected("2026-03-09T14:00:00Z"), down("2026-03-10T03:00:00Z")),
        // Other events do not count.
        StatusEvent::new(
            "Paper",
            at("2026-03-09T12:30:00Z"),
            EventKind::AttemptSuppressed { until: at("2026-03-09T13:00:00Z") },
        ),
    ];
    for event in &script {
        recorder.publish(event.clone());
    }
    recorder.landed(script.len() as i64).await;
    let reader = PersistenceReader::new(&db);

    // The same day, at 16:00: 16 h covered.
    let today = reader.uptime(1, at("2026-03-09T16:00:00Z")).await.unwrap();
    let paper: Vec<_> = today.iter().filter(|d| d.account == "Paper").collect();
    assert_eq!(paper.len(), 1);
    let d = paper[0];
    assert_eq!((d.up_pct, d.down_pct, d.reset_pct, d.unknown_pct), (25.0, 6.25, 6.25, 62.5), "{d:?}");
    assert_eq!((d.up_secs, d.down_secs, d.reset_secs), (4.0 * 3600.0, 3600.0, 3600.0));
    assert_eq!(d.availability_pct, Some(80.0), "the reset window is not downtime");

    // Over midnight, at 06:00 the next day.
    let days = reader.uptime(2, at("2026-03-10T06:00:00Z")).await.unwrap();
    let paper: Vec<_> = days.iter().filter(|d| d.account == "Paper").collect();
    assert_eq!(paper.iter().map(|d| d.day.to_string()).collect::<Vec<_>>(), ["2026-03-09", "2026-03-10"]);
    let (first, second) = (paper[0], paper[1]);
    assert_eq!(
        (first.covered_secs, first.up_secs, first.down_secs, first.reset_secs),
        (86_400.0, 43_200.0, 3600.0, 3600.0)
    );
    assert_eq!(first.up_pct, 50.0);
    assert!((first.reset_pct - 4.167).abs() < 1e-9 && (first.down_pct - 4.167).abs() < 1e-9, "{first:?}");
    assert_eq!((second.up_pct, second.down_pct, second.reset_pct, second.unknown_pct), (50.0, 50.0, 0.0, 0.0));
    // Live has a status row but no recorded changes: unknown, not down.
    let live: Vec<_> = days.iter().filter(|d| d.account == "Live").collect();
    assert_eq!(
        live.iter().map(|d| (d.unknown_pct, d.availability_pct)).collect::<Vec<_>>(),
        [(100.0, None), (100.0, None)]
    );
    recorder.stop().await;
}

/// SQLite's file-format write version (byte 18 of the header): above 2, SQLite must treat the file
/// as read-only. Unlike file permissions, root cannot bypass it.
fn set_write_version(db: &Path, version: u8) {
    let mut file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.seek(SeekFrom::Start(18)).unwrap();
    file.write_all(&[version]).unwrap();
    file.sync_all().unwrap();
}

fn probe(i: usize) -> StatusEvent {
    StatusEvent::new(
        "Paper",
        at("2026-03-09T10:00:00Z") + chrono::Duration::seconds(i as i64),
        EventKind::ProbeFailed { error: format!("probe {i}") },
    )
}

/// The actor keeps handling messages while the writer thread is stuck on the database: a
/// snapshot is answered at once even while a flush is waiting for the database.
async fn answers_promptly(recorder: &Recorder) {
    let actor = recorder.actor.clone();
    let flush = tokio::spawn(async move { persistence::flush(&actor, Duration::from_secs(5)).await });
    for _ in 0..5 {
        let started = Instant::now();
        recorder.health().await;
        // Well under the writer's busy timeout (250 ms): the actor does not wait for the database.
        assert!(started.elapsed() < Duration::from_millis(150), "answered after {:?}", started.elapsed());
    }
    recorder.board.update("Paper", |s| s.reconnect_attempts += 1);
    flush.await.unwrap().unwrap();
}

/// (a) Read-only. As root (CI), `chmod 0444` does not stop writes: root bypasses permissions, and
/// an open descriptor is unaffected anyway. So the file is marked read-only where SQLite itself
/// enforces it for every user, the header's write version, while the actor is down (as when the
/// service restarts onto a read-only file); then the mark is cleared while the actor runs.
#[tokio::test]
async fn a_read_only_file_keeps_writes_pending_until_it_is_writable_again() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    for i in 0..10 {
        recorder.publish(probe(i));
    }
    recorder.landed(10).await;
    recorder.stop().await;

    set_write_version(&db, 3);
    let insert = open(&db).unwrap().execute("DELETE FROM connection_events", []);
    assert!(format!("{insert:?}").contains("readonly"), "the simulation is real, even for root: {insert:?}");

    let recorder = Recorder::start(&db, None).await;
    for i in 10..30 {
        recorder.publish(probe(i));
    }
    recorder.board.update("Paper", |s| s.error_message = Some("while read-only".into()));
    let health = recorder.failing(20, "attempt to write a readonly database").await;
    let error = health.last_error.clone().unwrap();
    assert!(error.contains("the file, its directory or its filesystem is read-only"), "{error}");
    assert_eq!(recorder.board.snapshot().persistence.map(|p| p.ok), Some(false), "visible in status");
    answers_promptly(&recorder).await;
    assert_eq!(count(&db, "SELECT count(*) FROM connection_events"), 10, "nothing written meanwhile");

    set_write_version(&db, 2);
    let health = recorder.landed(30).await;
    assert!(health.ok && health.last_error.is_none() && health.dropped == 0, "{health:?}");
    let rows = event_rows(&db);
    let errors: Vec<&str> = rows.iter().map(|r| r.3["error"].as_str().unwrap()).collect();
    assert_eq!(errors, (0..30).map(|i| format!("probe {i}")).collect::<Vec<_>>(), "all, in order");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM ibkr_status WHERE account = 'Paper' AND error_message = 'while read-only' \
                    AND reconnect_attempts = 1"
        ),
        1,
        "the latest status landed too"
    );
    recorder.stop().await;
}

/// (b) Another connection holds the write lock (`BEGIN EXCLUSIVE`) for a while.
#[tokio::test]
async fn a_lock_held_by_another_connection_delays_writes_without_losing_them() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    for i in 0..5 {
        recorder.publish(probe(i));
    }
    recorder.landed(5).await;

    let locker = open(&db).unwrap();
    locker.busy_timeout(Duration::from_secs(5)).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for i in 5..55 {
        recorder.publish(probe(i));
    }
    let health = recorder.failing(50, "database is locked").await;
    assert!(health.last_error.as_deref().unwrap().contains("another connection holds a lock"), "{health:?}");
    answers_promptly(&recorder).await;
    assert_eq!(locker.query_row("SELECT count(*) FROM connection_events", [], |r| r.get::<_, i64>(0)).unwrap(), 5);
    assert!(!recorder.health().await.ok, "still failing while the lock is held");

    locker.execute_batch("COMMIT").unwrap();
    let health = recorder.landed(55).await;
    assert!(health.ok && health.dropped == 0, "{health:?}");
    let errors: Vec<String> = event_rows(&db).iter().map(|r| r.3["error"].as_str().unwrap().to_owned()).collect();
    assert_eq!(errors, (0..55).map(|i| format!("probe {i}")).collect::<Vec<_>>());
    assert_eq!(count(&db, "SELECT reconnect_attempts FROM ibkr_status WHERE account = 'Paper'"), 1);
    recorder.stop().await;
}

/// (c) The database's directory is deleted while the actor runs: the next retry recreates it and
/// a new file, and the pending rows land there (the deleted file's rows are gone with it). Then it
/// is deleted again and a file put in its place, so it cannot be recreated for a while.
#[tokio::test]
async fn a_deleted_directory_is_recreated_and_the_pending_writes_land_in_a_new_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let (db, log) = (dir.join("status.db"), dir.join("connection_log.json"));
    let recorder = Recorder::start(&db, Some(&log)).await;
    for i in 0..5 {
        recorder.publish(probe(i));
    }
    recorder.landed(5).await;

    let failed_before = persistence::stats(&recorder.actor).await.unwrap().failed_attempts;
    std::fs::remove_dir_all(&dir).unwrap();
    for i in 5..10 {
        recorder.publish(probe(i));
    }
    recorder.board.update("Live", |s| s.reconnect_attempts = 7);
    recorder.landed(5).await;
    // Noticed (by the first write after the deletion, or by the maintenance pass if it ran
    // first), then healed by the next retry.
    let stats = persistence::stats(&recorder.actor).await.unwrap();
    let noticed = [stats.last_failure.as_deref(), stats.last_maintenance_failure.as_deref()];
    assert!(stats.failed_attempts > failed_before || stats.maintenance_failures > 0, "{stats:?}");
    assert!(noticed.iter().flatten().any(|f| f.contains("was deleted or replaced while open")), "{stats:?}");
    let errors: Vec<String> = event_rows(&db).iter().map(|r| r.3["error"].as_str().unwrap().to_owned()).collect();
    assert_eq!(errors, (5..10).map(|i| format!("probe {i}")).collect::<Vec<_>>(), "only the rows after the deletion");
    assert_eq!(count(&db, "SELECT count(*) FROM ibkr_status"), 2, "every account's status is written again");
    assert_eq!(count(&db, "SELECT reconnect_attempts FROM ibkr_status WHERE account = 'Live'"), 7);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 5, "the mirror is recreated too");

    // Deleted again, and a file where the directory was: it cannot be recreated until it goes.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"in the way").unwrap();
    for i in 10..20 {
        recorder.publish(probe(i));
    }
    // First "deleted or replaced", then at each retry:
    let health = recorder.failing(10, "cannot create the database directory").await;
    assert!(health.last_error.as_deref().unwrap().contains("is no file in the way?"), "{health:?}");
    assert_eq!(recorder.board.snapshot().persistence.map(|p| p.ok), Some(false), "visible in status");
    answers_promptly(&recorder).await;
    assert!(!recorder.health().await.ok);
    std::fs::remove_file(&dir).unwrap();
    let health = recorder.landed(10).await;
    assert!(health.ok && health.dropped == 0, "{health:?}");
    let errors: Vec<String> = event_rows(&db).iter().map(|r| r.3["error"].as_str().unwrap().to_owned()).collect();
    assert_eq!(errors, (10..20).map(|i| format!("probe {i}")).collect::<Vec<_>>());
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 10);
    recorder.stop().await;
}

#[tokio::test]
async fn history_survives_a_restart_and_new_events_are_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    for i in 0..10 {
        recorder.publish(probe(i));
    }
    let connected_at = at("2026-03-09T09:30:00Z");
    recorder.board.update("Paper", |s| {
        s.state = ConnectionState::Connected { since: connected_at, client_id: 1 };
        s.last_connected = Some(connected_at);
    });
    recorder.landed(10).await;
    // Stop flushes: a board change right before the stop still lands.
    recorder.board.update("Live", |s| s.error_message = Some("last words".into()));
    recorder.stop().await;
    assert_eq!(count(&db, "SELECT count(*) FROM ibkr_status WHERE error_message = 'last words'"), 1, "flushed on stop");

    let stored = load_status(&db).unwrap();
    assert_eq!(stored.iter().map(|s| s.status.name.as_str()).collect::<Vec<_>>(), ["Live", "Paper"]);
    let paper = &stored[1].status;
    assert!(paper.connected() && paper.last_connected == Some(connected_at), "{paper:?}");

    let recorder = Recorder::start(&db, None).await;
    for i in 10..20 {
        recorder.publish(probe(i));
    }
    recorder.landed(20).await;
    let errors: Vec<String> = event_rows(&db).iter().map(|r| r.3["error"].as_str().unwrap().to_owned()).collect();
    assert_eq!(errors, (0..20).map(|i| format!("probe {i}")).collect::<Vec<_>>(), "old rows kept, new ones appended");
    assert_eq!(count(&db, "SELECT count(*) FROM connection_events WHERE id <= 10 AND detail LIKE '%\"probe 9\"%'"), 1);
    // The new process's board says disconnected; the last time connected is kept.
    let paper = load_status(&db).unwrap().remove(1).status;
    assert_eq!((paper.state.name(), paper.last_connected), ("disconnected", Some(connected_at)));
    recorder.stop().await;
    assert!(load_status(&tmp.path().join("absent.db")).unwrap().is_empty(), "no file, no history");
}

/// At shutdown the gateways' last events (→ stopped) may still be in the event port's fan-out
/// when the persistence actor is told to stop: `stop_last` waits for them (Settle), then drains.
#[tokio::test]
async fn stop_last_waits_for_the_final_state_changes_then_flushes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("status.db");
    let recorder = Recorder::start(&db, None).await;
    let board = recorder.board.clone();
    let stopped = ConnectionState::Stopped { since: at("2026-03-09T18:00:00Z") };

    // The board says stopped, the events saying so have not been published yet: not settled.
    for account in ["Paper", "Live"] {
        board.update(account, |s| s.state = stopped.clone());
    }
    let call = recorder.actor.call(PersistenceMessage::Settle, Some(Duration::from_millis(100))).await.unwrap();
    assert!(matches!(call, ractor::rpc::CallResult::Timeout), "no event led there yet");

    let waiting = {
        let actor = recorder.actor.clone();
        tokio::spawn(async move { actor.call(PersistenceMessage::Settle, Some(Duration::from_secs(5))).await })
    };
    for account in ["Paper", "Live"] {
        let from = ConnectionState::Disconnected { since: at("2026-03-09T17:00:00Z"), last_error: None };
        recorder.publish(changed(account, "2026-03-09T18:00:00Z", from, stopped.clone()));
    }
    assert!(matches!(waiting.await.unwrap().unwrap(), ractor::rpc::CallResult::Success(())), "settled");

    // The board moves on and the events are published, then stop at once: both land (Settle
    // waits for them), with the final status rows.
    let later = ConnectionState::Stopped { since: at("2026-03-09T18:00:01Z") };
    for account in ["Paper", "Live"] {
        board.update(account, |s| s.state = later.clone());
        recorder.publish(changed(account, "2026-03-09T18:00:01Z", stopped.clone(), later.clone()));
    }
    assert!(persistence::stop_last(&recorder.actor).await, "stopped in time");
    recorder.join.await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM connection_events WHERE to_state = 'stopped'"), 4);
    assert_eq!(count(&db, "SELECT count(*) FROM ibkr_status WHERE state = 'stopped'"), 2);
}
