//! Market-data subscriptions: kept by the gateway, re-requested on every new connection and
//! after 1101 (data lost), with a `Gap` event whenever ticks may have been missed.

use std::sync::Arc;

use ibapi::contracts::Contract;
use ibapi::prelude::{StreamExt, SubscriptionItem, TickTypes};
use tokio::task::AbortHandle;

use super::actor::GatewayState;
use crate::engine::{MarketEvent, TickSink};

pub(super) struct Subscription {
    pub(super) id: u64,
    pub(super) contract: Contract,
    pub(super) sink: TickSink,
    pub(super) task: Option<AbortHandle>,
}

impl GatewayState {
    /// Keep a subscription for `contract` (requested now if the socket is up); its id.
    pub(super) fn subscribe(&mut self, contract: Contract, sink: TickSink) -> u64 {
        let id = self.next_subscription;
        self.next_subscription += 1;
        self.subscriptions.push(Subscription { id, contract, sink, task: None });
        if self.conn.link().is_some() {
            self.request_market_data(id);
        }
        id
    }

    pub(super) fn gap(&mut self, id: u64, reason: &str) {
        if let Some(sub) = self.subscriptions.iter().find(|s| s.id == id) {
            (sub.sink)(MarketEvent::Gap { subscription: id, reason: reason.to_owned() });
        }
    }

    /// (Re)request one subscription on the current client.
    pub(super) fn request_market_data(&mut self, id: u64) {
        let Some(client) = self.client.clone() else { return };
        let account = self.args.account.name.clone();
        let Some(sub) = self.subscriptions.iter_mut().find(|s| s.id == id) else { return };
        if let Some(task) = sub.task.take() {
            task.abort();
        }
        let contract = sub.contract.clone();
        let sink = Arc::clone(&sub.sink);
        let task = tokio::spawn(async move {
            let mut ticks = match client.market_data(&contract).subscribe().await {
                Ok(ticks) => ticks,
                Err(e) => {
                    tracing::warn!(%account, subscription = id, error = %e, "market-data request failed");
                    return;
                }
            };
            while let Some(item) = ticks.next().await {
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
                        return;
                    }
                };
                if !sink(event) {
                    return;
                }
            }
        });
        sub.task = Some(task.abort_handle());
    }
}
