//! Placing orders on the live connection and following their events; an order whose stream
//! breaks with the connection stays tracked until [reconciliation](super::reconcile).

use std::sync::Arc;
use std::time::Duration;

use ibapi::orders::PlaceOrder;
use ibapi::prelude::{StreamExt, SubscriptionItem};
use ibapi::Error as IbError;
use ractor::ActorRef;
use tokio::time::Instant;

use super::actor::{GatewayMessage, GatewayState};
use crate::engine::{OrderEvent, OrderRequest, OrderSink, Refusal};

/// An order this gateway placed and still follows: (client id, order id) → its last known state.
pub(super) struct TrackedOrder {
    pub(super) account: String,
    pub(super) quantity: f64,
    pub(super) status: String,
    pub(super) filled: f64,
    pub(super) avg_fill_price: Option<f64>,
    pub(super) sink: OrderSink,
}

impl GatewayState {
    pub(super) fn place_order(&mut self, myself: &ActorRef<GatewayMessage>, request: OrderRequest) {
        let account = self.args.account.name.clone();
        // The owner of the fact checks again: an order racing a disconnect is refused here.
        let (client, client_id) = match (self.conn.is_usable(), self.client.clone(), self.conn.link()) {
            (true, Some(client), Some(client_id)) => (client, client_id),
            _ => {
                let reason = Refusal::from_state(&self.conn).unwrap_or(Refusal::Disconnected {
                    since: self.conn.since(),
                    last_error: Some("no client".into()),
                });
                tracing::warn!(%account, order_id = ?request.order_id, %reason, "order refused by the gateway");
                (request.sink)(OrderEvent::Refused { account, order_id: request.order_id, reason });
                return;
            }
        };
        let order_id = request.order_id.unwrap_or_else(|| client.next_order_id());
        let key = (client_id, order_id);
        let sink = Arc::clone(&request.sink);
        self.orders.insert(
            key,
            TrackedOrder {
                account: account.clone(),
                quantity: request.order.total_quantity,
                status: "PendingSubmit".into(),
                filled: 0.0,
                avg_fill_price: None,
                sink: Arc::clone(&sink),
            },
        );
        tracing::info!(%account, order_id, client_id, symbol = %request.contract.symbol, action = ?request.order.action,
            quantity = request.order.total_quantity, "placing order");
        sink(OrderEvent::Sent { account, order_id, client_id });
        let myself = myself.clone();
        tokio::spawn(async move {
            let ended = |interrupted, error| GatewayMessage::OrderStreamEnded { key, interrupted, error };
            let mut events = match client.place_order(order_id, &request.contract, &request.order).await {
                Ok(events) => events,
                Err(e) => {
                    let interrupted = is_connection_error(&e);
                    sink(OrderEvent::Failed { order_id, error: e.to_string() });
                    let _ = myself.send_message(ended(interrupted, Some(e.to_string())));
                    return;
                }
            };
            let mut grace: Option<Instant> = None;
            loop {
                let next = match grace {
                    // After a terminal status, wait briefly for the commission report.
                    Some(until) => match tokio::time::timeout_at(until, events.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    },
                    None => events.next().await,
                };
                match next {
                    Some(Ok(SubscriptionItem::Data(event))) => {
                        let (event, progress) = order_event(order_id, event);
                        sink(event);
                        if let Some((status, filled, avg, terminal)) = progress {
                            let _ = myself.send_message(GatewayMessage::OrderProgress {
                                key,
                                status,
                                filled,
                                avg_fill_price: avg,
                            });
                            if terminal && grace.is_none() {
                                grace = Some(Instant::now() + Duration::from_millis(500));
                            }
                        }
                    }
                    Some(Ok(SubscriptionItem::Notice(notice))) => {
                        tracing::info!(order_id, code = notice.code, message = %notice.message, "order notice");
                    }
                    Some(Err(e)) => {
                        let interrupted = is_connection_error(&e);
                        sink(OrderEvent::Failed { order_id, error: e.to_string() });
                        let _ = myself.send_message(ended(interrupted, Some(e.to_string())));
                        return;
                    }
                    None => break,
                }
            }
            let _ = myself.send_message(ended(grace.is_none(), None));
        });
    }

    /// An order's stream reported progress.
    pub(super) fn order_progress(&mut self, key: (i32, i32), status: String, filled: f64, avg: Option<f64>) {
        if let Some(order) = self.orders.get_mut(&key) {
            order.status = status;
            order.filled = filled;
            order.avg_fill_price = avg.or(order.avg_fill_price);
        }
    }

    /// An order's stream ended; an interrupted one (connection lost) stays tracked until
    /// reconciled.
    pub(super) fn order_stream_ended(&mut self, key: (i32, i32), interrupted: bool, error: Option<String>) {
        if interrupted {
            return;
        }
        if let (Some(order), Some(error)) = (self.orders.get_mut(&key), error) {
            order.status = format!("Rejected: {error}");
        }
        self.forget_finished();
    }

    pub(super) fn forget_finished(&mut self) {
        self.orders.retain(|_, o| !is_terminal(&o.status));
    }
}

pub(super) fn is_terminal(status: &str) -> bool {
    matches!(status, "Filled" | "Cancelled" | "ApiCancelled" | "Inactive") || status.starts_with("Rejected")
}

pub(super) fn is_connection_error(error: &IbError) -> bool {
    matches!(error, IbError::ConnectionReset | IbError::ConnectionFailed | IbError::Shutdown)
        || error.is_connection_lost()
}

/// What an order status tells the tracking table: (status, filled, average price, terminal).
pub(super) type Progress = (String, f64, Option<f64>, bool);

/// An ibapi order event as the engine sees it, and the progress to track.
pub(super) fn order_event(order_id: i32, event: PlaceOrder) -> (OrderEvent, Option<Progress>) {
    match event {
        PlaceOrder::OpenOrder(open) => {
            let status = open.order_state.status.as_str().to_owned();
            (OrderEvent::Open { order_id, status }, None)
        }
        PlaceOrder::OrderStatus(s) => {
            let status = s.status.as_str().to_owned();
            let progress = (status.clone(), s.filled, s.average_fill_price, s.status.is_terminal());
            let event = OrderEvent::Status {
                order_id,
                status,
                filled: s.filled,
                remaining: s.remaining,
                avg_fill_price: s.average_fill_price,
            };
            (event, Some(progress))
        }
        PlaceOrder::ExecutionData(e) => (
            OrderEvent::Execution {
                order_id,
                exec_id: e.execution.execution_id,
                shares: e.execution.shares,
                price: e.execution.price,
            },
            None,
        ),
        PlaceOrder::CommissionReport(c) => {
            (OrderEvent::Commission { exec_id: c.execution_id, commission: c.commission, currency: c.currency }, None)
        }
    }
}
