//! The gates: what the guard knows per account (the last published state, the operator's
//! switch) and the meltdown, and from them the reason an order is refused; for new orders also
//! the quiesce before a reset window (`guard.quiesce_before_reset`) and, when
//! `guard.block_orders_on_data_loss` is on, a market-data farm down (learnt from the gateway's
//! [`EventKind::DataPlaneChanged`](crate::status::EventKind::DataPlaneChanged)).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar::{QuiesceConfig, ResetCalendar};
use crate::engine::Refusal;
use crate::farms::FarmSnapshot;
use crate::status::ConnectionState;

/// What the guard knows per account, written only by the GuardActor.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    pub(super) state: ConnectionState,
    pub(super) paused_since: Option<DateTime<Utc>>,
    /// The market-data farm down (the first of them) and since when, if any.
    pub(super) data_lost: Option<(String, DateTime<Utc>)>,
}

impl Gate {
    /// A gate for an account in `state` with its farms as `farms` show them.
    pub(super) fn new(state: ConnectionState, paused_since: Option<DateTime<Utc>>, farms: &FarmSnapshot) -> Gate {
        let mut gate = Gate { state, paused_since, data_lost: None };
        gate.farms(farms);
        gate
    }

    /// The gateway published its farms.
    pub(super) fn farms(&mut self, farms: &FarmSnapshot) {
        self.data_lost = farms.market_data_down().and_then(|farm| Some((farm.name.clone(), farm.down_since?)));
    }
}

/// The gates of every account; shared with the tick pump.
#[derive(Debug, Default)]
pub struct Gates {
    pub(super) accounts: HashMap<String, Gate>,
    pub(super) meltdown: Option<DateTime<Utc>>,
    /// IB's reset windows and how long before one new orders stop.
    calendar: ResetCalendar,
    quiesce: QuiesceConfig,
    /// `guard.block_orders_on_data_loss`.
    block_on_data_loss: bool,
}

impl Gates {
    /// Gates that quiesce new orders `quiesce` before each window of `calendar`, and refuse
    /// them while a market-data farm is down if `block_on_data_loss`.
    pub fn new(calendar: ResetCalendar, quiesce: QuiesceConfig, block_on_data_loss: bool) -> Gates {
        Gates { calendar, quiesce, block_on_data_loss, ..Gates::default() }
    }

    /// Why a new order for `account` is refused at `now`: [`Gates::refusal`], a market-data
    /// farm down (only with `guard.block_orders_on_data_loss`), or a reset window about to
    /// open. Ticks pass on [`Gates::refusal`] alone.
    pub fn order_refusal(&self, account: &str, now: DateTime<Utc>) -> Option<Refusal> {
        self.refusal(account).or_else(|| self.data_lost(account)).or_else(|| {
            let soon = self.calendar.quiesce_at(now, self.quiesce)?;
            Some(Refusal::ResetSoon { starts_at: soon.window.start, starts_in_s: soon.seconds() })
        })
    }

    /// The data-loss refusal, when it blocks orders and a market-data farm is down.
    fn data_lost(&self, account: &str) -> Option<Refusal> {
        if !self.block_on_data_loss {
            return None;
        }
        let (farm, since) = self.accounts.get(account)?.data_lost.clone()?;
        Some(Refusal::DataLost { farm, since })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::farms::{FarmBoard, FarmNotice};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn gates(block: bool, farms: &FarmSnapshot) -> Gates {
        let mut gates = Gates::new(ResetCalendar::default(), QuiesceConfig::default(), block);
        let up = ConnectionState::Connected { since: t(0), client_id: 1 };
        gates.accounts.insert("Paper".into(), Gate::new(up, None, farms));
        gates
    }

    fn farms(notices: &[(i32, &str, i64)]) -> FarmSnapshot {
        let mut board = FarmBoard::new();
        for (code, text, at) in notices {
            board.apply(&FarmNotice::parse(*code, text).unwrap(), t(*at));
        }
        board.snapshot()
    }

    #[test]
    fn a_broken_market_data_farm_refuses_orders_only_when_blocking_is_on() {
        let broken = farms(&[
            (2104, "Market data farm connection is OK:usfarm", 0),
            (2103, "Market data farm connection is broken:usfarm", 7),
        ]);
        assert_eq!(gates(false, &broken).order_refusal("Paper", t(10)), None, "by default orders pass");
        let refusal = gates(true, &broken).order_refusal("Paper", t(10)).unwrap();
        assert_eq!(refusal, Refusal::DataLost { farm: "usfarm".into(), since: t(7) });
        assert_eq!(refusal.to_string(), "market data farm usfarm broken since 2027-01-15T08:00:07Z");
        // Ticks and /status's `refusal` are about the link: a data loss is not a closed link.
        assert_eq!(gates(true, &broken).refusal("Paper"), None);

        // HMDS and sec-def outages never block orders; OK again opens the gate.
        let hmds = farms(&[
            (2105, "HMDS data farm connection is broken:ushmds", 3),
            (2157, "Sec-def data farm connection is broken:secdefil", 4),
        ]);
        assert_eq!(gates(true, &hmds).order_refusal("Paper", t(10)), None);
        let mut blocking = gates(true, &broken);
        blocking.accounts.get_mut("Paper").unwrap().farms(&farms(&[(
            2104,
            "Market data farm connection is OK:usfarm",
            9,
        )]));
        assert_eq!(blocking.order_refusal("Paper", t(10)), None);
    }

    #[test]
    fn a_closed_link_is_named_before_the_data_loss() {
        let broken = farms(&[(2103, "Market data farm connection is broken:usfarm", 7)]);
        let mut gates = gates(true, &broken);
        let down = ConnectionState::Disconnected { since: t(8), last_error: None };
        gates.accounts.get_mut("Paper").unwrap().state = down;
        assert!(matches!(gates.order_refusal("Paper", t(10)), Some(Refusal::Disconnected { .. })));
    }
}
