//! Placing orders: the owner of the connection checks its state again, then the liveness gate
//! (`orders.max_silence`): an order is written only after a fresh sign of life, else a probe
//! runs first and a failed probe refuses it "gateway not answering" — it never reaches a dead
//! socket. The task that writes it owns its [`Ticket`] and follows its stream; every event
//! goes to the engine through the account's registry (once each).

use std::sync::Arc;
use std::time::Duration;

use ibapi::orders::PlaceOrder;
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ractor::ActorRef;
use tokio::time::Instant;

use super::actor::{GatewayMessage, GatewayState};
use crate::engine::{OrderEvent, Refusal};
use crate::registry::Ticket;

/// After a terminal status, how long an order's stream is kept for its commission report.
const COMMISSION_GRACE: Duration = Duration::from_millis(500);

impl GatewayState {
    pub(super) fn place_order(&mut self, myself: &ActorRef<GatewayMessage>, ticket: Ticket) {
        // The owner of the fact checks again: an order racing a disconnect is refused here.
        let Some((ticket, ..)) = self.usable_or_refuse(ticket) else { return };
        let silent = self.liveness.silent_for();
        if silent > self.args.orders.max_silence {
            // No fresh sign of life: prove the link first (bounded by the probe timeout).
            tracing::debug!(account = %self.name(), silent_ms = silent.as_millis() as u64, "order waits for a probe");
            self.awaiting_probe.push(ticket);
            self.start_probe(myself);
            return;
        }
        // Within IB's message rate, ahead of every other request.
        self.pace_order(ticket);
    }

    /// The ticket back with the session's client and client id if the account is usable now;
    /// otherwise it is refused with the reason.
    fn usable_or_refuse(&self, ticket: Ticket) -> Option<(Ticket, Arc<ibapi::Client>, i32)> {
        if let (true, Some(client), Some(client_id)) = (self.conn.is_usable(), self.client(), self.conn.link()) {
            return Some((ticket, client, client_id));
        }
        let reason = Refusal::from_state(&self.conn)
            .unwrap_or(Refusal::Disconnected { since: self.conn.since(), last_error: Some("no client".into()) });
        tracing::warn!(account = %self.name(), order_id = ?ticket.request.order_id, %reason, "order refused by the gateway");
        ticket.refuse(reason);
        None
    }

    /// Write the order now (its turn came) and follow its stream.
    pub(super) fn write_order(&mut self, ticket: Ticket) {
        let Some((ticket, client, client_id)) = self.usable_or_refuse(ticket) else { return };
        let account = self.args.account.name.clone();
        let order_id = ticket.request.order_id.unwrap_or_else(|| client.next_order_id());
        let order_ref = ticket.request.order.order_ref.clone();
        ticket.registry().written(ticket.id(), client_id, order_id);
        tracing::info!(%account, order_id, client_id, %order_ref, symbol = %ticket.request.contract.symbol,
            action = ?ticket.request.order.action, quantity = ticket.request.order.total_quantity, "placing order");
        let liveness = Arc::clone(&self.liveness);
        self.tasks.spawn(async move {
            let request = &ticket.request;
            let mut events = match client.place_order(order_id, &request.contract, &request.order).await {
                Ok(events) => events,
                Err(e) => {
                    let error = format!("not placed: {e}");
                    ticket.send(OrderEvent::Failed { order_id: Some(order_id), order_ref, error });
                    return;
                }
            };
            ticket.send(OrderEvent::Sent { account, order_id, client_id, order_ref: order_ref.clone() });
            let mut grace: Option<Instant> = None;
            loop {
                let next = match grace {
                    Some(until) => match tokio::time::timeout_at(until, events.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    },
                    None => events.next().await,
                };
                match next {
                    Some(Ok(SubscriptionItem::Data(event))) => {
                        liveness.touch();
                        let (event, perm_id, terminal) = order_event(order_id, event);
                        if let Some(perm_id) = perm_id {
                            ticket.registry().route(client_id, order_id, perm_id, &order_ref);
                        }
                        ticket.send(event);
                        if terminal && grace.is_none() {
                            grace = Some(Instant::now() + COMMISSION_GRACE);
                        }
                    }
                    Some(Ok(SubscriptionItem::Notice(notice))) => {
                        liveness.touch();
                        tracing::info!(order_id, code = notice.code, message = %notice.message, "order notice");
                    }
                    Some(Err(e)) => {
                        let error = format!("order stream broke: {e}; reconciliation follows after the reconnect");
                        ticket.send(OrderEvent::Failed { order_id: Some(order_id), order_ref, error });
                        return;
                    }
                    None => break,
                }
            }
            // Dropping the ticket now answers `Failed` unless a final status was delivered.
        });
    }
}

/// An ibapi order event as the engine sees it, its perm id when it carries one, and whether
/// it is a terminal status.
pub(super) fn order_event(order_id: i32, event: PlaceOrder) -> (OrderEvent, Option<i64>, bool) {
    match event {
        PlaceOrder::OpenOrder(open) => {
            let status = open.order_state.status.as_str().to_owned();
            (OrderEvent::Open { order_id, status }, Some(open.order.perm_id).filter(|p| *p != 0), false)
        }
        PlaceOrder::OrderStatus(s) => {
            let status = s.status.as_str().to_owned();
            let terminal = s.status.is_terminal();
            let event = OrderEvent::Status {
                order_id,
                status,
                filled: s.filled,
                remaining: s.remaining,
                avg_fill_price: s.average_fill_price.filter(|_| s.filled > 0.0),
            };
            (event, Some(s.perm_id).filter(|p| *p != 0), terminal)
        }
        PlaceOrder::ExecutionData(e) => (
            OrderEvent::Execution {
                order_id,
                exec_id: e.execution.execution_id,
                shares: e.execution.shares,
                price: e.execution.price,
            },
            Some(e.execution.perm_id).filter(|p| *p != 0),
            false,
        ),
        PlaceOrder::CommissionReport(c) => (
            OrderEvent::Commission { exec_id: c.execution_id, commission: c.commission, currency: c.currency },
            None,
            false,
        ),
    }
}
