//! Pacing of outgoing requests below IB's message rate, orders first.
//!
//! IB: error 100, "Max rate of messages per second has been exceeded … the client application
//! has exceeded the rate of 50 messages/second. The TWS will likely disconnect the client
//! application after this message" (TWS API message codes). ib_async throttles to 45
//! requests/s; Lean to 50 messages per 3 s. [`Pacer`] decides *when* each outgoing message of
//! one gateway connection may go so that no 1-second window ever holds more than
//! `pacing.max_messages_per_second` (default 45) of them. It is a pure state machine over
//! [`tokio::time::Instant`] (paused tokio time works): the caller submits messages and sends
//! what it is told to, when it is told to; nothing here sleeps, spawns or reads a clock.
//!
//! # Two lanes
//!
//! - **Orders** ([`Lane::Order`]: place, modify, cancel) never wait behind other requests.
//!   They may use the full rate, while other requests may only use
//!   `max_messages_per_second - order_reserve` (default 45 − 5 = 40) per second. So even in a
//!   flood of requests there are always `order_reserve` slots per second that only orders
//!   can take: an order goes out the instant it arrives unless more than `order_reserve`
//!   orders arrived within one second *and* the full rate is used. Even then it waits only
//!   for the rate, never for a request: queued orders are always released before any queued
//!   request.
//! - **Requests** ([`Lane::Request`]: market data, history, contract details, probes …) are
//!   queued FIFO and released on a schedule as the window frees up.
//!
//! # Windows
//!
//! The limit holds for every half-open window `[t, t + 1 s)`: a message may go at `now` when
//! fewer than the lane's limit went in `(now − 1 s, now]`. A message sent at `s` frees its
//! slot at `s + 1 s` exactly.
//!
//! # After a violation
//!
//! When IB answers 100 anyway (another client on the same gateway, a burst it counts
//! differently), [`Pacer::violation`] holds the request lane for `cool_down` (default 1 s, one
//! full window) so IB's count drains; orders still go within the rate.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The window the rate is counted over.
pub const WINDOW: Duration = Duration::from_secs(1);

/// How much longer than the window each send holds its slot by default. The pacer lets a
/// message go when the actor decides; a task writes it a moment later (longer on a busy
/// runtime, and a burst's writes spread out), while IB counts it when it *arrives*. Without
/// the allowance a burst written late and the next one written promptly can meet in one of
/// IB's seconds: measured in `tests/pacing.rs`, 51–59 messages in a second at a limit of 45.
pub const WRITE_ALLOWANCE: Duration = Duration::from_millis(250);

/// IB's own limit: above it the gateway answers 100 and may disconnect the client.
pub const IB_MAX_MESSAGES_PER_SECOND: u32 = 50;

/// Default `pacing.max_messages_per_second`: below IB's ≈ 50/s, as ib_async does.
pub const DEFAULT_MAX_MESSAGES_PER_SECOND: u32 = 45;

/// Default share of the rate only orders may use.
pub const DEFAULT_ORDER_RESERVE: u32 = 5;

/// Default pause of the request lane after a 100.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(1);

/// The pacer's limits (`pacing.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacingConfig {
    /// Messages per second over both lanes together.
    pub max_messages_per_second: u32,
    /// Messages per second only orders may use; requests get the rest.
    pub order_reserve: u32,
    /// How long requests pause after IB reports a violation.
    pub cool_down: Duration,
    /// How long each send holds its slot: at least [`WINDOW`]; by default the window plus
    /// [`WRITE_ALLOWANCE`], so the sustained rate is `max_messages_per_second` / 1.25 s.
    pub hold: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            max_messages_per_second: DEFAULT_MAX_MESSAGES_PER_SECOND,
            order_reserve: DEFAULT_ORDER_RESERVE,
            cool_down: DEFAULT_COOL_DOWN,
            hold: WINDOW + WRITE_ALLOWANCE,
        }
    }
}

/// A pacing configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacingError {
    /// No message could ever go.
    #[error("pacing.max_messages_per_second is 0; use a rate below IB's limit of about 50, e.g. 45")]
    ZeroRate,
    /// Requests would get no share of the rate.
    #[error(
        "pacing.order_reserve ({reserve}) must be less than pacing.max_messages_per_second ({max}), \
         or requests other than orders never go"
    )]
    ReserveTooLarge {
        /// The configured reserve.
        reserve: u32,
        /// The configured rate.
        max: u32,
    },
}

