//! Accounts, from the market's portfolio of the gateway's account: reqPositions,
//! reqAccountUpdates (values, portfolio, update time, download end), reqAccountSummary,
//! reqPositionsMulti, reqAccountUpdatesMulti, reqPnL, reqPnLSingle, and their cancels.
//!
//! Each is a subscription, as on TWS: the first answer, its End message, then updates — on
//! every fill (positions, portfolio, values, summaries), every three minutes for account
//! updates and summaries as TWS refreshes them, and about once a second for PnL when it
//! changed.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;

use super::feed::{self, Wake};
use super::subscriptions::Kind;
use super::{convert, Ctx};
use crate::sim::gateway::Gateway;
use crate::sim::market::Position;
use crate::sim::msg::{Reply, Request};
use crate::sim::outbox::Outbox;

/// TWS refreshes account values and summaries every three minutes ("reqAccountUpdates").
const ACCOUNT_REFRESH: Duration = Duration::from_secs(180);
/// PnL updates go out about once a second ("reqPnL").
const PNL_PERIOD: Duration = Duration::from_secs(1);
/// Subscriptions without a request id are keyed 0.
const NO_ID: i32 = 0;

pub(super) fn handle(ctx: &mut Ctx, request: Request) {
    match request {
        Request::Positions => {
            ctx.subs.remove(Kind::Positions, NO_ID);
            let account = ctx.account("");
            let reply_account = account.clone();
            positions_feed(ctx, Kind::Positions, NO_ID, account, Reply::PositionEnd, move |p| Reply::Position {
                account: reply_account.clone(),
                contract: convert::position_contract(&p.instrument),
                position: p.position,
                avg_cost: p.avg_cost,
            });
        }
        Request::CancelPositions => {
            ctx.subs.remove(Kind::Positions, NO_ID);
        }
        Request::AccountUpdates { subscribe, account } => {
            ctx.subs.remove(Kind::AccountUpdates, NO_ID);
            if subscribe {
                account_updates(ctx, ctx.account(&account));
            }
        }
        Request::AccountSummary { req_id, tags, .. } => {
            if ctx.admit(Kind::AccountSummary, req_id) {
                feed::start(ctx, Kind::AccountSummary, req_id, portfolio_wake(), None, move |gateway, outbox| {
                    for v in gateway.market().account_summary(&tags, Utc::now()) {
                        outbox.send(&Reply::AccountSummary {
                            req_id,
                            account: v.account,
                            tag: v.key,
                            value: v.value,
                            currency: v.currency,
                        });
                    }
                    outbox.send(&Reply::AccountSummaryEnd { req_id });
                });
            }
        }
        Request::CancelAccountSummary { req_id } => {
            ctx.subs.remove(Kind::AccountSummary, req_id);
        }
        Request::PositionsMulti { req_id, account, model_code } => {
            if ctx.admit(Kind::PositionsMulti, req_id) {
                let account = ctx.account(&account);
                let reply_account = account.clone();
                let end = Reply::PositionMultiEnd { req_id };
                positions_feed(ctx, Kind::PositionsMulti, req_id, account, end, move |p| Reply::PositionMulti {
                    req_id,
                    account: reply_account.clone(),
                    model_code: model_code.clone(),
                    contract: convert::position_contract(&p.instrument),
                    position: p.position,
                    avg_cost: p.avg_cost,
                });
            }
        }
        Request::CancelPositionsMulti { req_id } => {
            ctx.subs.remove(Kind::PositionsMulti, req_id);
        }
        Request::AccountUpdatesMulti { req_id, account, model_code, .. } => {
            if ctx.admit(Kind::AccountUpdatesMulti, req_id) {
                let account = ctx.account(&account);
                feed::start(ctx, Kind::AccountUpdatesMulti, req_id, portfolio_wake(), None, move |gateway, outbox| {
                    let Ok(values) = gateway.market().account_values(&account, Utc::now()) else { return };
                    for v in values {
                        outbox.send(&Reply::AccountUpdateMulti {
                            req_id,
                            account: v.account,
                            model_code: model_code.clone(),
                            key: v.key,
                            value: v.value,
                            currency: v.currency,
                        });
                    }
                    outbox.send(&Reply::AccountUpdateMultiEnd { req_id });
                });
            }
        }
        Request::CancelAccountUpdatesMulti { req_id } => {
            ctx.subs.remove(Kind::AccountUpdatesMulti, req_id);
        }
        Request::PnL { req_id, account, .. } => {
            if ctx.admit(Kind::PnL, req_id) {
                let account = ctx.account(&account);
                let mut last = None;
                feed::start(ctx, Kind::PnL, req_id, Wake::Every(PNL_PERIOD), None, move |gateway, outbox| {
                    let Ok(pnl) = gateway.market().pnl(&account, Utc::now()) else { return };
                    let reply = Reply::PnL {
                        req_id,
                        daily: pnl.daily_pnl,
                        unrealized: pnl.unrealized_pnl,
                        realized: pnl.realized_pnl,
                    };
                    send_if_changed(outbox, &mut last, reply);
                });
            }
        }
        Request::CancelPnL { req_id } => {
            ctx.subs.remove(Kind::PnL, req_id);
        }
        Request::PnLSingle { req_id, account, con_id, .. } => {
            if ctx.admit(Kind::PnLSingle, req_id) {
                let account = ctx.account(&account);
                let mut last = None;
                feed::start(ctx, Kind::PnLSingle, req_id, Wake::Every(PNL_PERIOD), None, move |gateway, outbox| {
                    // Nothing until the account has held the contract, as TWS.
                    let Ok(Some(p)) = gateway.market().pnl_single(&account, con_id, Utc::now()) else { return };
                    let reply = Reply::PnLSingle {
                        req_id,
                        position: p.position,
                        daily: p.daily_pnl,
                        unrealized: p.unrealized_pnl,
                        realized: p.realized_pnl,
                        value: p.value,
                    };
                    send_if_changed(outbox, &mut last, reply);
                });
            }
        }
        Request::CancelPnLSingle { req_id } => {
            ctx.subs.remove(Kind::PnLSingle, req_id);
        }
        _ => unreachable!("account::handle is given account requests only"),
    }
}

