//! [`Guard`]: the engine's handle on the guard; cheap to clone, survives guard restarts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ibapi::contracts::Contract;
use ractor::rpc::CallResult;

use super::actor::GuardMessage;
use super::counters::{GuardCounts, GuardStats};
use super::gates::{read, SharedGates};
use super::ticks::TickQueue;
use crate::clock::SharedClock;
use crate::directory::Directory;
use crate::engine::{OrderEvent, OrderRequest, Refusal, Tick, TickReceiver};
use crate::gateway::GatewayMessage;
use crate::registry::{Registry, Ticket};

/// The engine's handle on the guard; cheap to clone, survives guard restarts.
#[derive(Clone)]
pub struct Guard {
    directory: Directory,
    gates: SharedGates,
    stats: Arc<GuardStats>,
    ticks: TickQueue,
    clock: SharedClock,
    registry: Registry,
}

impl Guard {
    pub(crate) fn new(
        directory: Directory,
        gates: SharedGates,
        stats: Arc<GuardStats>,
        ticks: TickQueue,
        clock: SharedClock,
        registry: Registry,
    ) -> Self {
        Self { directory, gates, stats, ticks, clock, registry }
    }

    /// Send an order; every outcome arrives on `request.sink`, a refusal at once. From here on
    /// the order is a [`Ticket`]: whatever fails on its way (a guard or gateway killed with it
    /// in its mailbox, a task aborted), the sink hears `Failed` at once and the next reconcile
    /// reports what happened.
    pub fn place_order(&self, request: OrderRequest) {
        let Some(registry) = self.registry.account(&request.account) else {
            self.stats.bump(&request.account, |c| &c.orders_refused);
            let reason = Refusal::UnknownAccount { account: request.account.clone() };
            (request.sink)(OrderEvent::Refused {
                account: request.account.clone(),
                order_id: request.order_id,
                reason,
            });
            return;
        };
        let ticket = Ticket::new(registry, request, self.clock.now());
        match self.directory.guard() {
            Some(guard) => {
                if let Err(ractor::MessagingErr::SendErr(GuardMessage::Order(ticket))) =
                    guard.send_message(GuardMessage::Order(Box::new(ticket)))
                {
                    self.refuse(*ticket);
                }
            }
            None => self.refuse(ticket),
        }
    }

    fn refuse(&self, ticket: Ticket) {
        let reason = Refusal::Disconnected { since: self.clock.now(), last_error: Some("guard restarting".into()) };
        self.stats.bump(&ticket.request.account, |c| &c.orders_refused);
        ticket.refuse(reason);
    }

    /// End a market-data subscription for good: it is cancelled at the gateway and never
    /// requested again, by this gateway incarnation or a later one. False if there was none.
    pub fn unsubscribe_market_data(&self, account: &str, subscription: u64) -> bool {
        let Some(registry) = self.registry.account(account) else { return false };
        let removed = registry.remove_subscription(subscription);
        if let Some(gateway) = self.directory.gateway(account) {
            let _ = gateway.send_message(GatewayMessage::Unsubscribed { id: subscription });
        }
        removed
    }

    /// Offer a tick from the engine's own feed to `sink`, gated like the supervisor's ticks.
    /// Returns false when it was shed (the queue is full).
    pub fn send_tick(&self, tick: Tick, sink: TickReceiver) -> bool {
        match self.ticks.offer(tick, sink, None) {
            Ok(()) => true,
            Err(shed) => {
                self.stats.bump(&shed.account, |c| &c.ticks_shed);
                false
            }
        }
    }

    /// Subscribe `sink` to market data for `contract` on `account`.
    pub async fn subscribe_market_data(
        &self,
        account: &str,
        contract: Contract,
        sink: TickReceiver,
    ) -> Result<u64, Refusal> {
        let guard = self.directory.guard().ok_or(Refusal::ShuttingDown)?;
        let account = account.to_owned();
        let call = guard.call(
            |reply| GuardMessage::Subscribe { account, contract: Box::new(contract), sink, reply },
            Some(Duration::from_secs(3)),
        );
        match call.await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(Refusal::ShuttingDown),
        }
    }

    /// The operator's switch: in effect at once; returns when it was switched (the `at` of the
    /// `trading_switched` event the guard publishes, which the persistence actor records).
    pub async fn set_paused(&self, account: &str, paused: bool) -> Result<DateTime<Utc>, Refusal> {
        let guard = self.directory.guard().ok_or(Refusal::ShuttingDown)?;
        let account = account.to_owned();
        let call = guard.call(|reply| GuardMessage::SetPaused { account, paused, reply }, Some(Duration::from_secs(2)));
        match call.await {
            Ok(CallResult::Success(result)) => result,
            _ => Err(Refusal::ShuttingDown),
        }
    }

    /// Why an order for `account` would be refused right now (a closed link, the operator's
    /// switch, a meltdown, a market-data farm down with `guard.block_orders_on_data_loss`, a
    /// reset window about to open), or `None` when open: a cheap read
    /// for engines.
    pub fn refusal(&self, account: &str) -> Option<Refusal> {
        read(&self.gates).order_refusal(account, self.clock.now())
    }

    /// Whether the operator paused `account`.
    pub fn is_paused(&self, account: &str) -> bool {
        read(&self.gates).paused(account)
    }

    /// Orders and ticks through the guard, per account.
    pub fn counts(&self) -> Vec<GuardCounts> {
        self.stats.snapshot()
    }
}
