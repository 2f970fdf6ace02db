//! Orders in flight: what the registry knows of each, idempotent delivery of its events to the
//! engine, and the reconcile decision (*pure*: [`decide`]) that settles an order from what the
//! gateway shows after a reconnect.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::AccountRegistry;
use crate::engine::{OrderEvent, OrderRequest, OrderSink};

/// How far an order got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Accepted by the guard, not yet handed to a socket: it cannot be at the gateway.
    Queued,
    /// Handed to ibapi to be written (it may be at the gateway).
    Written,
}

/// An order the registry follows until it is settled.
pub struct OrderEntry {
    /// The registry's id of this order (its ticket).
    pub ticket: u64,
    /// The account.
    pub account: String,
    /// The order's `orderRef`: set by the supervisor when the engine left it empty, so the
    /// order can be found under any client id (completed orders carry no order id).
    pub order_ref: String,
    /// The client id it was placed with, once placed.
    pub client_id: Option<i32>,
    /// Its order id on that client id, once placed (or the engine's choice).
    pub order_id: Option<i32>,
    /// IB's permanent id, once the gateway told it.
    pub perm_id: Option<i64>,
    /// Total quantity.
    pub quantity: f64,
    /// When the guard accepted it (the reconcile's executions window reaches back to it).
    pub placed_at: DateTime<Utc>,
    /// How far it got.
    pub stage: Stage,
    /// Last known status (`Queued`, `PendingSubmit`, `Submitted`, `Filled`, …).
    pub status: String,
    /// Shares filled so far.
    pub filled: f64,
    /// Average fill price, once something filled.
    pub avg_fill_price: Option<f64>,
    /// A final answer reached the engine (Refused, Failed, or a terminal status).
    pub answered: bool,
    /// The last reconcile found it nowhere (it is looked for again at the next).
    pub unknown: bool,
    settled_at: Option<Instant>,
    /// Which write it was (the registry's count at [`AccountRegistry::written`]); 0 unwritten.
    write: u64,
    exec_ids: HashSet<String>,
    commissions: HashSet<String>,
    last_open: Option<String>,
    /// `Sent` reached the engine (it comes before any other event of a written order).
    sent: bool,
    sink: OrderSink,
}

/// Statuses after which an order changes no more.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "Filled" | "Cancelled" | "ApiCancelled" | "Inactive" | "NotSent") || status.starts_with("Rejected")
}

impl OrderEntry {
    /// Settled: nothing more will happen to it.
    pub fn is_settled(&self) -> bool {
        self.settled_at.is_some()
    }

    fn settle(&mut self) {
        self.settled_at.get_or_insert_with(Instant::now);
    }

    fn matches(&self, client_id: i32, order_id: i32, perm_id: i64, order_ref: &str) -> bool {
        (perm_id != 0 && self.perm_id == Some(perm_id))
            || (!order_ref.is_empty() && order_ref == self.order_ref)
            || (order_id != 0 && self.order_id == Some(order_id) && self.client_id == Some(client_id))
    }
}

/// An order as a gateway snapshot shows it (open orders or completed orders).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayOrder {
    /// The client id that placed it (0 when the snapshot does not say).
    pub client_id: i32,
    /// Its order id (0 when the snapshot does not say, as in completed orders).
    pub order_id: i32,
    /// IB's permanent id.
    pub perm_id: i64,
    /// Its orderRef.
    pub order_ref: String,
    /// IB's status.
    pub status: String,
    /// Shares filled.
    pub filled: f64,
    /// Average fill price, when the snapshot carries it.
    pub avg_fill_price: Option<f64>,
}

/// One fill as reqExecutions shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayFill {
    /// Client id, order id, perm id, orderRef of its order.
    pub client_id: i32,
    /// The order id.
    pub order_id: i32,
    /// The perm id.
    pub perm_id: i64,
    /// The orderRef.
    pub order_ref: String,
    /// IB's execution id.
    pub exec_id: String,
    /// Shares in this fill.
    pub shares: f64,
    /// Its price.
    pub price: f64,
}

/// What the gateway showed after a reconnect: every client's open orders, the completed
/// orders, the fills within the executions window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// reqAllOpenOrders.
    pub open: Vec<GatewayOrder>,
    /// reqCompletedOrders(false).
    pub completed: Vec<GatewayOrder>,
    /// reqExecutions with `last_n_days` covering the outage.
    pub fills: Vec<GatewayFill>,
}

