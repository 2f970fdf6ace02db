//! Helpers the persistence unit tests share.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::settings::Settings;
use crate::status::{EventKind, StatusEvent};

/// An RFC 3339 time.
pub(super) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An event of `account` at the RFC 3339 time `t`.
pub(super) fn event(account: &str, t: &str, kind: EventKind) -> StatusEvent {
    StatusEvent::new(account, at(t), kind)
}

/// Accounts "Paper" (4002, client 1) and "Live" (4001, client 2), the rest defaults.
pub(super) fn settings() -> Settings {
    Settings::from_json_str(
        r#"{"accounts": [
            {"name": "Paper", "paper_trading": true, "host": "127.0.0.1", "port": 4002, "client_id": 1},
            {"name": "Live", "paper_trading": false, "host": "127.0.0.1", "port": 4001, "client_id": 2}]}"#,
    )
    .unwrap()
}

/// A temporary directory removed on drop (the actors crate has no tempfile dependency).
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ibkr-persistence-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
