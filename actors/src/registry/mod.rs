//! The durable facts of each account, kept outside the GatewayActor so they outlive any one
//! incarnation of it: the market-data subscriptions the engine asked for, the orders still in
//! flight (each behind a [`Ticket`]), and the lease on the account's one gateway connection.
//!
//! The root supervisor builds one [`Registry`] beside the directory and hands each gateway
//! incarnation its [`AccountRegistry`]. While an incarnation is alive it is the only writer of
//! its account's subscriptions and order progress; the guard only adds tickets and the engine's
//! handle only removes subscriptions. A new incarnation (after a panic, a stuck-kill or a plain
//! restart) starts by reading it: it re-requests every subscription (subscribers get a `Gap`)
//! and reconciles every order still in flight.
//!
//! Every order event reaches the engine through [`AccountRegistry::deliver`], which applies it
//! idempotently (status by (status, filled), fills by execution id), so an event that arrives
//! both on the order's own stream and on the order-update stream, or again from a reconcile
//! snapshot, is delivered once. The parts: `orders.rs` (tracked orders, delivery, the
//! reconcile decision), `ticket.rs` (the guarantee that every order gets an answer).

mod orders;
mod ticket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ibapi::contracts::Contract;

pub use orders::{decide, is_terminal, Decision, Found, GatewayFill, GatewayOrder, OrderEntry, ReconcileReport, Stage};
pub use ticket::Ticket;

use crate::engine::TickSink;

/// One account's durable facts; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct AccountRegistry {
    facts: Arc<Mutex<Facts>>,
    lease: Arc<tokio::sync::Mutex<()>>,
}

/// A market-data subscription the engine keeps until it unsubscribes or its sink refuses.
#[derive(Clone)]
pub struct SubscriptionEntry {
    /// Its id, unique per account for the life of the process.
    pub id: u64,
    /// What it is for.
    pub contract: Contract,
    /// Where its events go.
    pub sink: TickSink,
    /// Requested on some connection already (a later request follows a gap).
    pub requested: bool,
}

#[derive(Default)]
pub(crate) struct Facts {
    pub(crate) subscriptions: Vec<SubscriptionEntry>,
    next_subscription: u64,
    pub(crate) orders: HashMap<u64, OrderEntry>,
    pub(crate) next_ticket: u64,
    /// Bumped for every order written to a gateway: a reconcile judges only orders written
    /// before its snapshots were asked for.
    pub(crate) writes: u64,
}

impl AccountRegistry {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease on the account's connection: a connect attempt holds it from before the TCP
    /// connect until that connection's socket is closed, so a new incarnation never opens a
    /// second session beside a zombie one (and gets its primary client id back).
    pub fn lease(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.lease)
    }

    /// Keep a new subscription; its id.
    pub fn add_subscription(&self, contract: Contract, sink: TickSink) -> u64 {
        let mut facts = self.lock();
        facts.next_subscription += 1;
        let id = facts.next_subscription;
        facts.subscriptions.push(SubscriptionEntry { id, contract, sink, requested: false });
        id
    }

    /// End a subscription for good; false if it was not kept.
    pub fn remove_subscription(&self, id: u64) -> bool {
        let mut facts = self.lock();
        let before = facts.subscriptions.len();
        facts.subscriptions.retain(|s| s.id != id);
        facts.subscriptions.len() != before
    }

    /// Note that `id` is being requested on a new connection; true if it was requested on an
    /// earlier one (its subscriber may have missed ticks).
    pub fn mark_requested(&self, id: u64) -> bool {
        let mut facts = self.lock();
        let Some(sub) = facts.subscriptions.iter_mut().find(|s| s.id == id) else { return false };
        std::mem::replace(&mut sub.requested, true)
    }

    /// One subscription.
    pub fn subscription(&self, id: u64) -> Option<SubscriptionEntry> {
        self.lock().subscriptions.iter().find(|s| s.id == id).cloned()
    }

    /// Every subscription kept.
    pub fn subscriptions(&self) -> Vec<SubscriptionEntry> {
        self.lock().subscriptions.clone()
    }

    /// Orders not yet settled (for `/actors`).
    pub fn orders_in_flight(&self) -> usize {
        self.lock().orders.values().filter(|o| !o.is_settled()).count()
    }
}

/// Every account's [`AccountRegistry`], built once per process from the settings.
#[derive(Clone, Default)]
pub struct Registry {
    accounts: Arc<HashMap<String, AccountRegistry>>,
}

impl Registry {
    /// One empty registry per account.
    pub fn new<'a>(accounts: impl IntoIterator<Item = &'a str>) -> Self {
        Self { accounts: Arc::new(accounts.into_iter().map(|a| (a.to_owned(), AccountRegistry::default())).collect()) }
    }

    /// The registry of `account`.
    pub fn account(&self, account: &str) -> Option<AccountRegistry> {
        self.accounts.get(account).cloned()
    }
}
