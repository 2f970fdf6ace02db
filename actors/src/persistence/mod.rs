//! `PersistenceActor`: the last known status of every account and the history of every
//! connection event, in SQLite, without ever holding up supervision.
//!
//! ```text
//! EventPort ──Event──▶ PersistenceActor ──Command (std mpsc)──▶ writer thread ──▶ SQLite (WAL)
//! StatusBoard ─watch─▶ watcher task ─BoardChanged─┘   (admission bound)        └─▶ JSON-lines mirror
//! ```
//!
//! - **Its own thread.** Every SQLite call runs on one `std::thread` ("ibkr-persistence") fed by
//!   a channel; the actor's handlers only move messages, so the actor answers at once even while
//!   the thread waits on a lock or a slow disk.
//! - **Batches.** The thread takes whatever has accumulated while the previous transaction ran
//!   (at most [`MAX_BATCH_ROWS`] events) and writes it in one transaction, status rows included.
//! - **Status rows coalesce.** Only the latest status of each account matters: a pending status row
//!   is replaced by a newer one, and an unchanged status is not rewritten.
//! - **Bounded, counted, retried.** At most [`MAX_PENDING_EVENTS`] events wait to reach the
//!   database (in the channel or in the thread's queue). Past that, new events are dropped and
//!   *counted* (`PersistenceHealth::dropped`, a rate-limited warning, and a `persistence_gap` row
//!   recording how many were lost and when, written where they were lost). The mirror may lag the
//!   database by as many lines again; past that its oldest lines are dropped and counted the same
//!   way, so a broken mirror never holds the database back. Failed writes stay queued and are
//!   retried with backoff ([`RETRY_FIRST`] doubling to [`RETRY_MAX`]); a `Flush` retries at once.
//!   `pending` in the health counts events not yet in the database, status rows not yet written
//!   and mirror lines not yet appended.
//! - **Faults.** A read-only file, a lock held by another connection ([`BUSY_TIMEOUT`] then retry),
//!   a full disk: supervision goes on, `PersistenceHealth { ok: false, last_error, pending }` is on
//!   the board, one warning is logged (then at most one every 30 s while it lasts, and one info line
//!   when writes land again). A database file that was deleted or replaced while open (its
//!   directory removed, say) is noticed before and after every transaction by its device and inode;
//!   the next retry recreates the directory and a new file and writes every pending row there (the
//!   rows of the deleted file are gone with it).
//! - **Flush on stop.** `post_stop` hands the final board to the thread and waits (at most
//!   [`STOP_FLUSH_WITHIN`], in real time) until everything has landed.
//! - **Reads** ([`uptime`], [`recent_events`], [`read_status`], [`spans`]) take a `&Connection`; the HTTP
//!   layer calls them through [`PersistenceReader`], which runs each on `spawn_blocking` with its
//!   own read-only connection (WAL lets readers run beside the writer), so no read touches the
//!   writer thread or blocks the async runtime. [`load_status`] reads a file's last known status
//!   rows at startup.
//!
//! Every event is stored, farm-OK notices 2104/2106/2158 included: they are real events (when a
//! data farm came back), there are a handful per connection, and the history should show what the
//! gateway said. Uptime is derived from `state_changed` rows only, per UTC day: see [`timeline`] and
//! [`daily_uptime`].
//!
//! **A run or a check** ([`Recording`]). The daemon records a run, as above. `--once` records a
//! check: nothing of its own short-lived tree (no outage at its start, no 'stopped' at its
//! end), only the observation it hands over with [`record_check`]: status rows, and a
//! `state_changed` where the observed state differs from the recorded one (`check.rs`), so
//! periodic checks leave `/uptime` without holes.
//!
//! The parts, one file each: `error.rs` ([`PersistenceError`]), `schema.rs` (opening and the
//! migrations), `rows.rs` (how a status and an event become rows), `read.rs` (the queries and
//! [`PersistenceReader`]), `uptime.rs` (uptime per UTC day from the recorded state changes),
//! `spans.rs` (the stretches of a span of time, for the dashboard's timeline), `check.rs`
//! (what a check records), `writer.rs` (the writer thread) and `actor.rs` (the
//! [`PersistenceActor`]).

use std::time::Duration;

mod actor;
mod check;
mod error;
mod maintenance;
mod outages;
mod read;
mod retention;
mod rollups;
mod rows;
mod schema;
mod spans;
mod uptime;
mod writer;

#[cfg(test)]
mod fixtures;

pub use actor::{
    confirm_switch, flush, health, record_check, stats, stop_last, PersistenceActor, PersistenceArgs,
    PersistenceMessage, PersistenceSnapshot, PersistenceState, SETTLE_WITHIN,
};
pub use check::Recording;
pub use error::PersistenceError;
pub use outages::{outages, Outage};
pub use read::{
    load_status, paused_accounts, read_status, recent_events, PersistenceReader, StoredEvent, MAX_EVENTS_PER_QUERY,
};
pub use retention::{prune_step, vacuum_step, Retention, AUDIT_KINDS, PRUNE_ROWS_PER_STEP, VACUUM_PAGES_PER_STEP};
pub use rows::{timestamp, StoredStatus};
pub use schema::{open_database, open_read_only};
pub use spans::{spans, Span};
pub use uptime::{
    daily_uptime, day_bounds, local_day, timeline, uptime, uptime_in, Availability, DailyUptime, Slot, StateChange,
    Timeline, MAX_UPTIME_DAYS,
};
pub use writer::PersistenceStats;

/// Events that may wait to land (in the channel or the writer's queue) before new ones are dropped.
pub const MAX_PENDING_EVENTS: u64 = 100_000;
/// Most events written in one transaction.
pub const MAX_BATCH_ROWS: usize = 5_000;
/// How long one write waits for a lock held by another connection before it counts as failed.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// First wait before retrying a failed write; doubled after each failure up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long `post_stop` waits for the last writes to land.
pub const STOP_FLUSH_WITHIN: Duration = Duration::from_secs(1);
/// Event `kind` of the row that records dropped events.
pub const GAP_KIND: &str = "persistence_gap";
/// At most one "still failing" warning per this interval.
const LOG_EVERY: Duration = Duration::from_secs(30);
/// The board's copy of the health is refreshed at least this often while counters move.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Batch durations kept for [`PersistenceStats`].
const RECENT_BATCHES: usize = 4096;
