//! After a reconnect: fetch open orders and today's executions, settle every order followed
//! across the outage, and keep following the interrupted ones on the new connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ibapi::orders::{ExecutionFilter, Executions, OrderUpdate, Orders, PlaceOrder};
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ractor::ActorRef;

use super::actor::{GatewayMessage, GatewayState};
use super::orders::{is_terminal, order_event};
use crate::engine::{OrderEvent, OrderSink};
use crate::status::EventKind;

/// What the gateway reports about orders after a reconnect.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Reconciliation {
    /// (client id, order id) → (status, filled, average fill price) of every open order.
    open: HashMap<(i32, i32), (String, f64, Option<f64>)>,
    /// (client id, order id) → (shares, average price) over today's executions.
    executed: HashMap<(i32, i32), (f64, f64)>,
}

impl GatewayState {
    /// After a reconnect: fetch open orders and executions to settle every followed order.
    pub(super) fn start_reconcile(&mut self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client.clone() else { return };
        let (session, myself) = (self.session, myself.clone());
        tokio::spawn(async move {
            let fetch = async {
                let mut found = Reconciliation::default();
                let mut open = client.all_open_orders().await.map_err(|e| e.to_string())?;
                while let Some(item) = open.next().await {
                    match item.map_err(|e| e.to_string())? {
                        SubscriptionItem::Data(Orders::OrderData(o)) => {
                            let status = o.order_state.status.as_str().to_owned();
                            found.open.entry((o.order.client_id, o.order_id)).or_insert((status, 0.0, None));
                        }
                        SubscriptionItem::Data(Orders::OrderStatus(s)) => {
                            let status = s.status.as_str().to_owned();
                            found.open.insert((s.client_id, s.order_id), (status, s.filled, s.average_fill_price));
                        }
                        SubscriptionItem::Notice(_) => {}
                    }
                }
                let mut executions = client.executions(ExecutionFilter::default()).await.map_err(|e| e.to_string())?;
                while let Some(item) = executions.next().await {
                    if let SubscriptionItem::Data(Executions::ExecutionData(e)) = item.map_err(|e| e.to_string())? {
                        let entry =
                            found.executed.entry((e.execution.client_id, e.execution.order_id)).or_insert((0.0, 0.0));
                        let shares = entry.0 + e.execution.shares;
                        entry.1 = (entry.1 * entry.0 + e.execution.price * e.execution.shares)
                            / shares.max(f64::MIN_POSITIVE);
                        entry.0 = shares;
                    }
                }
                Ok::<_, String>(found)
            };
            let result = match tokio::time::timeout(Duration::from_secs(10), fetch).await {
                Ok(result) => result,
                Err(_) => Err("open orders and executions did not arrive within 10 s".into()),
            };
            let _ = myself.send_message(GatewayMessage::ReconcileDone { session, result });
        });
    }

    /// Orders whose event stream broke with the old connection: follow them on the new one,
    /// so a fill after the reconnect still reaches the engine. Only these orders are
    /// followed here (new orders have their own stream), so nothing is delivered twice.
    pub(super) fn follow_interrupted(&self, myself: &ActorRef<GatewayMessage>) {
        let Some(client) = self.client.clone() else { return };
        let followed: HashMap<(i32, i32), OrderSink> = self
            .orders
            .iter()
            .filter(|(_, o)| !is_terminal(&o.status))
            .map(|(key, o)| (*key, Arc::clone(&o.sink)))
            .collect();
        let myself = myself.clone();
        tokio::spawn(async move {
            let Ok(mut updates) = client.order_update_stream().await else { return };
            while let Some(Ok(item)) = updates.next().await {
                let SubscriptionItem::Data(update) = item else { continue };
                let (key, event) = match update {
                    OrderUpdate::OrderStatus(s) => ((s.client_id, s.order_id), PlaceOrder::OrderStatus(s)),
                    OrderUpdate::OpenOrder(o) => ((o.order.client_id, o.order_id), PlaceOrder::OpenOrder(o)),
                    OrderUpdate::ExecutionData(e) => {
                        ((e.execution.client_id, e.execution.order_id), PlaceOrder::ExecutionData(e))
                    }
                    _ => continue,
                };
                let Some(sink) = followed.get(&key) else { continue };
                let (event, progress) = order_event(key.1, event);
                sink(event);
                if let Some((status, filled, avg_fill_price, _)) = progress {
                    let _ = myself.send_message(GatewayMessage::OrderProgress { key, status, filled, avg_fill_price });
                }
            }
        });
    }

    pub(super) fn reconcile_done(&mut self, session: u64, result: Result<Reconciliation, String>) {
        if session != self.session {
            return;
        }
        let found = match result {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(account = %self.name(), %error, "could not reconcile orders after the reconnect");
                self.publish(EventKind::ReconcileFailed { error });
                return;
            }
        };
        let mut reports = Vec::new();
        for (&(client_id, order_id), order) in &mut self.orders {
            if is_terminal(&order.status) {
                continue;
            }
            let executed = found.executed.get(&(client_id, order_id)).copied();
            let (after, filled, avg) = match found.open.get(&(client_id, order_id)) {
                Some((status, filled, avg)) => (status.clone(), filled.max(executed.map_or(0.0, |e| e.0)), *avg),
                None => match executed {
                    Some((shares, price)) if shares + 1e-9 >= order.quantity => ("Filled".into(), shares, Some(price)),
                    // Neither working nor fully filled at the gateway: cancelled or rejected while away.
                    Some((shares, price)) => ("Inactive".into(), shares, Some(price)),
                    None => ("Inactive".into(), 0.0, None),
                },
            };
            if after != order.status || (filled - order.filled).abs() > 1e-9 {
                let before = std::mem::replace(&mut order.status, after.clone());
                order.filled = filled;
                order.avg_fill_price = avg.or(order.avg_fill_price);
                (order.sink)(OrderEvent::Reconciled {
                    order_id,
                    before: before.clone(),
                    after: after.clone(),
                    filled,
                    avg_fill_price: order.avg_fill_price,
                });
                reports.push((order.account.clone(), client_id, order_id, before, after, filled));
            }
        }
        for (account, client_id, order_id, before, after, filled) in reports {
            tracing::warn!(%account, order_id, client_id, %before, %after, filled, "order changed during the outage");
            self.publish(EventKind::OrderReconciled { order_id, client_id, before, after, filled });
        }
        self.forget_finished();
    }
}
