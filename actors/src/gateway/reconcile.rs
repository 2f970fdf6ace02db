//! Settling orders after a reconnect, as ibapi documents it (`orders/async.rs`,
//! `order_update_stream`, "Gaps and recovery"): the order-update stream first, then the
//! snapshots — every client's open orders, the completed orders, and the executions with
//! `last_n_days` reaching back to the oldest order in flight (the daily reset window spans
//! midnight, and a default filter covers today only). Every event, from either source, reaches
//! the engine through the registry, which applies it once.
//!
//! Orders placed under another client id (a fallback id, an earlier run) are found by their
//! perm id or orderRef in the all-client snapshots; since this connection's streams never
//! report them, the snapshots are taken again at every heartbeat until they are settled. An
//! order seen nowhere is reported `Unknown`, alerted, and looked for again the same way.

use ibapi::orders::{ExecutionFilter, Executions, OrderUpdate, Orders, PlaceOrder};
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ibapi::Client;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;

use super::actor::{GatewayMessage, GatewayState};
use super::orders::order_event;
use crate::registry::{Found, GatewayFill, GatewayOrder};
use crate::status::EventKind;

/// The snapshots together may take this long.
const SNAPSHOTS_WITHIN: Duration = Duration::from_secs(10);
/// Settled orders are forgotten this long after (a late commission report still finds them).
const SETTLED_GRACE: Duration = Duration::from_secs(5);
/// The most days back reqExecutions reaches (IB's Trade Log maximum).
const MAX_DAYS: i64 = 7;

impl GatewayState {
    /// On every new connection: this session's order-update stream, which delivers updates
    /// of every followed order of this client id; once it is live, the snapshots.
    pub(super) fn follow_orders(&mut self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client() else { return };
        self.record_unpaced(1);
        let (registry, liveness) = (self.args.registry.clone(), Arc::clone(&self.liveness));
        let (myself, session) = (myself.clone(), self.session);
        self.tasks.spawn(async move {
            let updates = client.order_update_stream().await;
            let _ = myself.send_message(GatewayMessage::OrderStreamLive { session });
            let Ok(mut updates) = updates else { return };
            while let Some(Ok(item)) = updates.next().await {
                liveness.touch();
                let SubscriptionItem::Data(update) = item else { continue };
                let (ticket, order_id, event) = match update {
                    OrderUpdate::OrderStatus(s) => {
                        (registry.route(s.client_id, s.order_id, s.perm_id, ""), s.order_id, PlaceOrder::OrderStatus(s))
                    }
                    OrderUpdate::OpenOrder(o) => {
                        let ticket = registry.route(o.order.client_id, o.order_id, o.order.perm_id, &o.order.order_ref);
                        (ticket, o.order_id, PlaceOrder::OpenOrder(o))
                    }
                    OrderUpdate::ExecutionData(e) => {
                        let x = &e.execution;
                        let ticket = registry.route(x.client_id, x.order_id, x.perm_id, &x.order_reference);
                        (ticket, x.order_id, PlaceOrder::ExecutionData(e))
                    }
                    OrderUpdate::CommissionReport(c) => {
                        (registry.route_exec(&c.execution_id), 0, PlaceOrder::CommissionReport(c))
                    }
                    _ => continue,
                };
                if let Some(ticket) = ticket {
                    registry.deliver(ticket, order_event(order_id, event).0);
                }
            }
        });
    }

