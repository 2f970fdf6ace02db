//! What went through the guard, per account: orders passed and refused, ticks passed, skipped
//! and shed; and each account's gate mirrored into one atomic flag for the tick pump.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use super::gates::Gates;

/// Counters per account, for `/metrics`, and the account's gate mirrored for the tick pump.
#[derive(Debug, Default)]
pub struct AccountCounters {
    /// True while ticks may pass: written only by the GuardActor (after every change of the
    /// gates), read by the pump with one atomic load instead of a lock per tick.
    pub open: AtomicBool,
    /// Orders handed to the gateway.
    pub orders_passed: AtomicU64,
    /// Orders answered `Refused`.
    pub orders_refused: AtomicU64,
    /// Ticks delivered to the engine.
    pub ticks_passed: AtomicU64,
    /// Ticks held back while the account was not usable.
    pub ticks_skipped: AtomicU64,
    /// Ticks dropped because the queue was full.
    pub ticks_shed: AtomicU64,
}

/// All counters; fixed set of accounts.
#[derive(Debug, Default)]
pub struct GuardStats {
    pub(super) accounts: HashMap<String, AccountCounters>,
}

impl GuardStats {
    /// Zeroed counters for `accounts` (the set is fixed).
    pub fn new<'a>(accounts: impl IntoIterator<Item = &'a str>) -> Self {
        Self { accounts: accounts.into_iter().map(|a| (a.to_owned(), AccountCounters::default())).collect() }
    }

    pub(super) fn bump(&self, account: &str, counter: impl Fn(&AccountCounters) -> &AtomicU64) {
        if let Some(c) = self.accounts.get(account) {
            counter(c).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Mirror every account's gate into its `open` flag.
    pub(super) fn sync_open(&self, gates: &Gates) {
        for (account, counters) in &self.accounts {
            counters.open.store(gates.refusal(account).is_none(), Ordering::Release);
        }
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Vec<GuardCounts> {
        let mut counts: Vec<GuardCounts> = self
            .accounts
            .iter()
            .map(|(account, c)| GuardCounts {
                account: account.clone(),
                orders_passed: c.orders_passed.load(Ordering::Relaxed),
                orders_refused: c.orders_refused.load(Ordering::Relaxed),
                ticks_passed: c.ticks_passed.load(Ordering::Relaxed),
                ticks_skipped: c.ticks_skipped.load(Ordering::Relaxed),
                ticks_shed: c.ticks_shed.load(Ordering::Relaxed),
            })
            .collect();
        counts.sort_by(|a, b| a.account.cmp(&b.account));
        counts
    }
}

/// A copy of one account's counters (see [`AccountCounters`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardCounts {
    /// The account.
    pub account: String,
    /// Orders handed to the gateway.
    pub orders_passed: u64,
    /// Orders answered `Refused`.
    pub orders_refused: u64,
    /// Ticks delivered to the engine.
    pub ticks_passed: u64,
    /// Ticks held back while the account was not usable.
    pub ticks_skipped: u64,
    /// Ticks dropped because the queue was full.
    pub ticks_shed: u64,
}
