//! The root supervisor, and [`Supervision`], the handle a program holds on the running tree.
//!
//! The root spawns every child linked and owns their restarts: one-for-one, with a restart
//! intensity counted per child ([`RestartIntensity`], default 5 restarts in 60 s). An actor the
//! watchdog reports stuck (a gateway, the guard, the reconnect actor, persistence, alerts, a
//! guarded port) is killed and restarted the same way. Past the limit ("meltdown")
//! the board records it (every guard reads that and closes), a `Meltdown` event is published,
//! and the tree stops so the process can exit non-zero and the service manager restart it.
//!
//! Written here rather than with the `ractor-supervisor` crate: that crate logs through `log`
//! instead of `tracing`, finds children by global registry name (which collides when several
//! supervisors run in one process, as in our tests).
//!
//! The parts: `actor.rs` (the [`RootSupervisor`]: spawning, restarts, meltdown, ordered
//! shutdown), `intensity.rs` (the restart limit, a pure counter), `api.rs` ([`Supervision`] and
//! its [`Handle`]: what a program holds on the running tree), `tree.rs` (the actor tree with a
//! snapshot of every actor, for `/actors`).

mod actor;
mod api;
mod intensity;
mod tree;

pub use actor::{Child, ChildEntry, RootSupervisor, SupervisorArgs, SupervisorMessage, SupervisorState};
pub use api::{calendar_from, Handle, Outcome, StartOptions, Supervision, SupervisionError};
pub use intensity::RestartIntensity;
pub use tree::{ActorView, ChildInfo, SNAPSHOT_WITHIN};
