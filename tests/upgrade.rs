//! Upgrades keep every row: each database under `tests/fixtures/` was written by a previous
//! release (`tests/fixtures/make_fixture.sh`, which also recorded that release's `/uptime`
//! figures in the `.json` beside it). The current build opens a copy: the migrations run, every
//! status row and event is still there, and `/uptime` gives the same figures, computed from the
//! raw events at first and from the daily rollups once the writer has rolled the days up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ibkr_supervisor::actors::clock::OffsetClock;
use ibkr_supervisor::actors::persistence::{self, PersistenceActor, PersistenceArgs, PersistenceReader};
use ibkr_supervisor::actors::status::EventPort;
use ibkr_supervisor::actors::StatusBoard;
use ibkr_supervisor::settings::{DatabaseSettings, Settings};
use ractor::{Actor, OutputPort};
use rusqlite::Connection;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    found.sort();
    found
}

/// Every row of `table`, every column as text, in a stable order.
fn rows(conn: &Connection, table: &str, order: &str) -> Vec<Vec<(String, String)>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}")).unwrap();
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let found = stmt
        .query_map([], |row| {
            Ok(names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), format!("{:?}", row.get_ref(i).unwrap())))
                .collect::<Vec<_>>())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    found
}

fn int(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Each figure the previous release reported is reported the same now (new fields may be added).
fn same_figures(expected: &serde_json::Value, now: &[persistence::DailyUptime], what: &str) {
    let now = serde_json::to_value(now).unwrap();
    let (expected, now) = (expected.as_array().unwrap(), now.as_array().unwrap());
    assert_eq!(expected.len(), now.len(), "{what}: as many account-days");
    for (old, new) in expected.iter().zip(now) {
        for (key, value) in old.as_object().unwrap() {
            assert_eq!(&new[key], value, "{what}: {key} of {} {}", old["account"], old["day"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_of_a_previous_release_opens_with_every_row_and_the_same_uptime() {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "tests/fixtures holds at least the 0002 release's database");
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let recorded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.with_extension("json")).unwrap()).unwrap();
        let now: DateTime<Utc> = recorded["now"].as_str().unwrap().parse().unwrap();
        let days = recorded["days"].as_u64().unwrap() as u32;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("upgraded.db");
        std::fs::copy(&fixture, &path).unwrap();

        let (events, status, version) = {
            let old = Connection::open(&path).unwrap();
            let version = int(&old, "PRAGMA user_version");
            assert_eq!(version, recorded["user_version"].as_i64().unwrap(), "{name}: the fixture is what was recorded");
            (rows(&old, "connection_events", "id"), rows(&old, "ibkr_status", "account"), version)
        };
        assert_eq!(events.len() as i64, recorded["events"].as_i64().unwrap(), "{name}");

        let conn = persistence::open_database(&path).unwrap();
        assert!(int(&conn, "PRAGMA user_version") > version, "{name}: the new migrations ran");
        assert_eq!(int(&conn, "PRAGMA auto_vacuum"), 2, "{name}: switched to incremental vacuum (one-time VACUUM)");
        assert_eq!(rows(&conn, "connection_events", "id"), events, "{name}: every event, unchanged");
        let status_now = rows(&conn, "ibkr_status", "account");
        for (old, new) in status.iter().zip(&status_now) {
            for column in old {
                assert!(new.contains(column), "{name}: status column {column:?} kept in {new:?}");
            }
        }
        assert_eq!(status.len(), status_now.len(), "{name}: every status row");
        same_figures(&recorded["uptime"], &persistence::uptime(&conn, days, now).unwrap(), &format!("{name}, raw"));
        drop(conn);

        // The writer rolls the old days up; /uptime's reader then answers from the rollups.
        let settings = Settings::default();
        let args = PersistenceArgs {
            database: DatabaseSettings { path: path.clone(), ..DatabaseSettings::default() },
            board: StatusBoard::new(&settings.accounts, now),
            events: EventPort::new(OutputPort::default()),
            clock: Arc::new(OffsetClock::starting_at(now)),
            timezone: settings.timezone,
        };
        let (actor, join) = Actor::spawn(None, PersistenceActor::new(), args).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while persistence::stats(&actor).await.unwrap().maintenance_passes == 0 {
            assert!(Instant::now() < deadline, "{name}: a maintenance pass within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stats = persistence::stats(&actor).await.unwrap();
        assert!(stats.rolled_days > 0 && stats.maintenance_failures == 0, "{name}: {stats:?}");
        actor.stop(None);
        join.await.unwrap();
        let conn = persistence::open_read_only(&path).unwrap();
        let rolled = int(&conn, "SELECT count(*) FROM daily_rollups WHERE zone = 'UTC'");
        assert!(rolled > 0, "{name}: days rolled up");
        let reader = PersistenceReader::new(&path);
        same_figures(&recorded["uptime"], &reader.uptime(days, now).await.unwrap(), &format!("{name}, rolled up"));
        assert_eq!(
            int(&conn, "SELECT count(*) FROM connection_events") as usize,
            events.len(),
            "{name}: nothing pruned"
        );
        if name == "schema-0002" {
            let paused = persistence::paused_accounts(&path).unwrap();
            assert_eq!(paused.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["Paper"], "the pause survives");
        }
    }
}
