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
