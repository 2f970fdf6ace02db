//! Sustained write throughput of the PersistenceActor into a real SQLite file
//! (`cargo bench --bench status_writes`).
//!
//! Publishes `PERSISTENCE_EVENTS` status events (default 100 000) on the event port as fast as
//! it can, with a board update (alternating accounts) after every event, then flushes until
//! every event is in the database. Two passes: the database alone, then the database plus the
//! JSON-lines mirror. Prints per pass:
//!
//! - events/s and rows/s (events + status rows) from the first publish to the last row landed;
//! - the batches (one transaction each): count, mean size, and p50/p99/max duration;
//! - how long the actor took to answer a `Snapshot` while under this load (p50/p99/max): the
//!   proof that supervision is never held up by the database.
//!
//! The process exits 0: it is a measurement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ibkr_supervisor::actors::clock::SystemClock;
use ibkr_supervisor::actors::persistence::{self, PersistenceActor, PersistenceArgs};
use ibkr_supervisor::actors::status::EventPort;
use ibkr_supervisor::actors::{ConnectionState, EventKind, StatusBoard, StatusEvent};
use ibkr_supervisor::settings::{DatabaseSettings, Settings};
use ractor::{Actor, OutputPort};

fn main() {
    let events = match std::env::var("PERSISTENCE_EVENTS") {
        Ok(v) => v.trim().parse::<usize>().ok().filter(|n| *n > 0).unwrap_or_else(|| {
            eprintln!("warning: PERSISTENCE_EVENTS={v:?} is not a positive integer; using 100000");
            100_000
        }),
        Err(_) => 100_000,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    println!("status_writes: {events} events, a board update after each, through the PersistenceActor");
    runtime.block_on(pass("database", events, false));
    runtime.block_on(pass("database + JSON-lines mirror", events, true));
    runtime.block_on(year_of_uptime());
    runtime.block_on(flapping_hour());
}

/// A state-changed row of `account` at `at`, as the writer stores it.
fn insert_change(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    at: chrono::DateTime<Utc>,
    from: &str,
    to: &str,
    since: chrono::DateTime<Utc>,
) {
    let detail = serde_json::json!({ "account": account, "at": at, "kind": "state_changed",
        "from": { "state": from, "since": since, "client_id": 1 }, "to": { "state": to, "since": at, "client_id": 1 } });
    tx.execute(
        "INSERT INTO connection_events (at, account, kind, from_state, to_state, detail) VALUES (?1, ?2, 'state_changed', ?3, ?4, ?5)",
        rusqlite::params![persistence::timestamp(at), account, from, to, detail.to_string()],
    )
    .expect("insert");
}

/// `/uptime?days=365` (what its handler calls: `PersistenceReader::uptime`, a read-only
/// connection on `spawn_blocking`) over a year of two accounts with 200 state changes a day
/// each: from raw events (the code on main) and from the daily rollups, side by side.
async fn year_of_uptime() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("year.db");
    let now: chrono::DateTime<Utc> = "2027-03-01T12:00:00Z".parse().unwrap();
    {
        let mut conn = persistence::open_database(&path).expect("open");
        let tx = conn.transaction().unwrap();
        let first = now - chrono::Duration::days(365);
        for account in ["Paper", "Live"] {
            let mut since = first;
            for i in 0..(365 * 200) {
                let at = first + chrono::Duration::milliseconds(i * 432_000); // 200 a day
                let (from, to) = if i % 2 == 0 { ("connected", "disconnected") } else { ("disconnected", "connected") };
                insert_change(&tx, account, at, from, to, since);
                since = at;
            }
        }
        tx.commit().unwrap();
    }
    let reader = persistence::PersistenceReader::new(&path);
    let sample = |runs: usize| {
        let reader = reader.clone();
        async move {
            let mut ms = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let days = reader.uptime(365, now).await.expect("uptime");
                assert_eq!(days.len(), 2 * 365);
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            ms.sort_by(f64::total_cmp);
            ms
        }
    };
    let raw = sample(20).await;
    // The writer rolls the year up (as it does once a day in service).
    let settings = settings();
    let args = PersistenceArgs {
        database: DatabaseSettings { path: path.clone(), ..DatabaseSettings::default() },
        board: StatusBoard::new(&settings.accounts, now),
        events: Arc::new(OutputPort::default()),
        clock: Arc::new(ibkr_supervisor::actors::clock::OffsetClock::starting_at(now)),
        timezone: settings.timezone,
    };
    let started = Instant::now();
    let (actor, join) = Actor::spawn(None, PersistenceActor::new(), args).await.expect("the actor starts");
    while persistence::stats(&actor).await.expect("stats").maintenance_passes == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rolled_in = started.elapsed();
    actor.stop(None);
    join.await.expect("the actor stops");
    let rolled = sample(200).await;
    println!("\n[/uptime?days=365, a year of 2 accounts x 200 state changes a day (146 000 rows)]");
    println!(
        "  from raw events:  p50 {:.2} ms, p99 {:.2} ms ({} runs)",
        percentile(&raw, 0.5),
        percentile(&raw, 0.99),
        raw.len()
    );
    println!(
        "  from rollups:     p50 {:.2} ms, p99 {:.2} ms ({} runs); {:.0}x faster at p99 (target p99 <= 50 ms: {})",
        percentile(&rolled, 0.5),
        percentile(&rolled, 0.99),
        rolled.len(),
        percentile(&raw, 0.99) / percentile(&rolled, 0.99),
        if percentile(&rolled, 0.99) <= 50.0 { "met" } else { "MISSED" }
    );
    println!("  rolling the year up (2 zones, 7 days a step between writes): {:.2} s", rolled_in.as_secs_f64());
}

