//! Opening the database: for writing (WAL, the migrations applied) or read-only, and noticing
//! a file that was deleted or replaced under an open connection.

use std::fs;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{Migrations, M};

use super::error::{write_hint, PersistenceError};
use super::rows::read_error;
use super::BUSY_TIMEOUT;

/// The schema, embedded so the binary is self-contained (files in the top-level `migrations/`).
/// A migration once released is never edited: a database written by one release must open
/// with the next, so every change is a new file.
pub(super) const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../../migrations/0001_status_and_events.sql")),
    M::up(include_str!("../../../migrations/0002_reset_window_column.sql")),
    M::up(include_str!("../../../migrations/0003_daily_rollups.sql")),
    M::up(include_str!("../../../migrations/0004_outage_since_column.sql")),
];
/// Open (creating the directory and the file if needed) the database for writing: busy timeout,
/// WAL mode, `synchronous = NORMAL` (durable across a crash of the process; a power cut may lose
/// the last transactions), and the schema migrations applied.
pub fn open_database(path: &Path) -> Result<Connection, PersistenceError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| PersistenceError::CreateDir { dir: dir.to_owned(), source })?;
    }
    let mut conn = Connection::open(path).map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    let configure = |source: rusqlite::Error| PersistenceError::Configure {
        path: path.to_owned(),
        hint: write_hint(&source),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(configure)?;
    // A new file: incremental auto-vacuum from the start (it takes effect with the first table).
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(configure)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(configure)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "persistence: the database is not in WAL mode; readers may wait for the writer");
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(configure)?;
    Migrations::from_slice(MIGRATIONS)
        .to_latest(&mut conn)
        .map_err(|source| PersistenceError::Migrate { path: path.to_owned(), source })?;
    switch_to_incremental_vacuum(&conn, path);
    Ok(conn)
}

/// `auto_vacuum` of a file: 0 none, 1 full, 2 incremental.
pub(super) fn auto_vacuum(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))
}

/// A file created before incremental auto-vacuum (every file of a release before 0003) keeps
/// pruned pages forever unless it is rebuilt once: `VACUUM` with `auto_vacuum = INCREMENTAL`
/// set. It runs here, on the writer thread, at the first open by this release: it rewrites the
/// whole file (needing as much free disk again for a moment) and takes about a second per
/// 100 MB, while events queue (bounded) and supervision goes on. If it fails (a full disk, say),
/// pruned pages are still reused by new rows; the file just does not shrink, and the next start
/// tries again.
fn switch_to_incremental_vacuum(conn: &Connection, path: &Path) {
    match auto_vacuum(conn) {
        Ok(2) => {}
        Ok(mode) => {
            let started = std::time::Instant::now();
            let result = conn
                .pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .and_then(|()| conn.execute_batch("VACUUM"))
                .and_then(|()| auto_vacuum(conn));
            match result {
                Ok(2) => {
                    tracing::info!(path = %path.display(), was = mode, took_ms = started.elapsed().as_millis() as u64,
                    "persistence: the database now gives pruned pages back (auto_vacuum = incremental, one-time VACUUM)")
                }
                Ok(other) => tracing::warn!(path = %path.display(), mode = other,
                    "persistence: could not switch the database to incremental auto-vacuum; it will not shrink"),
                Err(error) => tracing::warn!(path = %path.display(), %error,
                    "persistence: the one-time VACUUM failed (is the disk full?); pruned pages are reused but the file does not shrink; retried at the next start"),
            }
        }
        Err(error) => tracing::warn!(path = %path.display(), %error, "persistence: cannot read auto_vacuum"),
    }
}

/// Open the database read-only (for the HTTP layer, tools and tests): never creates anything.
pub fn open_read_only(path: &Path) -> Result<Connection, PersistenceError> {
    if !path.exists() {
        return Err(PersistenceError::Missing { path: path.to_owned() });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|source| PersistenceError::Open { path: path.to_owned(), source })?;
    Ok(conn)
}

/// A file's identity, to notice it was deleted or replaced under an open connection.
#[cfg(unix)]
pub(super) fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(super) fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|_| (0, 0))
}

/// Whether the schema has been created (a file the actor never got to migrate reads as empty).
pub(super) fn has_schema(conn: &Connection) -> Result<bool, PersistenceError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(read_error(conn))?;
    Ok(version >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::fixtures::{at, TempDir};
    use crate::persistence::read_status;

    #[test]
    fn a_database_of_the_first_schema_opens_and_keeps_its_rows() {
        let tmp = TempDir::new("upgrade");
        let path = tmp.0.join("old.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            Migrations::from_slice(&MIGRATIONS[..1]).to_latest(&mut conn).unwrap();
            conn.execute(
                "INSERT INTO ibkr_status (account, paper_trading, connected, state, state_since, state_detail, \
                 host, port, client_id, reconnect_attempts, updated_at) VALUES ('Paper', 1, 0, 'reset_window', \
                 '2026-03-09T04:45:00.000Z', '{\"state\":\"reset_window\",\"since\":\"2026-03-09T04:45:00Z\",\
                 \"until\":\"2026-03-09T05:45:00Z\",\"link\":null}', '127.0.0.1', 4002, 1, 0, \
                 '2026-03-09T04:45:00.000Z')",
                [],
            )
            .unwrap();
        }
        let conn = open_database(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len(), "every migration applied");
        let ends: Option<String> =
            conn.query_row("SELECT reset_window_ends_at FROM ibkr_status", [], |r| r.get(0)).unwrap();
        assert_eq!(ends.as_deref(), Some("2026-03-09T05:45:00.000Z"), "filled in from state_detail");
        let stored = read_status(&conn).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].status.state.reset_window_ends_at(), Some(at("2026-03-09T05:45:00Z")));
        assert_eq!((stored[0].status.name.as_str(), stored[0].status.port), ("Paper", 4002));
    }
}
