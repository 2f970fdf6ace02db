//! [`Drill`]: failures injected on purpose into a running actor, to prove the supervisor
//! recovers from them. Every actor the watchdog checks (gateways, the guard, the reconnect
//! actor) takes one through its own message (`GatewayMessage::Drill`, `GuardMessage::Drill`,
//! `ReconnectMessage::Drill`); the tests and the demo's fault panel send them.

use std::time::Duration;

/// A failure injected on purpose.
#[derive(Debug, Clone, Copy)]
pub enum Drill {
    /// Panic inside the handler.
    Panic,
    /// Stop handling messages for this long (the actor looks stuck).
    Freeze(Duration),
}

impl Drill {
    /// Carry the drill out inside `actor`'s handler: panic, or hold the mailbox.
    pub async fn run(self, actor: &str) {
        match self {
            Drill::Panic => panic!("drill: {actor} panics"),
            Drill::Freeze(duration) => tokio::time::sleep(duration).await,
        }
    }
}
