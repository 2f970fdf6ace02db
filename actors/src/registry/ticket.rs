//! [`Ticket`]: an order on its way, which cannot vanish. It travels with the order from the
//! engine's handle through the guard's and the gateway's mailboxes into the task that writes
//! it and follows its stream. Wherever it is dropped without a final answer — a mailbox
//! discarded with a killed actor, a task aborted with its gateway incarnation, a shutdown —
//! its `Drop` tells the engine `Failed` at once, saying whether the order can have reached the
//! gateway; the registry keeps the order, so the next connection's reconcile reports what
//! actually happened.

use super::AccountRegistry;
use crate::engine::{OrderEvent, OrderRequest};

/// An order in flight and the guarantee that the engine hears of it.
pub struct Ticket {
    registry: AccountRegistry,
    id: u64,
    /// The order (its sink is the registry's too).
    pub request: OrderRequest,
}

impl Ticket {
    /// Track `request` in `registry` (which gives it an orderRef if it has none).
    pub fn new(registry: AccountRegistry, mut request: OrderRequest, now: chrono::DateTime<chrono::Utc>) -> Self {
        let id = registry.track(&mut request, now);
        Self { registry, id, request }
    }

    /// The registry's id of this order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The account's registry.
    pub fn registry(&self) -> &AccountRegistry {
        &self.registry
    }

    /// Deliver an event of this order (idempotently, see [`AccountRegistry::deliver`]).
    pub fn send(&self, event: OrderEvent) -> bool {
        self.registry.deliver(self.id, event)
    }

    /// Refuse the order: answered at once, and forgotten.
    pub fn refuse(self, reason: crate::engine::Refusal) {
        let (account, order_id) = (self.request.account.clone(), self.request.order_id);
        self.send(OrderEvent::Refused { account, order_id, reason });
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.ticket_dropped(self.id);
    }
}
