//! The bounded queue in front of the tick pump, and the pump that delivers queued ticks through
//! the gate: ticks never pass through the GuardActor's mailbox, so a flood cannot starve orders.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::counters::GuardStats;
use super::gates::{read, SharedGates};
use super::{SKIP_WARN_EVERY, TICK_QUEUE};
use crate::engine::{Tick, TickReceiver};

/// A tick on its way to the engine.
struct Queued {
    tick: Tick,
    sink: TickReceiver,
    /// For supervisor subscriptions: cleared when the engine's receiver is gone.
    alive: Option<Arc<AtomicBool>>,
}

/// The bounded queue in front of the tick pump.
#[derive(Clone)]
pub struct TickQueue {
    tx: mpsc::Sender<Queued>,
}

impl TickQueue {
    /// Enqueue, or give the tick back when the queue is full (it is shed).
    pub(super) fn offer(&self, tick: Tick, sink: TickReceiver, alive: Option<Arc<AtomicBool>>) -> Result<(), Tick> {
        self.tx.try_send(Queued { tick, sink, alive }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q.tick,
        })
    }
}

/// Ticks the pump takes off the queue per wake-up.
const PUMP_BATCH: usize = 256;

/// Start the pump that delivers queued ticks through the gate; it lives as long as the queue.
/// Per tick: one hash lookup and one atomic load; no lock, no allocation.
pub fn tick_pump(gates: SharedGates, stats: Arc<GuardStats>) -> TickQueue {
    let (tx, mut rx) = mpsc::channel::<Queued>(TICK_QUEUE);
    tokio::spawn(async move {
        let mut last_warning: HashMap<String, Instant> = HashMap::new();
        let mut batch = Vec::with_capacity(PUMP_BATCH);
        while rx.recv_many(&mut batch, PUMP_BATCH).await > 0 {
            for Queued { tick, sink, alive } in batch.drain(..) {
                let Some(counters) = stats.accounts.get(&tick.account) else { continue };
                // A gap always reaches the engine: it says ticks may be missing, which is
                // true whether or not the account is usable right now.
                let gap = matches!(tick.event, crate::engine::MarketEvent::Gap { .. });
                if gap || counters.open.load(Ordering::Acquire) {
                    if sink(tick) {
                        counters.ticks_passed.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(alive) = alive {
                        alive.store(false, Ordering::Relaxed);
                    }
                    continue;
                }
                counters.ticks_skipped.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if last_warning.get(&tick.account).is_none_or(|t| now.duration_since(*t) >= SKIP_WARN_EVERY) {
                    last_warning.insert(tick.account.clone(), now);
                    let reason = read(&gates).refusal(&tick.account).map(|r| r.to_string()).unwrap_or_default();
                    tracing::warn!(account = %tick.account, %reason, "ticks skipped while the account is not usable");
                }
            }
            // A flood must not hold the worker: orders and heartbeats run between batches.
            tokio::task::yield_now().await;
        }
    });
    TickQueue { tx }
}
