//! The guarded TWS API port: engines in any language (ib_async, ib_insync, IB's clients for
//! Python, Java, C#, the Rust `ibapi`) trade through the guard by pointing their usual client at
//! the account's `proxy.listen` instead of the gateway.
//!
//! Each engine session gets its own upstream session to the gateway, opened with the engine's
//! own handshake (it negotiates its version and uses its client id); frames are relayed both
//! ways without re-encoding. Engine → gateway, only the message id is read: a `placeOrder` goes
//! upstream only while the guard's gates let it (the same decision as the library guard's:
//! connected, not degraded, not in a reset window, not paused, no meltdown); otherwise it is
//! never forwarded and the engine gets error 201 `Order rejected - reason: …` on that order id
//! at once, in the negotiated encoding. `cancelOrder` and `reqGlobalCancel` always pass.
//!
//! Loss is mirrored: when the account's link goes down every engine session is closed (FIN),
//! and connects while it is down are closed at accept, as a closed port would be.
//!
//! The parts: `actor.rs` (the ProxyActor: listener, admission, loss), `session.rs` (one
//! session: handshake relay, both directions, bounds), `inspect.rs` (what is read of a frame,
//! and the 201 answer; *pure*), `stats.rs` (counters and sessions for `/status` and `/metrics`).

mod actor;
mod inspect;
mod session;
mod stats;

pub use actor::{ProxyActor, ProxyArgs, ProxyMessage, ProxyState};
pub use inspect::{inspect, rejection, Inspected, ORDER_CONTAINER};
pub use stats::{PortSnapshot, PortStats, ProxyStats, SessionSnapshot, SessionStats};
