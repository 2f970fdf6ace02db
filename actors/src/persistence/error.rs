//! [`PersistenceError`]: what went wrong with the database, phrased so the operator knows what
//! to check, and the hint for each SQLite error code.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// What went wrong with the database, phrased so the operator knows what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// The database directory could not be created.
    #[error(
        "cannot create the database directory \"{dir}\": {source} (is its parent writable, and is no file in the way?)"
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// The file could not be opened.
    #[error("cannot open database \"{path}\": {source} (is the directory writable?)")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The busy timeout, WAL mode or synchronous setting could not be set.
    #[error("cannot configure database \"{path}\" (busy timeout, WAL mode): {source} ({hint})")]
    Configure {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
        /// What to check, by SQLite's error code.
        hint: &'static str,
    },
    /// The schema migrations could not be applied.
    #[error("cannot apply the schema migrations to database \"{path}\": {source} (was it written by a newer ibkr-supervisor, or is it another program's file? set database.path to a new file)")]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The migration's error.
        source: rusqlite_migration::Error,
    },
    /// A transaction failed (the rows stay queued and are retried).
    #[error("cannot write to database \"{path}\": {source} ({hint})")]
    Write {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
        /// What to check, by SQLite's error code.
        hint: &'static str,
    },
    /// The open file was deleted or replaced.
    #[error("database file \"{path}\" was deleted or replaced while open (was its directory removed?); a new file is created on the next retry and the pending rows are written there")]
    Vanished {
        /// The file.
        path: PathBuf,
    },
    /// The JSON-lines mirror could not be appended to.
    #[error("cannot append to the event log \"{path}\": {source} (is its directory writable, and the disk not full?)")]
    EventLog {
        /// The mirror file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A read-only open found no file.
    #[error("no database at \"{path}\" yet (the persistence actor creates it at startup: check database.path)")]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// A query failed.
    #[error("cannot read database \"{path}\": {source}")]
    Read {
        /// The file (`:memory:` for an in-memory database).
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A stored value is not what its column holds.
    #[error("database \"{path}\" holds a malformed {what}: {value:?}")]
    Malformed {
        /// The file.
        path: String,
        /// Which value: `table.column`.
        what: String,
        /// What was found there.
        value: String,
    },
    /// Rolling up, pruning or vacuuming failed; the next maintenance pass tries again.
    #[error("database \"{path}\": {what} failed: {source} (tried again at the next maintenance pass; supervision and event writes go on)")]
    Maintenance {
        /// The file.
        path: String,
        /// Which maintenance.
        what: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The actor did not answer (not running, or too slow).
    #[error("the persistence actor is not running or did not answer in time")]
    Unavailable,
}

impl PersistenceError {
    /// Whether it is a lock held by another connection (the open connection stays usable).
    pub(super) fn is_busy(&self) -> bool {
        match self {
            Self::Write { source, .. } | Self::Configure { source, .. } => {
                matches!(source.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
            }
            _ => false,
        }
    }
}

/// A hint for the operator, by SQLite's error code.
pub(super) fn write_hint(error: &rusqlite::Error) -> &'static str {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another connection holds a lock on it; the writes are kept and retried"
        }
        Some(ErrorCode::ReadOnly) => {
            "the file, its directory or its filesystem is read-only; the writes are kept and retried"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; the writes are kept and retried",
        Some(ErrorCode::CannotOpen) => "is the directory writable, and does it still exist?",
        Some(ErrorCode::SystemIoFailure) => {
            "an I/O error: was the file or its directory removed, or is the disk failing? the writes are kept and retried"
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "the file is not a healthy SQLite database: move it away and a new one is created"
        }
        _ => "the writes are kept and retried",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    #[test]
    fn errors_say_what_to_check() {
        let e = Connection::open_with_flags("/nonexistent-dir/x.db", OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap_err();
        let message = PersistenceError::Open { path: "x.db".into(), source: e }.to_string();
        assert!(message.starts_with("cannot open database \"x.db\": "), "{message}");
        assert!(message.ends_with("(is the directory writable?)"), "{message}");
        let message = PersistenceError::Missing { path: "y.db".into() }.to_string();
        assert!(message.contains("check database.path"), "{message}");
    }
}