/// A gateway flapping every 200 ms for an hour: 18 000 cycles of lost, two state changes, an
/// attempt and three farm notices through the PersistenceActor; the size of the file it leaves.
async fn flapping_hour() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("flap.db");
    let settings = settings();
    let board = StatusBoard::new(&settings.accounts, Utc::now());
    let events: EventPort = Arc::new(OutputPort::default());
    let args = PersistenceArgs {
        database: DatabaseSettings { path: path.clone(), ..DatabaseSettings::default() },
        board,
        events: events.clone(),
        clock: Arc::new(SystemClock),
        timezone: settings.timezone,
    };
    let (actor, join) = Actor::spawn(None, PersistenceActor::new(), args).await.expect("the actor starts");
    let start = Utc::now();
    let cycles = 18_000;
    for i in 0..cycles {
        let at = start + chrono::Duration::milliseconds(i * 200);
        let up = ConnectionState::Connected { since: at - chrono::Duration::milliseconds(150), client_id: 1 };
        let down =
            ConnectionState::Disconnected { since: at, last_error: Some("connection closed by the gateway".into()) };
        let trying = ConnectionState::Connecting { since: at, attempt: 1, client_id: 1 };
        let back = ConnectionState::Connected { since: at + chrono::Duration::milliseconds(50), client_id: 1 };
        for kind in [
            EventKind::Lost { reason: "connection closed by the gateway".into() },
            EventKind::StateChanged { from: up, to: down.clone() },
            EventKind::AttemptStarted { attempt: 1, client_id: 1 },
            EventKind::StateChanged { from: down, to: trying.clone() },
            EventKind::StateChanged { from: trying, to: back },
            EventKind::Notice { code: 2104, message: "Market data farm connection is OK:usfarm".into() },
            EventKind::Notice { code: 2106, message: "HMDS data farm connection is OK:ushmds".into() },
            EventKind::Notice { code: 2158, message: "Sec-def data farm connection is OK:secdefnj".into() },
        ] {
            events.send(StatusEvent::new("Paper", at, kind));
        }
        if i % 256 == 0 {
            // An hour compressed into seconds: keep what waits for the writer under the
            // actor's bound (MAX_PENDING_EVENTS), as a real hour at 40 events/s would.
            while persistence::health(&actor).await.map(|h| h.pending).unwrap_or(0)
                > persistence::MAX_PENDING_EVENTS / 2
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let (rows, dropped) = loop {
        persistence::flush(&actor, Duration::from_secs(30)).await.expect("flush");
        let n: i64 = rusqlite::Connection::open(&path)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM connection_events WHERE kind != 'persistence_gap'", [], |r| r.get(0))
            })
            .unwrap_or(0);
        let dropped = persistence::health(&actor).await.map(|h| h.dropped as i64).unwrap_or(0);
        if n + dropped >= cycles * 8 || std::time::Instant::now() >= deadline {
            break (n, dropped);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    actor.stop(None);
    join.await.expect("the actor stops");
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("\n[a gateway flapping every 200 ms for 1 hour]");
    println!(
        "  {rows} event rows ({dropped} dropped); database file {:.1} MB ({:.0} bytes a row); documented bound: under 64 MB ({})",
        bytes as f64 / 1e6,
        bytes as f64 / rows as f64,
        if bytes < 64_000_000 { "met" } else { "MISSED" }
    );
}

fn settings() -> Settings {
    Settings::from_json_str(
        r#"{"accounts": [
            {"name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1},
            {"name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2}]}"#,
    )
    .expect("valid settings")
}

fn event(i: usize) -> StatusEvent {
    let now = Utc::now();
    let account = if i.is_multiple_of(2) { "Paper" } else { "Live" };
    let kind = match i % 4 {
        0 => EventKind::StateChanged {
            from: ConnectionState::Connecting { since: now, attempt: 1, client_id: 1 },
            to: ConnectionState::Connected { since: now, client_id: 1 },
        },
        1 => EventKind::AttemptFailed {
            attempt: i as u32,
            client_id: 2,
            error: "connection refused".into(),
            client_id_in_use: false,
        },
        2 => EventKind::Notice { code: 2104, message: "Market data farm connection is OK:usfarm".into() },
        _ => EventKind::ProbeFailed { error: format!("probe {i} timed out after 2s") },
    };
    StatusEvent::new(account, now, kind)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn pass(name: &str, n: usize, mirror: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = DatabaseSettings {
        path: dir.path().join("status.db"),
        event_log: mirror.then(|| dir.path().join("connection_log.json")),
        ..DatabaseSettings::default()
    };
    let settings = settings();
    let board = StatusBoard::new(&settings.accounts, Utc::now());
    let events: EventPort = Arc::new(OutputPort::default());
    let args = PersistenceArgs {
        database: database.clone(),
        board: board.clone(),
        events: events.clone(),
        clock: Arc::new(SystemClock),
        timezone: chrono_tz::Tz::UTC,
    };
    let (actor, join) = Actor::spawn(None, PersistenceActor::new(), args).await.expect("the actor starts");
    persistence::flush(&actor, Duration::from_secs(5)).await.expect("initial flush");
    let before = persistence::health(&actor).await.expect("health");

    // Snapshot latency sampled while the load runs.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler_actor = actor.clone();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        loop {
            let started = Instant::now();
            persistence::health(&sampler_actor).await.expect("the actor answers");
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            tokio::select! {
                _ = &mut stop_rx => return samples,
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
    });

    let started = Instant::now();
    for i in 0..n {
        events.send(event(i));
        let account = if i.is_multiple_of(2) { "Paper" } else { "Live" };
        board.update(account, |s| {
            s.reconnect_attempts = i as u32;
            s.last_checked = Some(Utc::now());
        });
        if i.is_multiple_of(1024) {
            tokio::task::yield_now().await;
        }
    }
    let published = started.elapsed();
    let count = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("SELECT count(*) FROM connection_events", [], |r| r.get(0)))
            .unwrap_or(-1)
    };
    let health = loop {
        persistence::flush(&actor, Duration::from_secs(30)).await.expect("flush");
        let health = persistence::health(&actor).await.expect("health");
        if health.pending == 0 && count(&database.path) == n as i64 {
            break health;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "did not land within 10 minutes: {health:?}");
    };
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    let mut snapshots = sampler.await.expect("sampler");
    let stats = persistence::stats(&actor).await.expect("stats");
    actor.stop(None);
    join.await.expect("the actor stops");

    let rows = health.written - before.written;
    let status_rows = rows - n as u64;
    let stored = count(&database.path);
    let mut batches: Vec<f64> = stats.recent_batch_micros.iter().map(|us| *us as f64 / 1000.0).collect();
    batches.sort_by(f64::total_cmp);
    snapshots.sort_by(f64::total_cmp);
    let secs = elapsed.as_secs_f64();
    println!("\n[{name}]");
    println!(
        "  {n} events published in {:.3} s; all landed after {secs:.3} s; {stored} event rows stored, dropped {}",
        published.as_secs_f64(),
        health.dropped
    );
    println!(
        "  throughput: {:.0} events/s, {:.0} rows/s ({rows} rows: {n} events + {status_rows} coalesced status rows)",
        n as f64 / secs,
        rows as f64 / secs
    );
    println!(
        "  batches: {} transactions, mean {:.0} rows, largest {}; duration p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (last {} batches)",
        stats.batches,
        stats.rows as f64 / stats.batches.max(1) as f64,
        stats.largest_batch,
        percentile(&batches, 0.50),
        percentile(&batches, 0.99),
        batches.last().copied().unwrap_or(f64::NAN),
        batches.len()
    );
    println!(
        "  actor Snapshot under load: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        percentile(&snapshots, 0.50),
        percentile(&snapshots, 0.99),
        snapshots.last().copied().unwrap_or(f64::NAN),
        snapshots.len()
    );
}
