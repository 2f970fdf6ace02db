//! What the gateway does with each request, by family: `orders`, `market_data`, `account`.
//! Handlers see [`Request`]s and answer [`Reply`]s; the session's codec encodes them.

mod account;
mod market_data;
mod orders;
pub(crate) mod subscriptions;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use super::gateway::{Conditions, Gateway};
use super::msg::ids::request_info;
use super::msg::{Reply, Request};
use super::outbox::Outbox;
use subscriptions::{Kind, Refused, Subscriptions};

/// One connected client, as the handlers see it.
pub(crate) struct Ctx {
    pub gateway: Arc<Gateway>,
    pub outbox: Outbox,
    pub client_id: i32,
    pub conditions: watch::Receiver<Conditions>,
    pub subs: Subscriptions,
}

impl Ctx {
    pub fn send(&self, reply: &Reply) {
        self.outbox.send(reply);
    }

    pub fn error(&self, id: i32, code: i32, message: impl Into<String>) {
        self.send(&Reply::error(id, code, message));
    }

    /// Admit subscription `(kind, req_id)`, or answer why not (duplicate id, over the cap).
    pub fn admit(&self, kind: Kind, req_id: i32) -> bool {
        match self.subs.admit(kind, req_id) {
            Ok(()) => true,
            Err(Refused::Duplicate) => {
                self.error(req_id, 322, "Error processing request.-'bW' : cause - Duplicate ticker id");
                false
            }
            Err(Refused::Cap(code, text)) => {
                self.error(req_id, code, text);
                false
            }
        }
    }

    /// End every subscription (the session is closing).
    pub fn stop_all(&mut self) {
        let lines = self.subs.stop_all();
        self.gateway.subscriptions_changed(-(lines as i64));
    }

    /// Upstream came back with data lost: market-data lines end, as TWS drops them.
    pub fn market_data_lost(&mut self) {
        let lines = self.subs.stop_kind(Kind::MarketData);
        self.gateway.subscriptions_changed(-(lines as i64));
    }
}

/// Answer one request.
pub(crate) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::StartApi { .. } => tracing::warn!(port = ctx.gateway.port(), "sim: second StartApi ignored"),
        Request::CurrentTime => ctx.send(&Reply::CurrentTime(Utc::now().timestamp())),
        Request::CurrentTimeInMillis => ctx.send(&Reply::CurrentTimeInMillis(Utc::now().timestamp_millis())),
        Request::Ids { .. } => ctx.send(&Reply::NextValidId(ctx.gateway.next_valid_id())),
        Request::ManagedAccounts => ctx.send(&Reply::ManagedAccounts(ctx.gateway.account.clone())),
        Request::MarketDataType { .. } | Request::AutoOpenOrders { .. } => {}
        request @ (Request::MarketData { .. } | Request::CancelMarketData { .. }) => market_data::handle(ctx, request),
        request @ (Request::PlaceOrder { .. }
        | Request::CancelOrder { .. }
        | Request::GlobalCancel
        | Request::OpenOrders
        | Request::AllOpenOrders
        | Request::Executions { .. }
        | Request::CompletedOrders { .. }) => orders::handle(ctx, request),
        request @ (Request::Positions
        | Request::CancelPositions
        | Request::AccountUpdates { .. }
        | Request::AccountUpdatesMulti { .. }
        | Request::CancelAccountUpdatesMulti { .. }) => account::handle(ctx, request),
        other => unsupported(ctx, &other),
    }
}

/// 321 on the request's own id (−1 when it has none), naming the request.
fn unsupported(ctx: &Ctx, request: &Request) {
    let (msg_id, req_id) = (request.msg_id(), request.req_id());
    let name = request_info(msg_id).map(|i| i.name).unwrap_or("an unknown request");
    tracing::warn!(port = ctx.gateway.port(), msg_id, name, ?req_id, "sim: unsupported request");
    ctx.error(
        req_id.unwrap_or(-1),
        321,
        format!("Error validating request.-'a0' : cause - {name} (message id {msg_id}) is not supported by this simulated gateway"),
    );
}
