//! Pacing what the gateway actor writes to the gateway below IB's message rate, orders first
//! ([`crate::pacing`] decides when; this part carries it out).
//!
//! - An order that passed every gate goes in the order lane; a market-data request (a new
//!   subscription, or every subscription again after a reconnect or 1101 — where bursts come
//!   from) in the request lane, at most once per subscription while queued.
//! - Probes and the reconcile's requests are never delayed (a probe held for the rate could
//!   fail a healthy link); they are counted, so what is queued goes that much later.
//! - When the pacer says "not before t", a task of this incarnation wakes the actor at t; the
//!   mailbox never waits.
//! - When the session ends, what waited is answered: a queued order is refused with the
//!   state's reason (never queued to fire on the next connection), a queued market-data
//!   request is dropped (the registry requests every subscription again on the next one).

use std::collections::HashSet;

use tokio::time::Instant;

use super::actor::{GatewayMessage, GatewayState};
use crate::engine::Refusal;
use crate::pacing::{Admission, Lane, Pacer, Release};
use crate::registry::Ticket;

/// A message waiting for its slot.
pub(super) enum Outgoing {
    /// An order that passed the state and liveness gates.
    Order(Box<Ticket>),
    /// A subscription to request on the session it was queued in.
    MarketData {
        /// Its id in the registry.
        id: u64,
        /// The session it is for; on another one it is stale.
        session: u64,
    },
}

/// The gateway's pacer and what it needs beside it.
pub(super) struct Pacing {
    pub(super) pacer: Pacer<Outgoing>,
    /// Subscriptions queued now (each at most once).
    queued_market_data: HashSet<u64>,
    /// The wake-up asked for, if one is pending.
    timer: Option<Instant>,
    /// Messages that waited for the rate since this incarnation started.
    pub(super) delayed: u64,
}

impl Pacing {
    pub(super) fn new(pacer: Pacer<Outgoing>) -> Self {
        Self { pacer, queued_market_data: HashSet::new(), timer: None, delayed: 0 }
    }
}

impl GatewayState {
    /// Write a market-data request now, or when the rate allows.
    pub(super) fn request_market_data(&mut self, id: u64) {
        if self.pacing.queued_market_data.contains(&id) {
            return; // it goes when its turn comes, on the current session
        }
        let item = Outgoing::MarketData { id, session: self.session };
        self.pace(Lane::Request, item);
    }

    /// Write an order now, or as soon as the rate allows (never behind another request).
    pub(super) fn pace_order(&mut self, ticket: Ticket) {
        self.pace(Lane::Order, Outgoing::Order(Box::new(ticket)));
    }

    /// Count `n` messages that went without waiting (probes, reconcile requests).
    pub(super) fn record_unpaced(&mut self, n: usize) {
        let now = Instant::now();
        for _ in 0..n {
            self.pacing.pacer.record(now);
        }
    }

    /// IB answered 100: requests pause for the cool-down; orders keep their share.
    pub(super) fn pacing_violation(&mut self) {
        self.pacing.pacer.violation(Instant::now());
    }

    /// The wake-up asked for came: write what may go now.
    pub(super) fn pacing_due(&mut self, at: Instant) {
        if self.pacing.timer == Some(at) {
            self.pacing.timer = None;
        }
        self.release_paced();
    }

    /// The session ended: refuse the queued orders, forget the queued requests.
    pub(super) fn pacing_session_ended(&mut self) {
        // The session's tasks (the wake-up among them) were aborted with it.
        self.pacing.timer = None;
        self.pacing.queued_market_data.clear();
        let refusal = Refusal::from_state(&self.conn)
            .unwrap_or(Refusal::Disconnected { since: self.conn.since(), last_error: Some("connection lost".into()) });
        for (_, item) in self.pacing.pacer.take_queued() {
            if let Outgoing::Order(ticket) = item {
                tracing::warn!(account = %self.name(), %refusal, "order waiting for the message rate refused: the link ended");
                ticket.refuse(refusal.clone());
            }
        }
    }

    /// How many orders and requests wait for the rate now.
    pub(super) fn paced_waiting(&self) -> (usize, usize) {
        (self.pacing.pacer.queued(Lane::Order), self.pacing.pacer.queued(Lane::Request))
    }

    fn pace(&mut self, lane: Lane, item: Outgoing) {
        let id = match &item {
            Outgoing::MarketData { id, .. } => Some(*id),
            Outgoing::Order(_) => None,
        };
        match self.pacing.pacer.submit(lane, item, Instant::now()) {
            Admission::SendNow(item) => self.write(item),
            Admission::Queued { next_release } => {
                self.pacing.delayed += 1;
                if let Some(id) = id {
                    self.pacing.queued_market_data.insert(id);
                }
                tracing::debug!(account = %self.name(), ?lane, "request waits for the message rate");
                self.wake_at(next_release);
            }
        }
    }

    fn release_paced(&mut self) {
        loop {
            match self.pacing.pacer.release(Instant::now()) {
                Release::Send { item, .. } => {
                    if let Outgoing::MarketData { id, .. } = &item {
                        self.pacing.queued_market_data.remove(id);
                    }
                    self.write(item);
                }
                Release::Wait(at) => {
                    self.wake_at(at);
                    return;
                }
                Release::Empty => return,
            }
        }
    }

    fn write(&mut self, item: Outgoing) {
        match item {
            Outgoing::Order(ticket) => self.write_order(*ticket),
            Outgoing::MarketData { id, session } => {
                if session == self.session {
                    self.write_market_data_request(id);
                }
            }
        }
    }

    fn wake_at(&mut self, at: Instant) {
        if self.pacing.timer.is_some_and(|armed| armed <= at) {
            return; // an earlier wake-up releases and asks again
        }
        self.pacing.timer = Some(at);
        let myself = self.myself.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let _ = myself.send_message(GatewayMessage::PacingDue { at });
        });
    }
}
