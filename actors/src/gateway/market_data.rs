//! Market-data subscriptions: kept in the account's registry (so they outlive this
//! incarnation), requested on every new connection and after 1101 (data lost), with a `Gap`
//! event whenever ticks may have been missed. A subscription ends when the engine
//! unsubscribes or its sink returns false; it is then never requested again.

use std::sync::Arc;

use ibapi::prelude::{StreamExt, SubscriptionItem, TickTypes};

use super::actor::{GatewayMessage, GatewayState};
use crate::engine::MarketEvent;

impl GatewayState {
    pub(super) fn gap(&mut self, id: u64, reason: &str) {
        if let Some(sub) = self.args.registry.subscription(id) {
            if !(sub.sink)(MarketEvent::Gap { subscription: id, reason: reason.to_owned() }) {
                self.end_subscription(id);
            }
        }
    }

    fn end_subscription(&mut self, id: u64) {
        self.args.registry.remove_subscription(id);
        if let Some(stream) = self.streams.remove(&id) {
            stream.abort();
        }
    }

    /// Ask again for every subscription whose line on this session ended (IB refused or closed
    /// it, e.g. with 10197 during a competing live session).
    pub(super) fn request_ended_lines(&mut self) {
        for sub in self.args.registry.subscriptions() {
            if self.streams.get(&sub.id).is_none_or(|line| line.is_finished()) {
                self.request_market_data(sub.id);
            }
        }
    }

    /// (Re)request one subscription on the current client, now (its turn came: see
    /// [`pacing`](super::pacing)).
    pub(super) fn write_market_data_request(&mut self, id: u64) {
        let Some(client) = self.client() else { return };
        let Some(sub) = self.args.registry.subscription(id) else { return };
        self.args.registry.mark_requested(id);
        if let Some(stream) = self.streams.remove(&id) {
            stream.abort();
        }
        let account = self.args.account.name.clone();
        let (registry, liveness) = (self.args.registry.clone(), Arc::clone(&self.liveness));
        let (myself, session) = (self.myself.clone(), self.session);
        let (contract, sink) = (sub.contract, sub.sink);
        let stream = self.tasks.spawn(async move {
            let mut ticks = match client.market_data(&contract).subscribe().await {
                Ok(ticks) => ticks,
                Err(e) => {
                    tracing::warn!(%account, subscription = id, error = %e, "market-data request failed");
                    return;
                }
            };
            while let Some(item) = ticks.next().await {
                liveness.touch();
                let event = match item {
                    Ok(SubscriptionItem::Data(TickTypes::PriceSize(p))) => MarketEvent::Price {
                        subscription: id,
                        tick_type: format!("{:?}", p.price_tick_type),
                        price: p.price,
                        size: Some(p.size),
                    },
                    Ok(SubscriptionItem::Data(TickTypes::Price(p))) => MarketEvent::Price {
                        subscription: id,
                        tick_type: format!("{:?}", p.tick_type),
                        price: p.price,
                        size: None,
                    },
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(%account, subscription = id, error = %e, "market-data stream ended");
                        // IB answers a line it will not serve with a notice on its id (10197
                        // during a competing live session): the gateway's conditions see it.
                        if let ibapi::Error::Notice(notice) = e {
                            let message =
                                GatewayMessage::Notice { session, code: notice.code, message: notice.message };
                            let _ = myself.send_message(message);
                        }
                        return;
                    }
                };
                if !sink(event) {
                    // The subscriber is gone: end the subscription for good (dropping the
                    // stream cancels it at the gateway).
                    registry.remove_subscription(id);
                    tracing::info!(%account, subscription = id, "subscriber gone; market data cancelled");
                    return;
                }
            }
        });
        self.streams.insert(id, stream);
    }
}