/// What a reconcile decided for one order.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing new.
    Unchanged,
    /// Its state at the gateway.
    Now {
        /// IB's status (or `NotSent`).
        status: String,
        /// Shares filled.
        filled: f64,
        /// Average fill price, when known.
        avg_fill_price: Option<f64>,
    },
    /// Seen nowhere, though it may have been written: kept and looked for again.
    Unknown {
        /// Shares filled according to the executions seen (partial fills of an order that is
        /// neither open nor completed).
        filled: f64,
        /// Their average price.
        avg_fill_price: Option<f64>,
    },
}

/// One order's reconcile outcome, for the status events.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileReport {
    /// The order's ticket, client id, order id and ref.
    pub ticket: u64,
    /// Client id it was placed with (0 if never placed).
    pub client_id: i32,
    /// Order id (0 if never placed).
    pub order_id: i32,
    /// orderRef.
    pub order_ref: String,
    /// Status before.
    pub before: String,
    /// Status now (`Unknown` when seen nowhere).
    pub after: String,
    /// Shares filled.
    pub filled: f64,
}

/// The reconcile decision for one order (*pure*): open orders first (the order still works),
/// then completed orders, then fills alone (a fill before the gateway's midnight is no longer
/// among today's completed orders); an order never handed to a socket and seen nowhere was not
/// sent; any other order seen nowhere is `Unknown` — never invented as cancelled or unfilled.
pub fn decide(entry: &OrderEntry, found: &Found) -> Decision {
    let mut seen = HashSet::new();
    let (mut shares, mut notional) = (0.0, 0.0);
    for fill in found.fills.iter().filter(|f| entry.matches(f.client_id, f.order_id, f.perm_id, &f.order_ref)) {
        if seen.insert(fill.exec_id.as_str()) {
            shares += fill.shares;
            notional += fill.shares * fill.price;
        }
    }
    let fill_avg = (shares > 0.0).then(|| notional / shares);
    let find = |list: &[GatewayOrder]| {
        list.iter().find(|o| entry.matches(o.client_id, o.order_id, o.perm_id, &o.order_ref)).cloned()
    };
    let (status, filled, avg) = match find(&found.open).or_else(|| find(&found.completed)) {
        Some(o) => {
            let filled = o.filled.max(shares);
            (o.status, filled, o.avg_fill_price.filter(|_| filled > 0.0).or(fill_avg))
        }
        None if shares > 0.0 && shares + 1e-9 >= entry.quantity => ("Filled".to_owned(), shares, fill_avg),
        None if shares > 0.0 || entry.stage == Stage::Written => {
            return if entry.unknown {
                Decision::Unchanged
            } else {
                Decision::Unknown { filled: shares, avg_fill_price: fill_avg }
            };
        }
        None => ("NotSent".to_owned(), 0.0, None),
    };
    let regress = is_terminal(&entry.status) && !is_terminal(&status) || filled + 1e-9 < entry.filled;
    if regress || (status == entry.status && (filled - entry.filled).abs() < 1e-9 && !entry.unknown) {
        return Decision::Unchanged;
    }
    Decision::Now { status, filled, avg_fill_price: avg }
}

impl AccountRegistry {
    /// Follow a new order from the guard; its ticket id. The orderRef is the engine's, or one
    /// the supervisor makes unique to this process.
    pub fn track(&self, request: &mut OrderRequest, now: DateTime<Utc>) -> u64 {
        let mut facts = self.lock();
        facts.next_ticket += 1;
        let ticket = facts.next_ticket;
        if request.order.order_ref.is_empty() {
            request.order.order_ref = format!("sup-{}-{}-{ticket}", request.account, process_tag());
        }
        facts.orders.insert(
            ticket,
            OrderEntry {
                ticket,
                account: request.account.clone(),
                order_ref: request.order.order_ref.clone(),
                client_id: None,
                order_id: request.order_id,
                perm_id: None,
                quantity: request.order.total_quantity,
                placed_at: now,
                stage: Stage::Queued,
                status: "Queued".into(),
                filled: 0.0,
                avg_fill_price: None,
                answered: false,
                unknown: false,
                settled_at: None,
                write: 0,
                exec_ids: HashSet::new(),
                commissions: HashSet::new(),
                last_open: None,
                sent: false,
                sink: std::sync::Arc::clone(&request.sink),
            },
        );
        ticket
    }

