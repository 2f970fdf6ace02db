//! [`StatusBoard`]: the in-memory status every reader shares (HTTP, `--once`, the persistence
//! actor), so no request reads the database. Each fact has one writer (see [`AccountStatus`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::{AccountMetrics, AccountStatus};
use crate::settings::AccountSettings;

/// Why the supervisor gave up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meltdown {
    /// When the restart limit was passed.
    pub at: DateTime<Utc>,
    /// The child that failed once too often.
    pub actor: String,
    /// Why, with the count and window.
    pub reason: String,
}

/// How the database is doing; a failing database never stops supervision, and shows here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersistenceHealth {
    /// False while writes fail.
    pub ok: bool,
    /// What the last failed write said (cleared when writes land again).
    pub last_error: Option<String>,
    /// Writes waiting to land (retried until they do).
    pub pending: u64,
    /// Writes dropped because the pending queue was full (counted, never silent).
    pub dropped: u64,
    /// Rows written since start.
    pub written: u64,
}

/// The whole board at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardSnapshot {
    /// When the supervisor started.
    pub started_at: DateTime<Utc>,
    /// The status of every account, in settings order.
    pub accounts: Vec<AccountStatus>,
    /// The running figures of every account, by name.
    pub metrics: BTreeMap<String, AccountMetrics>,
    /// Set once, when the restart limit is passed.
    pub meltdown: Option<Meltdown>,
    /// `None` until the persistence actor reports.
    pub persistence: Option<PersistenceHealth>,
}

impl BoardSnapshot {
    /// A board of `accounts`, all disconnected since `now`.
    pub fn new(accounts: &[AccountSettings], now: DateTime<Utc>) -> Self {
        BoardSnapshot {
            started_at: now,
            accounts: accounts.iter().map(|a| AccountStatus::new(a, now)).collect(),
            metrics: accounts.iter().map(|a| (a.name.clone(), AccountMetrics::new(now))).collect(),
            meltdown: None,
            persistence: None,
        }
    }

    /// The status of the account called `name`.
    pub fn account(&self, name: &str) -> Option<&AccountStatus> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Percentage of today `name` was usable (see [`AccountMetrics::uptime_today_pct`]).
    pub fn uptime_today_pct(&self, name: &str, now: DateTime<Utc>) -> Option<f64> {
        let status = self.account(name)?;
        self.metrics.get(name)?.uptime_today_pct(&status.state, now)
    }
}

/// The in-memory status every reader shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct StatusBoard {
    tx: Arc<watch::Sender<BoardSnapshot>>,
}

impl StatusBoard {
    /// A board of `accounts`, all disconnected since `now`.
    pub fn new(accounts: &[AccountSettings], now: DateTime<Utc>) -> Self {
        Self { tx: Arc::new(watch::channel(BoardSnapshot::new(accounts, now)).0) }
    }

    /// Change one account's status (no-op for an unknown name); readers wake only when it
    /// really changed.
    pub fn update(&self, account: &str, change: impl FnOnce(&mut AccountStatus)) {
        self.tx.send_if_modified(|board| match board.accounts.iter_mut().find(|a| a.name == account) {
            Some(status) => {
                let before = status.clone();
                change(status);
                *status != before
            }
            None => false,
        });
    }

    /// Change one account's running figures (no-op for an unknown name).
    pub fn update_metrics(&self, account: &str, change: impl FnOnce(&mut AccountMetrics)) {
        self.tx.send_if_modified(|board| match board.metrics.get_mut(account) {
            Some(metrics) => {
                change(metrics);
                true
            }
            None => false,
        });
    }

    /// Record the meltdown (every guard reads it and closes).
    pub fn set_meltdown(&self, meltdown: Meltdown) {
        self.tx.send_modify(|board| board.meltdown = Some(meltdown));
    }

    /// Show the database's health.
    pub fn set_persistence(&self, health: PersistenceHealth) {
        self.tx.send_if_modified(|board| {
            let changed = board.persistence.as_ref() != Some(&health);
            board.persistence = Some(health);
            changed
        });
    }

    /// A copy of the whole board.
    pub fn snapshot(&self) -> BoardSnapshot {
        self.tx.borrow().clone()
    }

    /// A copy of one account's status.
    pub fn account(&self, name: &str) -> Option<AccountStatus> {
        self.tx.borrow().account(name).cloned()
    }

    /// Wake on every change.
    pub fn subscribe(&self) -> watch::Receiver<BoardSnapshot> {
        self.tx.subscribe()
    }

    /// Wait until `check` holds for the board (or the deadline passes): for `--once` and tests.
    pub async fn wait_for(
        &self,
        within: std::time::Duration,
        check: impl FnMut(&BoardSnapshot) -> bool,
    ) -> Result<BoardSnapshot, BoardSnapshot> {
        let mut rx = self.subscribe();
        let found = tokio::time::timeout(within, async { rx.wait_for(check).await.map(|board| board.clone()) }).await;
        match found {
            Ok(Ok(board)) => Ok(board),
            _ => Err(self.snapshot()),
        }
    }
}
