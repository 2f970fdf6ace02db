//! Time passing in the gateway's market: once per tick interval every instrument with a working
//! order or a subscriber takes one price step, then the market is polled — fills, stop
//! triggers, expiries — and the resulting events go to the clients that see them. Each round
//! is announced on `round`, which the streaming subscriptions wait on; a round with a fill
//! also bumps `portfolio`, which the account subscriptions wait on.
//!
//! While upstream is lost nothing moves: no steps, no fills ("ticks stop, fills wait").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Gateway;
use crate::sim::handlers::convert;
use crate::sim::market::{EventKind, MarketEvent};

/// Instruments that have a subscriber, counted, so the clock steps them.
#[derive(Default)]
pub(crate) struct Interest(Mutex<HashMap<i32, usize>>);

/// Keeps `con_id` stepping while held (a subscription holds one).
pub(crate) struct Watching {
    gateway: Arc<Gateway>,
    con_id: i32,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut map = self.gateway.interest.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.con_id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.con_id);
            }
        }
    }
}

impl Gateway {
    /// Step `con_id` every round for as long as the returned guard lives.
    pub(crate) fn watch_instrument(self: &Arc<Self>, con_id: i32) -> Watching {
        *self.interest.0.lock().unwrap_or_else(|p| p.into_inner()).entry(con_id).or_default() += 1;
        Watching { gateway: Arc::clone(self), con_id }
    }

    pub(crate) fn spawn_clock(self: &Arc<Self>) {
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let mut clock = tokio::time::interval(gateway.options.tick_interval);
            clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = gateway.shutdown.cancelled() => return,
                    _ = clock.tick() => {}
                }
                if gateway.conditions.borrow().upstream_lost {
                    continue;
                }
                gateway.run_round();
            }
        });
    }

    /// One round: step, poll, deliver, announce.
    pub(crate) fn run_round(&self) {
        let now = self.now();
        let watched: Vec<i32> = self.interest.0.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        let events = {
            let mut market = self.market();
            let mut ids = market.working_instruments();
            ids.extend(watched);
            ids.sort_unstable();
            ids.dedup();
            for con_id in ids {
                let _ = market.step(con_id, now);
            }
            market.poll(now)
        };
        self.deliver(&events);
        self.round.send_modify(|r| *r = r.wrapping_add(1));
    }

    /// Send each event to the connected clients that see it (owner, client 0 for TWS orders,
    /// the master client id); a fill also tells the account subscriptions.
    pub(crate) fn deliver(&self, events: &[MarketEvent]) {
        if events.is_empty() {
            return;
        }
        let master = self.market().options().master_client_id;
        let outboxes = self.outboxes();
        for event in events {
            let replies = convert::event_replies(event, self.tz);
            for client_id in event.recipients(master) {
                for (_, outbox) in outboxes.iter().filter(|(id, _)| *id == client_id) {
                    for reply in &replies {
                        outbox.send(reply);
                    }
                }
            }
        }
        if events.iter().any(|e| matches!(e.kind, EventKind::Execution(_))) {
            self.portfolio.send_modify(|r| *r = r.wrapping_add(1));
        }
    }
}
