//! What the gateway does with each request, by family: `orders`, `market_data`
//! (reqMktData, tick-by-tick), `historical` (bars, head timestamp, real-time bars), `reference`
//! (contract details, matching symbols, user info) and `account` (positions, account values,
//! summaries, PnL). Handlers see [`Request`]s, ask the gateway's market, and answer
//! [`Reply`]s; the session's codec encodes them. `convert` maps the market's types to the
//! wire's; `feed` runs streaming subscriptions; `subscriptions` caps them.

mod account;
pub(crate) mod convert;
mod feed;
mod historical;
mod market_data;
mod orders;
mod reference;
pub(crate) mod subscriptions;

use std::sync::Arc;

use tokio::sync::watch;

use super::gateway::{Conditions, Gateway};
use super::market::MarketError;
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

    /// A market error on `id`, with TWS's code and text.
    pub fn market_error(&self, id: i32, e: &MarketError) {
        self.error(id, e.code(), e.to_string());
    }

    /// The account a request names, or the gateway's when it names none.
    pub fn account(&self, requested: &str) -> String {
        if requested.is_empty() {
            self.gateway.account.clone()
        } else {
            requested.to_owned()
        }
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

    /// Upstream came back with data lost (1101): market-data streams end, as TWS drops them;
    /// clients must re-request.
    pub fn market_data_lost(&mut self) {
        let lines = self.subs.stop_kind(Kind::MarketData);
        self.gateway.subscriptions_changed(-(lines as i64));
        for kind in [Kind::TickByTick, Kind::RealTimeBars, Kind::HistoricalKeepUp] {
            self.subs.stop_kind(kind);
        }
    }
}

/// Answer one request.
pub(crate) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::StartApi { .. } => tracing::warn!(port = ctx.gateway.port(), "sim: second StartApi ignored"),
        Request::CurrentTime => ctx.send(&Reply::CurrentTime(ctx.gateway.now().timestamp())),
        Request::CurrentTimeInMillis => ctx.send(&Reply::CurrentTimeInMillis(ctx.gateway.now().timestamp_millis())),
        Request::Ids { .. } => ctx.send(&Reply::NextValidId(ctx.gateway.next_valid_id())),
        Request::ManagedAccounts => ctx.send(&Reply::ManagedAccounts(ctx.gateway.account.clone())),
        Request::MarketDataType { .. } => {}
        request @ (Request::MarketData { .. }
        | Request::CancelMarketData { .. }
        | Request::TickByTick { .. }
        | Request::CancelTickByTick { .. }) => market_data::handle(ctx, request),
        request @ (Request::PlaceOrder { .. }
        | Request::CancelOrder { .. }
        | Request::GlobalCancel
        | Request::OpenOrders
        | Request::AllOpenOrders
        | Request::AutoOpenOrders { .. }
        | Request::Executions { .. }
        | Request::CompletedOrders { .. }) => orders::handle(ctx, request),
        request @ (Request::ContractDetails { .. } | Request::MatchingSymbols { .. } | Request::UserInfo { .. }) => {
            reference::handle(ctx, request)
        }
        request @ (Request::HistoricalData(_)
        | Request::CancelHistoricalData { .. }
        | Request::HeadTimestamp { .. }
        | Request::CancelHeadTimestamp { .. }
        | Request::RealTimeBars { .. }
        | Request::CancelRealTimeBars { .. }) => historical::handle(ctx, request),
        request @ (Request::Positions
        | Request::CancelPositions
        | Request::AccountUpdates { .. }
        | Request::AccountSummary { .. }
        | Request::CancelAccountSummary { .. }
        | Request::PositionsMulti { .. }
        | Request::CancelPositionsMulti { .. }
        | Request::AccountUpdatesMulti { .. }
        | Request::CancelAccountUpdatesMulti { .. }
        | Request::PnL { .. }
        | Request::CancelPnL { .. }
        | Request::PnLSingle { .. }
        | Request::CancelPnLSingle { .. }) => account::handle(ctx, request),
        request @ Request::Unsupported { .. } => unsupported(ctx, &request),
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
