//! What outlives an AlertActor incarnation: the delivery counters (shown on `/status`,
//! `/metrics`, `/actors`), the rules' memory (open episodes, the rate-limit window) and the
//! [`Outbox`], one delivery queue per channel with its task. The [`Handle`](crate::Handle)
//! holds it from the start of the tree; each incarnation gets it through its arguments.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::Serialize;

use super::channel::Deliver;
use super::limit::RateLimit;
use super::outbox::Outbox;
use super::rules::{Alert, Memory};

/// Deliveries, for `/status`, `/metrics`, `/actors` and tests — and, beside them, what an
/// incarnation of the AlertActor hands to the next (private: the episodes, the rate-limit
/// window, the queues).
#[derive(Debug, Default)]
pub struct AlertCounters {
    /// Deliveries that reached a channel.
    pub sent: AtomicU64,
    /// Delivery attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Deliveries abandoned: after the last retry (or ahead of a meltdown), and the "recovered"
    /// of an episode whose alert was abandoned on that channel.
    pub given_up: AtomicU64,
    /// Alerts dropped by `alerts.max_per_minute`, and the "recovered" of the episodes so
    /// dropped.
    pub rate_limited: AtomicU64,
    /// The last delivery failure, e.g. "SMTP …: the server does not offer STARTTLS"; cleared
    /// by the next delivery that succeeds.
    pub last_error: Mutex<Option<String>>,
    book: Mutex<Book>,
    outbox: OnceLock<Outbox>,
}

/// The rules' memory, kept across incarnations so that a "recovered" decided after a restart
/// still closes the episode reported before it.
#[derive(Debug, Default)]
pub(super) struct Book {
    /// What the rules remember: the open episodes, by account, and more.
    pub(super) memory: Memory,
    /// The rate limit's window.
    pub(super) limit: RateLimit,
}

/// One channel's queue as `/status` and `/actors` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueView {
    /// `webhook` or `email`.
    pub channel: &'static str,
    /// Alerts waiting, the one being attempted included.
    pub queued: usize,
    /// Failed attempts of the one at the head (it is being retried when above 0).
    pub head_failures: u32,
}

impl AlertCounters {
    /// See [`AlertCounters::last_error`].
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The accounts whose outage is held for the weekly login (see [`Memory::held`]).
    pub fn held_for_login(&self) -> Vec<String> {
        self.book().memory.held()
    }

    /// Each channel's queue (empty until the AlertActor first started).
    pub fn queues(&self) -> Vec<QueueView> {
        self.outbox.get().map(Outbox::views).unwrap_or_default()
    }

    pub(super) fn record(&self, result: &Result<(), String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = result.as_ref().err().cloned();
    }

    pub(super) fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The rules' memory; a panic while it was held leaves it usable (each change to it is
    /// one insert or remove).
    pub(super) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `alert` on every channel (see [`Outbox::push`]); the outbox is started before the
    /// actor subscribes to any event.
    pub(super) fn push(&self, alert: &Alert) -> u64 {
        self.outbox.get().map_or(0, |outbox| outbox.push(alert))
    }

    /// The queues, started by the first incarnation; later ones find them running.
    pub(super) fn outbox(self: &Arc<Self>, channels: &[Arc<dyn Deliver>], retry: &[Duration]) -> &Outbox {
        self.outbox.get_or_init(|| Outbox::start(Arc::downgrade(self), channels, retry))
    }
}