    /// The gateway is about to write the order on `client_id` as `order_id`.
    pub fn written(&self, ticket: u64, client_id: i32, order_id: i32) {
        let mut facts = self.lock();
        facts.writes += 1;
        let write = facts.writes;
        if let Some(entry) = facts.orders.get_mut(&ticket) {
            entry.write = write;
            entry.client_id = Some(client_id);
            entry.order_id = Some(order_id);
            entry.stage = Stage::Written;
            entry.status = "PendingSubmit".into();
        }
    }

    /// The ticket of the order an update from the gateway is about.
    pub fn route(&self, client_id: i32, order_id: i32, perm_id: i64, order_ref: &str) -> Option<u64> {
        let mut facts = self.lock();
        let entry = facts.orders.values_mut().find(|o| o.matches(client_id, order_id, perm_id, order_ref))?;
        if perm_id != 0 {
            entry.perm_id = Some(perm_id);
        }
        Some(entry.ticket)
    }

    /// The ticket of the order a fill `exec_id` belongs to (commission reports name only it).
    pub fn route_exec(&self, exec_id: &str) -> Option<u64> {
        self.lock().orders.values().find(|o| o.exec_ids.contains(exec_id)).map(|o| o.ticket)
    }

    /// Deliver one event of order `ticket` to the engine, once: a repeated status (same status
    /// and filled), a repeated fill or commission (same execution id), a status that would go
    /// back from a terminal one, are dropped. `Sent` comes first: the gateway's ack can arrive
    /// on the order-update stream before the writing task resumes from the write, so the first
    /// gateway event of a written order brings its `Sent` with it (and the writer's own is
    /// then dropped). Returns whether it was delivered.
    pub fn deliver(&self, ticket: u64, event: OrderEvent) -> bool {
        let (sink, sent_first) = {
            let mut facts = self.lock();
            let Some(entry) = facts.orders.get_mut(&ticket) else { return false };
            let from_gateway = matches!(
                event,
                OrderEvent::Open { .. }
                    | OrderEvent::Status { .. }
                    | OrderEvent::Execution { .. }
                    | OrderEvent::Commission { .. }
            );
            let fresh = match &event {
                OrderEvent::Status { status, filled, avg_fill_price, .. } => {
                    let same = *status == entry.status && (*filled - entry.filled).abs() < 1e-9;
                    let back = (is_terminal(&entry.status) && !is_terminal(status)) || *filled + 1e-9 < entry.filled;
                    if !same && !back {
                        entry.status = status.clone();
                        entry.filled = *filled;
                        entry.avg_fill_price = avg_fill_price.filter(|_| *filled > 0.0).or(entry.avg_fill_price);
                        if is_terminal(status) {
                            entry.answered = true;
                            entry.settle();
                        }
                    }
                    !same && !back
                }
                OrderEvent::Open { status, .. } => entry.last_open.replace(status.clone()).as_ref() != Some(status),
                OrderEvent::Execution { exec_id, .. } => entry.exec_ids.insert(exec_id.clone()),
                OrderEvent::Commission { exec_id, .. } => entry.commissions.insert(exec_id.clone()),
                OrderEvent::Refused { .. } => {
                    entry.answered = true;
                    entry.status = "Refused".into();
                    entry.settle();
                    true
                }
                OrderEvent::Failed { .. } => {
                    let first = !entry.answered;
                    entry.answered = true;
                    first
                }
                OrderEvent::Sent { .. } => !std::mem::replace(&mut entry.sent, true),
                OrderEvent::Reconciled { .. } | OrderEvent::Unknown { .. } => true,
            };
            if !fresh {
                return false;
            }
            let sent_first = match (from_gateway, entry.sent, entry.client_id, entry.order_id) {
                (true, false, Some(client_id), Some(order_id)) if entry.stage == Stage::Written => {
                    entry.sent = true;
                    Some(OrderEvent::Sent {
                        account: entry.account.clone(),
                        order_id,
                        client_id,
                        order_ref: entry.order_ref.clone(),
                    })
                }
                _ => None,
            };
            (std::sync::Arc::clone(&entry.sink), sent_first)
        };
        if let Some(sent) = sent_first {
            sink(sent);
        }
        sink(event);
        true
    }