/// reqPositions / reqPositionsMulti: every position, `end`, then each position that a fill
/// changed.
fn positions_feed(
    ctx: &mut Ctx,
    kind: Kind,
    req_id: i32,
    account: String,
    end: Reply,
    reply: impl Fn(&Position) -> Reply + Send + 'static,
) {
    let (mut sent, mut first) = (HashMap::new(), true);
    feed::start(ctx, kind, req_id, portfolio_wake(), None, move |gateway, outbox| {
        let Ok(positions) = gateway.market().positions(&account, Utc::now()) else { return };
        for p in changed_positions(&mut sent, &positions) {
            outbox.send(&reply(p));
        }
        if std::mem::take(&mut first) {
            outbox.send(&end);
        }
    });
}

fn portfolio_wake() -> Wake {
    Wake::Portfolio { period: ACCOUNT_REFRESH }
}

/// reqAccountUpdates: every value, every portfolio item, the update time, then (the first
/// time) accountDownloadEnd; again on every fill and every three minutes.
fn account_updates(ctx: &mut Ctx, account: String) {
    let mut first = true;
    feed::start(ctx, Kind::AccountUpdates, NO_ID, portfolio_wake(), None, move |gateway, outbox| {
        send_account(gateway, outbox, &account);
        if std::mem::take(&mut first) {
            outbox.send(&Reply::AccountDownloadEnd(account.clone()));
        }
    });
}

fn send_account(gateway: &Gateway, outbox: &Outbox, account: &str) {
    let now = Utc::now();
    let (values, items) = {
        let mut market = gateway.market();
        (market.account_values(account, now), market.portfolio(account, now))
    };
    let (Ok(values), Ok(items)) = (values, items) else { return };
    for v in &values {
        outbox.send(&convert::account_value(v));
    }
    for item in &items {
        outbox.send(&convert::portfolio_value(item));
    }
    let time = now.with_timezone(&gateway.tz).format("%H:%M").to_string();
    outbox.send(&Reply::AccountUpdateTime(time));
}

/// The positions that differ from what was last sent (all of them the first time).
fn changed_positions<'a>(sent: &mut HashMap<i32, (f64, f64)>, positions: &'a [Position]) -> Vec<&'a Position> {
    positions
        .iter()
        .filter(|p| {
            let now = (p.position, p.avg_cost);
            sent.insert(p.instrument.con_id, now) != Some(now)
        })
        .collect()
}

fn send_if_changed(outbox: &Outbox, last: &mut Option<Reply>, reply: Reply) {
    if last.as_ref() != Some(&reply) {
        outbox.send(&reply);
        *last = Some(reply);
    }
}
