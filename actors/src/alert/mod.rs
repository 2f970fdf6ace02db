//! Alerts: tells a human when an account goes down, degrades, recovers, when an order is seen
//! nowhere after a reconnect, or when the supervisor melts down — by POSTing Slack-compatible
//! JSON (`{"text": …}`) to `alerts.webhook_url` and/or e-mailing `alerts.smtp.to` (`smtp`:
//! lettre, TLS required unless `alerts.smtp.tls` is `"none"`).
//!
//! - **Once per episode** ([`decide`], `rules`), never inside a reset window.
//! - **The weekly login** ([`crate::reauth`]): an outage the Sunday token expiry explains gets
//!   one [`AlertKind::LoginNeeded`] instead of a "down" once `reauth.grace` has passed — by the
//!   next event or the actor's own timer on the clock seam ([`due`]) — and none if the gateway
//!   comes back sooner.
//! - **Rate-limited** once, when decided (`limit`, `alerts.max_per_minute` over all accounts):
//!   a "down" or "degraded" past the limit is dropped and counted, and so is the "recovered"
//!   of that episode; a "recovered" whose alert went out is never dropped; a meltdown and an
//!   order seen nowhere are never dropped.
//! - **In order, per channel** (`queue`, `outbox`): each channel has exactly one queue, drained
//!   by its own task one alert at a time. A delivery being retried (`alerts.retry`) holds the
//!   alerts behind it on that channel — so "recovered" never arrives before its "down" — but
//!   never the other channel nor the actor's mailbox. After the last retry the alert is
//!   counted as given up and the queue moves on; a "recovered" whose "down" was given up on a
//!   channel is not sent there. A meltdown cuts the retry waits ahead of it short.
//! - **A restart of the actor** (a panic, or a kill as stuck) loses nothing: the counters, the
//!   open episodes, the rate-limit window and the queues with their tasks live in
//!   [`AlertCounters`], which the [`Handle`](crate::Handle) holds for the life of the tree.
//!   The next incarnation finds the queues running and a "recovered" still closes the episode
//!   reported before the restart. Events published while no incarnation runs (between the
//!   failure and the restart) are not seen: the next state change is.
//! - **At shutdown and after a meltdown** the tree stops and the actor with it, but the queues
//!   keep delivering until the last `Handle` is dropped (when the program ends): a meltdown
//!   alert decided before the stop still goes out. What is still queued then is lost; an
//!   attempt already on `spawn_blocking` runs to its end (webhook: 10 s at most; e-mail:
//!   `alerts.smtp.timeout`), and the runtime waits for it before the process exits.
//!
//! The parts: `rules` (the alert, [`decide`]: *pure*), `limit` (the rate limit: *pure*),
//! `queue` (one channel's [`Lane`]: *pure*), `outbox` (the lanes and their tasks), `counters`
//! (what outlives an incarnation), `channel` (webhook and e-mail, [`Deliver`]), `smtp` (the
//! e-mail itself), `actor` (the [`AlertActor`]).

mod actor;
mod channel;
mod counters;
mod limit;
mod outbox;
mod queue;
mod rules;
mod smtp;

pub use actor::{AlertActor, AlertArgs, AlertMessage, AlertSnapshot, AlertState};
pub use channel::{Channel, Deliver, WEBHOOK_TIMEOUT};
pub use counters::{AlertCounters, QueueView};
pub use limit::{Admission, RateLimit};
pub use queue::{AfterFailure, Lane, Pushed, Queued};
pub use rules::{decide, due, Alert, AlertKind, Episode, Memory};