    /// Take the snapshots (at most one run at a time).
    pub(super) fn start_reconcile(&mut self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client() else { return };
        let Some(oldest) = self.args.registry.unsettled() else { return };
        if self.reconciling {
            return;
        }
        self.reconciling = true;
        // Open orders, completed orders, executions: never delayed, but counted.
        self.record_unpaced(3);
        // Days back to the gateway's midnight before the oldest order, whatever its zone.
        let days = ((self.args.clock.now() - oldest).num_days() + 1).clamp(1, MAX_DAYS) as i32;
        let (session, myself) = (self.session, myself.clone());
        let mark = self.args.registry.writes();
        self.tasks.spawn(async move {
            let result = match tokio::time::timeout(SNAPSHOTS_WITHIN, snapshots(&client, days)).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "open orders, completed orders and executions did not arrive within {SNAPSHOTS_WITHIN:?}"
                )),
            };
            let _ = myself.send_message(GatewayMessage::ReconcileDone { session, mark, result });
        });
    }

    /// At a heartbeat: orders this connection's streams cannot follow are looked for again.
    pub(super) fn poll_orders(&mut self, myself: &ActorRef<GatewayMessage>) {
        self.args.registry.sweep(SETTLED_GRACE);
        if let Some(client_id) = self.conn.link() {
            if self.args.registry.needs_polling(client_id) {
                self.start_reconcile(myself);
            }
        }
    }

    pub(super) fn reconcile_done(&mut self, session: u64, mark: u64, result: Result<Found, String>) {
        if session != self.session {
            return;
        }
        self.reconciling = false;
        let found = match result {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "could not reconcile orders after the reconnect");
                self.publish(EventKind::ReconcileFailed { error });
                return;
            }
        };
        tracing::debug!(account = %self.name(), ?found, "reconcile snapshots");
        for report in self.args.registry.reconcile(&found, mark) {
            let account = self.name().to_owned();
            let (order_id, client_id) = (report.order_id, report.client_id);
            if report.after == "Unknown" {
                tracing::error!(%account, order_id, client_id, order_ref = %report.order_ref, last = %report.before,
                    "order seen nowhere at the gateway after the reconnect; kept and looked for again");
                self.publish(EventKind::OrderUnknown {
                    order_id,
                    client_id,
                    order_ref: report.order_ref,
                    last_status: report.before,
                });
            } else {
                tracing::warn!(%account, order_id, client_id, before = %report.before, after = %report.after,
                    filled = report.filled, "order changed during the outage");
                self.publish(EventKind::OrderReconciled {
                    order_id,
                    client_id,
                    before: report.before,
                    after: report.after,
                    filled: report.filled,
                });
            }
        }
        self.args.registry.sweep(SETTLED_GRACE);
    }
}

/// reqAllOpenOrders, reqCompletedOrders(false), reqExecutions(lastNDays = `days`).
async fn snapshots(client: &Client, days: i32) -> Result<Found, String> {
    let mut found = Found::default();
    let text = |e: ibapi::Error| e.to_string();
    let mut open = client.all_open_orders().await.map_err(text)?;
    while let Some(item) = open.next().await {
        match item.map_err(text)? {
            SubscriptionItem::Data(Orders::OrderData(o)) => upsert(&mut found.open, gateway_order(&o)),
            SubscriptionItem::Data(Orders::OrderStatus(s)) => {
                let status = GatewayOrder {
                    client_id: s.client_id,
                    order_id: s.order_id,
                    perm_id: s.perm_id,
                    order_ref: String::new(),
                    status: s.status.as_str().to_owned(),
                    filled: s.filled,
                    avg_fill_price: s.average_fill_price.filter(|_| s.filled > 0.0),
                };
                upsert(&mut found.open, status);
            }
            SubscriptionItem::Notice(_) => {}
        }
    }
    drop(open);
    let mut completed = client.completed_orders(false).await.map_err(text)?;
    while let Some(item) = completed.next().await {
        if let SubscriptionItem::Data(Orders::OrderData(o)) = item.map_err(text)? {
            found.completed.push(gateway_order(&o));
        }
    }
    drop(completed);
    let filter = ExecutionFilter { last_n_days: days, ..ExecutionFilter::default() };
    let mut executions = client.executions(filter).await.map_err(text)?;
    while let Some(item) = executions.next().await {
        if let SubscriptionItem::Data(Executions::ExecutionData(e)) = item.map_err(text)? {
            let x = e.execution;
            found.fills.push(GatewayFill {
                client_id: x.client_id,
                order_id: x.order_id,
                perm_id: x.perm_id,
                order_ref: x.order_reference,
                exec_id: x.execution_id,
                shares: x.shares,
                price: x.price,
            });
        }
    }
    Ok(found)
}

fn gateway_order(o: &ibapi::orders::OrderData) -> GatewayOrder {
    let filled = o.order.filled_quantity;
    GatewayOrder {
        client_id: o.order.client_id,
        order_id: o.order_id,
        perm_id: o.order.perm_id,
        order_ref: o.order.order_ref.clone(),
        status: o.order_state.status.as_str().to_owned(),
        filled: if filled.is_finite() { filled } else { 0.0 },
        avg_fill_price: None,
    }
}

/// Merge an open order's OpenOrder and OrderStatus (the status carries filled and price).
fn upsert(list: &mut Vec<GatewayOrder>, item: GatewayOrder) {
    let same = |o: &GatewayOrder| {
        (item.perm_id != 0 && o.perm_id == item.perm_id)
            || (o.client_id == item.client_id && o.order_id == item.order_id)
    };
    match list.iter_mut().find(|o| same(o)) {
        Some(o) => {
            if item.order_ref.is_empty() {
                o.status = item.status;
                o.filled = o.filled.max(item.filled);
                o.avg_fill_price = item.avg_fill_price.or(o.avg_fill_price);
            } else {
                o.order_ref = item.order_ref;
                o.perm_id = item.perm_id;
            }
        }
        None => list.push(item),
    }
}
