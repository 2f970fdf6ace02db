//! Accounts: reqPositions, reqAccountUpdates, reqAccountUpdatesMulti.
//!
//! The gateway keeps no portfolio yet: positions and account values come with the market
//! model. Every request is still answered with its End message, so a client's connect sequence
//! (ib_async waits for each) completes.

use chrono::Utc;

use super::subscriptions::Kind;
use super::Ctx;
use crate::sim::msg::{Reply, Request};

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::Positions => ctx.send(&Reply::PositionEnd),
        Request::CancelPositions => {}
        Request::AccountUpdates { subscribe, account } => {
            if subscribe {
                let account = if account.is_empty() { ctx.gateway.account.clone() } else { account };
                ctx.send(&Reply::AccountUpdateTime(Utc::now().format("%H:%M").to_string()));
                ctx.send(&Reply::AccountDownloadEnd(account));
            }
        }
        Request::AccountUpdatesMulti { req_id, .. } => {
            if ctx.admit(Kind::AccountUpdatesMulti, req_id) {
                ctx.subs.insert(Kind::AccountUpdatesMulti, req_id, None);
                ctx.send(&Reply::AccountUpdateMultiEnd { req_id });
            }
        }
        Request::CancelAccountUpdatesMulti { req_id } => {
            ctx.subs.remove(Kind::AccountUpdatesMulti, req_id);
        }
        _ => unreachable!("account::handle is given account requests only"),
    }
}
