//! The gates: what the guard knows per account (the last published state, the operator's
//! switch) and the meltdown, and from them the reason an order is refused; for new orders also
//! the quiesce before a reset window (`guard.quiesce_before_reset`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar::{QuiesceConfig, ResetCalendar};
use crate::engine::Refusal;
use crate::status::ConnectionState;

/// What the guard knows per account, written only by the GuardActor.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    pub(super) state: ConnectionState,
    pub(super) paused_since: Option<DateTime<Utc>>,
}

/// The gates of every account; shared with the tick pump.
#[derive(Debug, Default)]
pub struct Gates {
    pub(super) accounts: HashMap<String, Gate>,
    pub(super) meltdown: Option<DateTime<Utc>>,
    /// IB's reset windows and how long before one new orders stop.
    calendar: ResetCalendar,
    quiesce: QuiesceConfig,
}

impl Gates {
    /// Gates that quiesce new orders `quiesce` before each window of `calendar`.
    pub fn new(calendar: ResetCalendar, quiesce: QuiesceConfig) -> Gates {
        Gates { calendar, quiesce, ..Gates::default() }
    }

    /// Why a new order for `account` is refused at `now`: [`Gates::refusal`], or a reset
    /// window about to open. Ticks pass on [`Gates::refusal`] alone.
    pub fn order_refusal(&self, account: &str, now: DateTime<Utc>) -> Option<Refusal> {
        self.refusal(account).or_else(|| {
            let soon = self.calendar.quiesce_at(now, self.quiesce)?;
            Some(Refusal::ResetSoon { starts_at: soon.window.start, starts_in_s: soon.seconds() })
        })
    }

    /// Why `account` is closed, or `None` when orders may flow.
    pub fn refusal(&self, account: &str) -> Option<Refusal> {
        let Some(gate) = self.accounts.get(account) else {
            return Some(Refusal::UnknownAccount { account: account.to_owned() });
        };
        if let Some(at) = self.meltdown {
            return Some(Refusal::Meltdown { at });
        }
        if let Some(since) = gate.paused_since {
            return Some(Refusal::PausedByOperator { since });
        }
        Refusal::from_state(&gate.state)
    }

    /// Whether the operator paused `account`.
    pub fn paused(&self, account: &str) -> bool {
        self.accounts.get(account).is_some_and(|g| g.paused_since.is_some())
    }

    /// Every account's gate, by name.
    pub fn snapshot(&self) -> Vec<GateSnapshot> {
        let mut gates: Vec<GateSnapshot> = self
            .accounts
            .iter()
            .map(|(account, gate)| GateSnapshot {
                account: account.clone(),
                state: gate.state.name(),
                paused_since: gate.paused_since,
                refusal: self.refusal(account).map(|r| r.to_string()),
            })
            .collect();
        gates.sort_by(|a, b| a.account.cmp(&b.account));
        gates
    }
}

/// One account's gate as `/actors` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateSnapshot {
    /// The account.
    pub account: String,
    /// The last published connection state's name.
    pub state: &'static str,
    /// Since when the operator has paused it.
    pub paused_since: Option<DateTime<Utc>>,
    /// Why an order would be refused now (`None`: orders pass).
    pub refusal: Option<String>,
}

/// The gates, shared by the GuardActor (the only writer), the tick pump and the engine's
/// [`Guard`](super::Guard) handle (readers).
pub type SharedGates = Arc<RwLock<Gates>>;

/// A read lock on the gates (a poisoned lock is still read: the gates are always consistent).
/// The guarded port decides every `placeOrder` through it, by [`Gates::refusal`].
pub fn read(gates: &SharedGates) -> std::sync::RwLockReadGuard<'_, Gates> {
    gates.read().unwrap_or_else(|p| p.into_inner())
}
