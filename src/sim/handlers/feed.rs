//! The task behind a streaming subscription: it emits once, then again each time what it
//! follows may have changed — a clock round (prices moved), a fill (the portfolio changed), or
//! a period — until the subscription ends (its task is aborted). Nothing is emitted while the
//! gateway hangs, and no market data while a market-data farm is broken or a competing live
//! session holds it; while upstream is lost the clock stands still, so nothing changes.

use std::sync::Arc;
use std::time::Duration;

use super::subscriptions::Kind;
use super::Ctx;
use crate::sim::gateway::{Gateway, Watching};
use crate::sim::outbox::Outbox;

/// What wakes a feed.
#[derive(Debug, Clone, Copy)]
pub enum Wake {
    /// Every clock round.
    Rounds,
    /// Every fill, and every `period` besides.
    Portfolio { period: Duration },
    /// Every `period`.
    Every(Duration),
}

/// Start feed `(kind, req_id)` for this session (admitted by the caller). `emit` is called
/// with the gateway and the session's outbox; it keeps its own state (what it sent last).
/// `watching` keeps an instrument stepping for as long as the feed lives.
pub fn start(
    ctx: &mut Ctx,
    kind: Kind,
    req_id: i32,
    wake: Wake,
    watching: Option<Watching>,
    mut emit: impl FnMut(&Gateway, &Outbox) + Send + 'static,
) {
    let gateway = Arc::clone(&ctx.gateway);
    let outbox = ctx.outbox.clone();
    let conditions = ctx.conditions.clone();
    let mut rounds = gateway.rounds();
    let mut fills = gateway.portfolio_changes();
    emit(&gateway, &outbox);
    let task = tokio::spawn(async move {
        let _watching = watching;
        let mut timer = match wake {
            Wake::Portfolio { period } | Wake::Every(period) => {
                Some(tokio::time::interval_at(tokio::time::Instant::now() + period, period))
            }
            Wake::Rounds => None,
        };
        loop {
            let changed = match (wake, timer.as_mut()) {
                (Wake::Rounds, _) => rounds.changed().await.is_ok(),
                (Wake::Portfolio { .. }, Some(timer)) => tokio::select! {
                    r = fills.changed() => r.is_ok(),
                    _ = timer.tick() => true,
                },
                (_, Some(timer)) => {
                    timer.tick().await;
                    true
                }
                (_, None) => false,
            };
            if !changed {
                return; // the gateway is gone
            }
            let halted = {
                let c = conditions.borrow();
                c.hang || (matches!(kind, Kind::MarketData | Kind::TickByTick) && c.market_data_halted())
            };
            if !halted {
                emit(&gateway, &outbox);
            }
        }
    });
    ctx.subs.insert(kind, req_id, Some(task.abort_handle()));
}