    /// A ticket was dropped; if no final answer reached the engine, tell it `Failed` now.
    pub(super) fn ticket_dropped(&self, ticket: u64) {
        let (order_id, order_ref, error) = {
            let facts = self.lock();
            let Some(entry) = facts.orders.get(&ticket) else { return };
            if entry.answered || entry.is_settled() {
                return;
            }
            let error = match entry.stage {
                Stage::Queued => {
                    "not sent: the gateway actor stopped (killed, panicked or shut down) before writing \
                                  it; reconciliation after the reconnect confirms"
                }
                Stage::Written => {
                    "the connection or the gateway actor ended before the order was final: its state \
                                   is unknown; reconciliation follows after the reconnect"
                }
            };
            (entry.order_id, entry.order_ref.clone(), error.to_owned())
        };
        self.deliver(ticket, OrderEvent::Failed { order_id, order_ref, error });
    }

    /// Settle every unsettled order from a gateway snapshot; the events are delivered, the
    /// reports returned for publishing.
    /// The count of writes so far: pass it to [`reconcile`](Self::reconcile) with snapshots
    /// asked for after reading it.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Judge every unsettled order written up to write `mark` (read before the snapshots were
    /// asked for) by the snapshots: an order written while they were being taken may not be
    /// in them yet, and is left to its own stream and the next reconcile.
    pub fn reconcile(&self, found: &Found, mark: u64) -> Vec<ReconcileReport> {
        let decisions: Vec<(u64, String, Decision)> = {
            let facts = self.lock();
            facts
                .orders
                .values()
                // An unwritten order not yet answered is still in the gateway actor's hands
                // (waiting for a probe or for IB's message rate): nothing to reconcile yet.
                .filter(|o| !o.is_settled() && o.write <= mark && (o.stage == Stage::Written || o.answered))
                .map(|o| (o.ticket, o.status.clone(), decide(o, found)))
                .collect()
        };
        let mut reports = Vec::new();
        for (ticket, before, decision) in decisions {
            let (event, after, filled) = {
                let mut facts = self.lock();
                let Some(entry) = facts.orders.get_mut(&ticket) else { continue };
                match decision {
                    Decision::Unchanged => continue,
                    Decision::Now { status, filled, avg_fill_price } => {
                        entry.unknown = false;
                        entry.status = status.clone();
                        entry.filled = filled;
                        entry.avg_fill_price = avg_fill_price;
                        if is_terminal(&status) {
                            entry.answered = true;
                            entry.settle();
                        }
                        let event = OrderEvent::Reconciled {
                            order_id: entry.order_id,
                            order_ref: entry.order_ref.clone(),
                            before: before.clone(),
                            after: status.clone(),
                            filled,
                            avg_fill_price,
                        };
                        (event, status, filled)
                    }
                    Decision::Unknown { filled, avg_fill_price } => {
                        entry.unknown = true;
                        let event = OrderEvent::Unknown {
                            order_id: entry.order_id,
                            order_ref: entry.order_ref.clone(),
                            last_status: before.clone(),
                            filled,
                            avg_fill_price,
                        };
                        (event, "Unknown".to_owned(), filled)
                    }
                }
            };
            let (client_id, order_id, order_ref) = {
                let facts = self.lock();
                let e = &facts.orders[&ticket];
                (e.client_id.unwrap_or(0), e.order_id.unwrap_or(0), e.order_ref.clone())
            };
            self.deliver(ticket, event);
            reports.push(ReconcileReport { ticket, client_id, order_id, order_ref, before, after, filled });
        }
        reports
    }

    /// Orders to look for at a reconcile: the unsettled ones, and when the oldest was placed.
    pub fn unsettled(&self) -> Option<DateTime<Utc>> {
        self.lock().orders.values().filter(|o| !o.is_settled()).map(|o| o.placed_at).min()
    }

    /// Unsettled orders the current connection's streams cannot follow (placed under another
    /// client id, or seen nowhere): they are looked for again at every heartbeat.
    pub fn needs_polling(&self, client_id: i32) -> bool {
        self.lock()
            .orders
            .values()
            .any(|o| !o.is_settled() && (o.unknown || o.client_id.is_some_and(|c| c != client_id)))
    }