/// Which lane a message travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Place, modify and cancel orders: first, and with a reserved share of the rate.
    Order,
    /// Everything else: FIFO, within the rate minus the reserve.
    Request,
}

/// The answer to a submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission<T> {
    /// Send it now (it is counted as sent at the submit instant).
    SendNow(T),
    /// It is queued; call [`Pacer::release`] at `next_release` (or on the next submit).
    Queued {
        /// When the first queued message may go.
        next_release: Instant,
    },
}

/// What to do next with the queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release<T> {
    /// Send this message now (counted as sent at the release instant); call again.
    Send {
        /// The lane it came from.
        lane: Lane,
        /// The message.
        item: T,
    },
    /// Nothing may go before this instant.
    Wait(Instant),
    /// Both queues are empty.
    Empty,
}

/// The pacer of one gateway connection, holding the queued messages.
#[derive(Debug)]
pub struct Pacer<T> {
    limit: usize,
    request_limit: usize,
    cool_down: Duration,
    hold: Duration,
    /// Send instants within the last window, oldest first.
    sent: VecDeque<Instant>,
    orders: VecDeque<T>,
    requests: VecDeque<T>,
    hold_requests_until: Option<Instant>,
}

impl<T> Pacer<T> {
    /// A pacer with `config`'s limits, or an error naming the setting that cannot work.
    pub fn new(config: PacingConfig) -> Result<Self, PacingError> {
        if config.max_messages_per_second == 0 {
            return Err(PacingError::ZeroRate);
        }
        if config.order_reserve >= config.max_messages_per_second {
            return Err(PacingError::ReserveTooLarge {
                reserve: config.order_reserve,
                max: config.max_messages_per_second,
            });
        }
        let limit = config.max_messages_per_second as usize;
        Ok(Self {
            limit,
            request_limit: limit - config.order_reserve as usize,
            cool_down: config.cool_down,
            hold: config.hold.max(WINDOW),
            sent: VecDeque::with_capacity(limit),
            orders: VecDeque::new(),
            requests: VecDeque::new(),
            hold_requests_until: None,
        })
    }

    /// Submits a message at `now`: send it now, or it is queued.
    pub fn submit(&mut self, lane: Lane, item: T, now: Instant) -> Admission<T> {
        self.prune(now);
        let may_go = match lane {
            Lane::Order => self.orders.is_empty() && self.order_ready_at(now) <= now,
            Lane::Request => self.orders.is_empty() && self.requests.is_empty() && self.request_ready_at(now) <= now,
        };
        if may_go {
            self.sent.push_back(now);
            return Admission::SendNow(item);
        }
        match lane {
            Lane::Order => self.orders.push_back(item),
            Lane::Request => self.requests.push_back(item),
        }
        let next_release = self.next_release(now).unwrap_or(now);
        Admission::Queued { next_release }
    }

    /// The next queued message that may go at `now`, or when to ask again.
    pub fn release(&mut self, now: Instant) -> Release<T> {
        self.prune(now);
        let (lane, at) = if !self.orders.is_empty() {
            (Lane::Order, self.order_ready_at(now))
        } else if !self.requests.is_empty() {
            (Lane::Request, self.request_ready_at(now))
        } else {
            return Release::Empty;
        };
        if at > now {
            return Release::Wait(at);
        }
        let queue = match lane {
            Lane::Order => &mut self.orders,
            Lane::Request => &mut self.requests,
        };
        match queue.pop_front() {
            Some(item) => {
                self.sent.push_back(now);
                Release::Send { lane, item }
            }
            None => Release::Empty,
        }
    }

    /// Counts a message that went at `now` without queueing: a liveness probe or a
    /// reconciliation request, which must never wait (a probe held for the rate would fail a
    /// healthy link). It takes a slot like any other, so the queued ones go later.
    pub fn record(&mut self, now: Instant) {
        self.prune(now);
        self.sent.push_back(now);
    }

