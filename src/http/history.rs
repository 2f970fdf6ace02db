//! History from the database: `/events` and `/uptime` (each request read on `spawn_blocking`
//! with its own read-only connection), and the dashboard's history ([`HistoryView`]: the
//! last 24 hours' stretches, uptime per day for 7 days from the rollups, the latest events),
//! which no request reads: a refresher task reads it off the runtime after every change of the
//! board (at most once a second) and every [`REFRESH_EVERY`], and the page shows the latest
//! copy, with when it was read and why a refresh failed, if one did.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use ibkr_supervisor_actors::clock::SharedClock;
use ibkr_supervisor_actors::persistence::{
    recent_events, spans, uptime_in, DailyUptime, PersistenceReader, Span, StoredEvent,
};
use ibkr_supervisor_actors::Handle;

/// Days of uptime the dashboard shows (today included).
pub const HISTORY_DAYS: u32 = 7;
/// Events the dashboard lists.
pub const HISTORY_EVENTS: u32 = 20;
/// The dashboard's history is read again at least this often.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// And at most this often (a burst of board changes is one read).
pub const REFRESH_GAP: Duration = Duration::from_secs(1);

/// What the dashboard shows from the database, read at `read_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryView {
    /// When it was read (the supervisor's clock).
    pub read_at: DateTime<Utc>,
    /// Each account's stretches of the 24 hours before `read_at`.
    pub day: BTreeMap<String, Vec<Span>>,
    /// Uptime per account per local day of the trading zone, the last [`HISTORY_DAYS`] days,
    /// the days before today from the daily rollups.
    pub week: Vec<DailyUptime>,
    /// The latest [`HISTORY_EVENTS`] events, newest first.
    pub events: Vec<StoredEvent>,
}

/// The dashboard's copy of the history and how reading it went.
#[derive(Debug, Clone, Default)]
pub struct HistoryCopy {
    /// The latest successful read (`None` before the first).
    pub view: Option<Arc<HistoryView>>,
    /// Why the latest read failed (cleared by the next that succeeds).
    pub error: Option<String>,
    /// Reads made since start.
    pub reads: u64,
}

/// Read access to the history in the database, for `/events`, `/uptime` and the dashboard.
pub trait History: Send + Sync + 'static {
    /// Events, newest first, filtered by account and time, at most `limit`.
    fn events(
        &self,
        account: Option<String>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> BoxFuture<'_, Result<serde_json::Value, String>>;
    /// Uptime per account per day over the last `days` days.
    fn uptime(&self, days: u32) -> BoxFuture<'_, Result<serde_json::Value, String>>;
    /// The dashboard's copy: memory only, never a database read.
    fn dashboard(&self) -> HistoryCopy;
}

/// [`History`] from the database file.
pub struct DbHistory {
    reader: PersistenceReader,
    clock: SharedClock,
    copy: Arc<Mutex<HistoryCopy>>,
    /// The refresher: it ends with this value (the HTTP server's state).
    refresher: tokio::task::JoinHandle<()>,
}

impl Drop for DbHistory {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl DbHistory {
    /// Read `reader`'s file for the supervisor behind `handle`, the dashboard's days in `zone`;
    /// starts the refresher (on the current runtime).
    pub fn start(reader: PersistenceReader, handle: &Handle, zone: chrono_tz::Tz) -> DbHistory {
        let copy = Arc::new(Mutex::new(HistoryCopy::default()));
        let refresher = tokio::spawn(refresh(reader.clone(), handle.clone(), zone, Arc::clone(&copy)));
        DbHistory { reader, clock: handle.clock().clone(), copy, refresher }
    }
}

/// Read the dashboard's history after every board change (at most every [`REFRESH_GAP`]) and
/// at least every [`REFRESH_EVERY`].
async fn refresh(reader: PersistenceReader, handle: Handle, zone: chrono_tz::Tz, copy: Arc<Mutex<HistoryCopy>>) {
    let mut board = handle.board().subscribe();
    let path = reader.path().display().to_string();
    loop {
        let path = path.clone();
        let now = handle.clock().now();
        let read = reader
            .read(move |conn| {
                // One snapshot of the file for the three reads.
                let tx = conn
                    .unchecked_transaction()
                    .map_err(|source| ibkr_supervisor_actors::persistence::PersistenceError::Read { path, source })?;
                let view = HistoryView {
                    read_at: now,
                    day: spans(&tx, now - chrono::Duration::hours(24), now)?,
                    week: uptime_in(&tx, HISTORY_DAYS, now, zone)?,
                    events: recent_events(&tx, None, None, HISTORY_EVENTS)?,
                };
                Ok(view)
            })
            .await;
        {
            let mut copy = copy.lock().unwrap_or_else(|p| p.into_inner());
            copy.reads += 1;
            match read {
                Ok(view) => {
                    copy.view = Some(Arc::new(view));
                    copy.error = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the dashboard's history could not be read; it shows the last copy");
                    copy.error = Some(e.to_string());
                }
            }
        }
        tokio::time::sleep(REFRESH_GAP).await;
        let changed = board.changed();
        tokio::select! {
            result = changed => if result.is_err() {
                tokio::time::sleep(REFRESH_EVERY).await;
            },
            _ = tokio::time::sleep(REFRESH_EVERY.saturating_sub(REFRESH_GAP)) => {}
        }
    }
}

impl History for DbHistory {
    fn events(
        &self,
        account: Option<String>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> BoxFuture<'_, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let events = self.reader.recent_events(account, since, limit).await.map_err(|e| e.to_string())?;
            serde_json::to_value(events).map_err(|e| e.to_string())
        })
    }

    fn uptime(&self, days: u32) -> BoxFuture<'_, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let uptime = self.reader.uptime(days, self.clock.now()).await.map_err(|e| e.to_string())?;
            serde_json::to_value(uptime).map_err(|e| e.to_string())
        })
    }

    fn dashboard(&self) -> HistoryCopy {
        self.copy.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