    /// Forget orders settled more than `grace` ago (late commission reports still find them).
    pub fn sweep(&self, grace: Duration) {
        self.lock().orders.retain(|_, o| o.settled_at.is_none_or(|t| t.elapsed() < grace));
    }
}

/// A tag unique to this process run, so the orderRefs it makes never collide with an earlier
/// run's (whose orders the gateway may still hold).
fn process_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| format!("{:x}", Utc::now().timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ibapi::contracts::Contract;
    use ibapi::orders::{order_builder, Action};

    use super::*;

    fn entry(stage: Stage, status: &str) -> (AccountRegistry, u64) {
        let registry = AccountRegistry::default();
        let mut request = OrderRequest {
            account: "Paper".into(),
            order_id: None,
            contract: Contract::stock("AAPL").build(),
            order: order_builder::market_order(Action::Buy, 5.0),
            sink: Arc::new(|_| true),
        };
        let ticket = registry.track(&mut request, Utc::now());
        if stage == Stage::Written {
            registry.written(ticket, 1, 7);
        }
        registry.lock().orders.get_mut(&ticket).unwrap().status = status.into();
        (registry, ticket)
    }

    fn decision(registry: &AccountRegistry, ticket: u64, found: &Found) -> Decision {
        decide(&registry.lock().orders[&ticket], found)
    }

    fn fill(exec_id: &str, shares: f64, price: f64) -> GatewayFill {
        GatewayFill { client_id: 1, order_id: 7, exec_id: exec_id.into(), shares, price, ..GatewayFill::default() }
    }

    #[test]
    fn fills_alone_settle_an_order_no_snapshot_lists_any_more() {
        let (registry, ticket) = entry(Stage::Written, "Submitted");
        // A fill before the gateway's midnight: not among today's completed orders.
        let found = Found {
            fills: vec![fill("a.01", 2.0, 10.0), fill("b.01", 3.0, 20.0), fill("b.01", 3.0, 20.0)],
            ..Found::default()
        };
        assert_eq!(
            decision(&registry, ticket, &found),
            Decision::Now { status: "Filled".into(), filled: 5.0, avg_fill_price: Some(16.0) },
            "a repeated execution id counts once"
        );
    }

    #[test]
    fn an_order_written_while_the_snapshots_were_taken_is_not_judged_by_them() {
        let registry = AccountRegistry::default();
        let mark = registry.writes();
        let mut request = OrderRequest {
            account: "Paper".into(),
            order_id: None,
            contract: Contract::stock("AAPL").build(),
            order: order_builder::market_order(Action::Buy, 5.0),
            sink: Arc::new(|_| true),
        };
        let ticket = registry.track(&mut request, Utc::now());
        registry.written(ticket, 1, 7);
        // The snapshots asked for before the write cannot list it: no verdict, not Unknown.
        assert!(registry.reconcile(&Found::default(), mark).is_empty());
        assert!(!registry.lock().orders[&ticket].unknown);
        // The next reconcile, asked for after the write, does judge it.
        let reports = registry.reconcile(&Found::default(), registry.writes());
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].after, "Unknown");
    }

    #[test]
    fn an_order_still_waiting_to_be_written_is_not_judged_until_its_ticket_is_gone() {
        let (registry, ticket) = entry(Stage::Queued, "Queued");
        // Waiting for a probe or the message rate: a reconcile now must not call it NotSent.
        assert!(registry.reconcile(&Found::default(), registry.writes()).is_empty());
        // Its ticket dropped unwritten (the actor died): now it is settled NotSent.
        registry.ticket_dropped(ticket);
        let reports = registry.reconcile(&Found::default(), registry.writes());
        assert_eq!(reports.iter().map(|r| r.after.as_str()).collect::<Vec<_>>(), ["NotSent"]);
    }

    #[test]
    fn an_order_seen_nowhere_is_unknown_unless_it_was_never_written() {
        let (written, ticket) = entry(Stage::Written, "PendingSubmit");
        assert_eq!(
            decision(&written, ticket, &Found::default()),
            Decision::Unknown { filled: 0.0, avg_fill_price: None }
        );
        let partial = Found { fills: vec![fill("a.01", 2.0, 10.0)], ..Found::default() };
        assert_eq!(decision(&written, ticket, &partial), Decision::Unknown { filled: 2.0, avg_fill_price: Some(10.0) });
        let (queued, ticket) = entry(Stage::Queued, "Queued");
        assert_eq!(
            decision(&queued, ticket, &Found::default()),
            Decision::Now { status: "NotSent".into(), filled: 0.0, avg_fill_price: None }
        );
    }

    #[test]
    fn a_cancel_has_no_price_and_a_terminal_status_never_goes_back() {
        let (registry, ticket) = entry(Stage::Written, "Submitted");
        let order_ref = registry.lock().orders[&ticket].order_ref.clone();
        let cancelled = GatewayOrder {
            order_ref,
            status: "Cancelled".into(),
            avg_fill_price: Some(0.0),
            ..GatewayOrder::default()
        };
        let found = Found { completed: vec![cancelled.clone()], ..Found::default() };
        assert_eq!(
            decision(&registry, ticket, &found),
            Decision::Now { status: "Cancelled".into(), filled: 0.0, avg_fill_price: None },
            "found by orderRef under any client id; no price without a fill"
        );
        registry.lock().orders.get_mut(&ticket).unwrap().status = "Filled".into();
        let open = Found { open: vec![GatewayOrder { status: "Submitted".into(), ..cancelled }], ..Found::default() };
        assert_eq!(decision(&registry, ticket, &open), Decision::Unchanged);
    }

    /// A market order for Paper whose sink records every event.
    fn recorded_order() -> (OrderRequest, Arc<std::sync::Mutex<Vec<OrderEvent>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let request = OrderRequest {
            account: "Paper".into(),
            order_id: None,
            contract: Contract::stock("AAPL").build(),
            order: order_builder::market_order(Action::Buy, 1.0),
            sink: {
                let seen = Arc::clone(&seen);
                Arc::new(move |e| {
                    seen.lock().unwrap().push(e);
                    true
                })
            },
        };
        (request, seen)
    }

    #[test]
    fn delivery_is_idempotent_and_a_dropped_ticket_is_answered_once() {
        let registry = AccountRegistry::default();
        let (mut request, seen) = recorded_order();
        let ticket = registry.track(&mut request, Utc::now());
        let status = |s: &str, f: f64| OrderEvent::Status {
            order_id: 1,
            status: s.into(),
            filled: f,
            remaining: 1.0 - f,
            avg_fill_price: None,
        };
        assert!(registry.deliver(ticket, status("Submitted", 0.0)));
        assert!(!registry.deliver(ticket, status("Submitted", 0.0)));
        let exec = || OrderEvent::Execution { order_id: 1, exec_id: "x.01".into(), shares: 1.0, price: 5.0 };
        assert!(registry.deliver(ticket, exec()));
        assert!(!registry.deliver(ticket, exec()));
        registry.ticket_dropped(ticket);
        registry.ticket_dropped(ticket);
        let failed = seen.lock().unwrap().iter().filter(|e| matches!(e, OrderEvent::Failed { .. })).count();
        assert_eq!(failed, 1);
        assert!(registry.deliver(ticket, status("Filled", 1.0)));
        assert!(!registry.deliver(ticket, status("Submitted", 0.0)), "never back from Filled");
    }

    #[test]
    fn the_engine_hears_sent_before_the_gateway_ack_whichever_arrives_first() {
        let registry = AccountRegistry::default();
        let (mut request, seen) = recorded_order();
        let ticket = registry.track(&mut request, Utc::now());
        registry.written(ticket, 7, 42);
        // The order-update stream's OpenOrder wins the race with the writing task's Sent.
        assert!(registry.deliver(ticket, OrderEvent::Open { order_id: 42, status: "Submitted".into() }));
        let order_ref = request.order.order_ref.clone();
        let sent = OrderEvent::Sent { account: "Paper".into(), order_id: 42, client_id: 7, order_ref };
        assert!(!registry.deliver(ticket, sent.clone()), "the writer's Sent came already");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(matches!(&seen[0], OrderEvent::Sent { order_id: 42, client_id: 7, account, .. } if account == "Paper"));
        assert!(matches!(&seen[1], OrderEvent::Open { order_id: 42, .. }));
    }
}