    /// Empties both queues, orders first: what was waiting when the connection ended. The
    /// window is kept (IB counts per connection, but a new connection's first second costs
    /// nothing to pace as if it were the same).
    pub fn take_queued(&mut self) -> Vec<(Lane, T)> {
        let orders = self.orders.drain(..).map(|item| (Lane::Order, item));
        let requests = self.requests.drain(..).map(|item| (Lane::Request, item));
        orders.chain(requests).collect()
    }

    /// IB reported a violation (100) at `now`: hold requests for the cool-down.
    pub fn violation(&mut self, now: Instant) {
        let until = now + self.cool_down;
        self.hold_requests_until = Some(self.hold_requests_until.map_or(until, |held| held.max(until)));
    }

    /// How many messages wait in `lane`.
    pub fn queued(&self, lane: Lane) -> usize {
        match lane {
            Lane::Order => self.orders.len(),
            Lane::Request => self.requests.len(),
        }
    }

    /// When the first queued message may go, if any is queued.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        if !self.orders.is_empty() {
            Some(self.order_ready_at(now))
        } else if !self.requests.is_empty() {
            Some(self.request_ready_at(now))
        } else {
            None
        }
    }

    /// Forgets sends that left the window ending at `now`.
    fn prune(&mut self, now: Instant) {
        while self.sent.front().is_some_and(|&sent| sent + self.hold <= now) {
            self.sent.pop_front();
        }
    }

    /// When fewer than `limit` sends are in the window: now, or when enough expire.
    fn ready_at(&self, limit: usize, now: Instant) -> Instant {
        match self.sent.len().checked_sub(limit) {
            None => now,
            Some(oldest_to_expire) => self.sent[oldest_to_expire] + self.hold,
        }
    }

    fn order_ready_at(&self, now: Instant) -> Instant {
        self.ready_at(self.limit, now)
    }

    fn request_ready_at(&self, now: Instant) -> Instant {
        let at = self.ready_at(self.request_limit, now);
        self.hold_requests_until.map_or(at, |held| at.max(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const MS: Duration = Duration::from_millis(1);

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Event {
        Arrived { lane: Lane, id: usize, at: Instant },
        Sent { lane: Lane, id: usize, at: Instant },
    }

    /// Drives a pacer like the gateway actor would: submits each arrival at its instant,
    /// releases whenever the pacer said to, and records everything in order.
    fn drive(config: PacingConfig, mut arrivals: Vec<(Duration, Lane)>, base: Instant) -> Vec<Event> {
        arrivals.sort_by_key(|(offset, _)| *offset);
        let mut pacer: Pacer<usize> = Pacer::new(config).unwrap();
        let mut events = Vec::new();
        let mut wake: Option<Instant> = None;
        let mut next_arrival = 0;
        loop {
            let arrival_at = arrivals.get(next_arrival).map(|(offset, _)| base + *offset);
            let now = match (arrival_at, wake) {
                (Some(a), Some(w)) => a.min(w),
                (Some(a), None) => a,
                (None, Some(w)) => w,
                (None, None) => break,
            };
            while let Some((offset, lane)) = arrivals.get(next_arrival).copied().filter(|(o, _)| base + *o <= now) {
                let id = next_arrival;
                next_arrival += 1;
                let at = base + offset;
                events.push(Event::Arrived { lane, id, at });
                match pacer.submit(lane, id, at) {
                    Admission::SendNow(id) => events.push(Event::Sent { lane, id, at }),
                    Admission::Queued { next_release } => {
                        assert!(next_release >= at, "next release in the past");
                    }
                }
            }
            wake = None;
            loop {
                match pacer.release(now) {
                    Release::Send { lane, item } => events.push(Event::Sent { lane, id: item, at: now }),
                    Release::Wait(at) => {
                        assert!(at > now, "Wait must be in the future");
                        wake = Some(at);
                        break;
                    }
                    Release::Empty => break,
                }
            }
        }
        events
    }

    fn sends(events: &[Event]) -> Vec<(Lane, usize, Instant)> {
        events
            .iter()
            .filter_map(|e| match *e {
                Event::Sent { lane, id, at } => Some((lane, id, at)),
                Event::Arrived { .. } => None,
            })
            .collect()
    }

    /// The most sends (of `lane`, or all) in any window `[t, t + 1 s)`. Sends are in time order.
    fn max_in_any_window(sent: &[(Lane, usize, Instant)], lane: Option<Lane>) -> usize {
        let times: Vec<Instant> =
            sent.iter().filter(|(l, _, _)| lane.is_none_or(|want| *l == want)).map(|(_, _, at)| *at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "sends out of time order");
        let (mut most, mut end) = (0, 0);
        for (start, &t) in times.iter().enumerate() {
            while end < times.len() && times[end] < t + WINDOW {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    fn assert_invariants(config: PacingConfig, events: &[Event], arrivals: usize) {
        let sent = sends(events);
        assert_eq!(sent.len(), arrivals, "every message is sent exactly once");
        assert!(max_in_any_window(&sent, None) <= config.max_messages_per_second as usize);
        let request_limit = (config.max_messages_per_second - config.order_reserve) as usize;
        assert!(max_in_any_window(&sent, Some(Lane::Request)) <= request_limit);
        // FIFO within each lane.
        for lane in [Lane::Order, Lane::Request] {
            let ids: Vec<usize> = sent.iter().filter(|(l, _, _)| *l == lane).map(|(_, id, _)| *id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{lane:?} lane out of order: {ids:?}");
        }
        // No request goes out between an order's arrival and that order's send.
        let mut waiting_orders = std::collections::HashSet::new();
        for event in events {
            match *event {
                Event::Arrived { lane: Lane::Order, id, .. } => {
                    waiting_orders.insert(id);
                }
                Event::Sent { lane: Lane::Order, id, .. } => {
                    waiting_orders.remove(&id);
                }
                Event::Sent { lane: Lane::Request, id, .. } => {
                    assert!(waiting_orders.is_empty(), "request {id} overtook orders {waiting_orders:?}");
                }
                Event::Arrived { lane: Lane::Request, .. } => {}
            }
        }
    }

    #[test]
    fn burst_of_200_requests_never_exceeds_the_limit_in_any_second() {
        let config = PacingConfig::default();
        let base = Instant::now();
        let events = drive(config, vec![(Duration::ZERO, Lane::Request); 200], base);
        assert_invariants(config, &events, 200);
        let sent = sends(&events);
        assert_eq!(max_in_any_window(&sent, None), 40, "requests use the rate minus the order reserve");
        // 40 per hold (1.25 s): the first 40 at once, the last 40 at 5 s, nothing starves.
        assert_eq!(sent.iter().filter(|(_, _, at)| *at == base).count(), 40);
        assert_eq!(sent.last().unwrap().2, base + 4 * (WINDOW + WRITE_ALLOWANCE));
        // A write up to the allowance late still lands in a second with room: shift every
        // send of the first batch by 250 ms, the rest by nothing, and count again.
        let late: Vec<_> =
            sent.iter().map(|&(lane, id, at)| (lane, id, if at == base { at + WRITE_ALLOWANCE } else { at })).collect();
        assert_eq!(max_in_any_window(&late, None), 40, "a late batch meets no other in one second");
    }

    #[test]
    fn order_arriving_mid_burst_goes_out_at_once_ahead_of_every_queued_request() {
        let config = PacingConfig::default();
        let base = Instant::now();
        let mut arrivals = vec![(Duration::ZERO, Lane::Request); 200];
        arrivals.push((1500 * MS, Lane::Order));
        let events = drive(config, arrivals, base);
        assert_invariants(config, &events, 201);
        let sent = sends(&events);
        let (position, (_, _, at)) =
            sent.iter().enumerate().find(|(_, (lane, _, _))| *lane == Lane::Order).expect("the order is sent");
        assert_eq!(*at, base + 1500 * MS, "the order did not wait");
        // At 1.5 s only 80 requests are out; the other 120 go after the order.
        assert_eq!(position, 80);
        assert_eq!(sent[position + 1..].iter().filter(|(lane, _, _)| *lane == Lane::Request).count(), 120);
    }

    #[test]
    fn many_orders_take_the_whole_rate_before_any_queued_request() {
        let config = PacingConfig::default();
        let base = Instant::now();
        let mut arrivals = vec![(Duration::ZERO, Lane::Request); 100];
        arrivals.extend(vec![(10 * MS, Lane::Order); 100]);
        let events = drive(config, arrivals, base);
        assert_invariants(config, &events, 200);
        let sent = sends(&events);
        assert_eq!(max_in_any_window(&sent, None), 45);
        // 40 requests went at 0 s; then all 100 orders before the other 60 requests.
        let lanes: Vec<Lane> = sent.iter().map(|(lane, _, _)| *lane).collect();
        assert!(lanes[..40].iter().all(|l| *l == Lane::Request));
        assert!(lanes[40..140].iter().all(|l| *l == Lane::Order));
        assert!(lanes[140..].iter().all(|l| *l == Lane::Request));
        // 5 orders fit beside the 40 requests at once.
        assert_eq!(sent.iter().filter(|(lane, _, at)| *lane == Lane::Order && *at == base + 10 * MS).count(), 5);
    }

    #[test]
    fn random_traffic_keeps_every_invariant() {
        for seed in 0..60 {
            let mut rng = StdRng::seed_from_u64(seed);
            let config = PacingConfig {
                max_messages_per_second: rng.random_range(2..=50),
                order_reserve: 0,
                cool_down: DEFAULT_COOL_DOWN,
                hold: WINDOW,
            };
            let config = PacingConfig { order_reserve: rng.random_range(0..config.max_messages_per_second), ..config };
            let mut arrivals = Vec::new();
            for _ in 0..rng.random_range(1..8) {
                // Bursts at random instants over 3 s, of random size and lane mix.
                let at = Duration::from_millis(rng.random_range(0..3000));
                for _ in 0..rng.random_range(1..120) {
                    let lane = if rng.random_bool(0.15) { Lane::Order } else { Lane::Request };
                    let jitter = Duration::from_millis(rng.random_range(0..50));
                    arrivals.push((at + jitter, lane));
                }
            }
            let n = arrivals.len();
            let events = drive(config, arrivals, Instant::now());
            assert_invariants(config, &events, n);
        }
    }

    #[test]
    fn sparse_orders_never_wait_during_a_request_flood() {
        for seed in 0..30 {
            let mut rng = StdRng::seed_from_u64(1000 + seed);
            let config = PacingConfig::default();
            // A flood of requests over 5 s, and at most `order_reserve` orders per second.
            let mut arrivals: Vec<(Duration, Lane)> =
                (0..600).map(|_| (Duration::from_millis(rng.random_range(0..5000)), Lane::Request)).collect();
            let spacing = 1000 / config.order_reserve as u64 + 1;
            let mut t = rng.random_range(0..spacing);
            while t < 5000 {
                arrivals.push((Duration::from_millis(t), Lane::Order));
                t += spacing + rng.random_range(0..100);
            }
            let n = arrivals.len();
            let events = drive(config, arrivals, Instant::now());
            assert_invariants(config, &events, n);
            let arrived: std::collections::HashMap<usize, Instant> = events
                .iter()
                .filter_map(|e| match *e {
                    Event::Arrived { lane: Lane::Order, id, at } => Some((id, at)),
                    _ => None,
                })
                .collect();
            for (lane, id, at) in sends(&events) {
                if lane == Lane::Order {
                    assert_eq!(at, arrived[&id], "order {id} waited");
                }
            }
        }
    }

    #[test]
    fn a_violation_holds_requests_for_the_cool_down_but_not_orders() {
        let config = PacingConfig::default();
        let mut pacer: Pacer<&str> = Pacer::new(config).unwrap();
        let t0 = Instant::now();
        assert_eq!(pacer.submit(Lane::Request, "a", t0), Admission::SendNow("a"));
        pacer.violation(t0 + 100 * MS);
        assert_eq!(pacer.submit(Lane::Request, "b", t0 + 200 * MS), Admission::Queued { next_release: t0 + 1100 * MS });
        // Orders still go at once.
        assert_eq!(pacer.submit(Lane::Order, "order", t0 + 300 * MS), Admission::SendNow("order"));
        assert_eq!(pacer.release(t0 + 1099 * MS), Release::Wait(t0 + 1100 * MS));
        assert_eq!(pacer.release(t0 + 1100 * MS), Release::Send { lane: Lane::Request, item: "b" });
        assert_eq!(pacer.release(t0 + 1100 * MS), Release::Empty);
        assert_eq!(pacer.queued(Lane::Request), 0);
    }

    #[test]
    fn a_slot_frees_exactly_one_window_after_its_send() {
        let config =
            PacingConfig { max_messages_per_second: 2, order_reserve: 0, cool_down: DEFAULT_COOL_DOWN, hold: WINDOW };
        let mut pacer: Pacer<u8> = Pacer::new(config).unwrap();
        let t0 = Instant::now();
        assert_eq!(pacer.submit(Lane::Request, 1, t0), Admission::SendNow(1));
        assert_eq!(pacer.submit(Lane::Request, 2, t0 + 400 * MS), Admission::SendNow(2));
        assert_eq!(pacer.submit(Lane::Request, 3, t0 + 500 * MS), Admission::Queued { next_release: t0 + WINDOW });
        assert_eq!(pacer.next_release(t0 + 500 * MS), Some(t0 + WINDOW));
        assert_eq!(pacer.release(t0 + WINDOW - MS), Release::Wait(t0 + WINDOW));
        assert_eq!(pacer.release(t0 + WINDOW), Release::Send { lane: Lane::Request, item: 3 });
        assert_eq!(pacer.submit(Lane::Request, 4, t0 + WINDOW), Admission::Queued { next_release: t0 + 1400 * MS });
    }

    #[test]
    fn impossible_configurations_name_the_setting() {
        let zero = PacingConfig { max_messages_per_second: 0, ..PacingConfig::default() };
        assert_eq!(Pacer::<()>::new(zero).unwrap_err(), PacingError::ZeroRate);
        let all_reserved = PacingConfig { max_messages_per_second: 10, order_reserve: 10, ..PacingConfig::default() };
        let err = Pacer::<()>::new(all_reserved).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pacing.order_reserve (10) must be less than pacing.max_messages_per_second (10), \
             or requests other than orders never go"
        );
    }

    #[test]
    fn a_recorded_probe_goes_at_once_and_takes_a_slot_from_the_queued_requests() {
        let base = Instant::now();
        let config = PacingConfig {
            max_messages_per_second: 3,
            order_reserve: 1,
            cool_down: Duration::from_secs(1),
            hold: WINDOW,
        };
        let mut pacer: Pacer<u32> = Pacer::new(config).unwrap();
        assert_eq!(pacer.submit(Lane::Request, 1, base), Admission::SendNow(1));
        pacer.record(base + MS);
        // Two in the window: requests (limit 2) wait for the first to leave it.
        assert_eq!(pacer.submit(Lane::Request, 2, base + 2 * MS), Admission::Queued { next_release: base + WINDOW });
        // An order still has the reserved slot.
        assert_eq!(pacer.submit(Lane::Order, 9, base + 3 * MS), Admission::SendNow(9));
        assert_eq!(pacer.release(base + WINDOW), Release::Wait(base + WINDOW + MS));
        assert_eq!(pacer.release(base + WINDOW + 2 * MS), Release::Send { lane: Lane::Request, item: 2 });
    }

    #[test]
    fn queued_messages_are_handed_back_orders_first_when_the_connection_ends() {
        let base = Instant::now();
        let config = PacingConfig {
            max_messages_per_second: 2,
            order_reserve: 1,
            cool_down: Duration::from_secs(1),
            hold: WINDOW,
        };
        let mut pacer: Pacer<u32> = Pacer::new(config).unwrap();
        assert_eq!(pacer.submit(Lane::Request, 1, base), Admission::SendNow(1));
        assert!(matches!(pacer.submit(Lane::Request, 2, base), Admission::Queued { .. }));
        assert_eq!(pacer.submit(Lane::Order, 3, base), Admission::SendNow(3));
        assert!(matches!(pacer.submit(Lane::Order, 4, base), Admission::Queued { .. }));
        assert_eq!(pacer.take_queued(), vec![(Lane::Order, 4), (Lane::Request, 2)]);
        assert_eq!(pacer.release(base + WINDOW), Release::Empty);
    }
}
