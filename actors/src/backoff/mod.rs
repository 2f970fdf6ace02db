//! The reconnect policy, as a pure state machine.
//!
//! [`Reconnector`] decides *when* to try to reconnect to IB Gateway and *with which client
//! id*; it never touches a socket, a timer or a random number generator. The caller (the
//! reconnect actor) feeds it [`ReconnectEvent`]s together with the current instant and a
//! jitter sample, and carries out the [`Action`] it answers:
//!
//! - [`Action::StartAttempt`]: connect now with the given client id, then report
//!   [`ReconnectEvent::Connected`] or [`ReconnectEvent::AttemptFailed`].
//! - [`Action::ScheduleWake`]: send [`ReconnectEvent::Tick`] at (or after) that instant.
//!   Spurious or early ticks are harmless: an early tick just answers the same wake again.
//! - [`Action::Rejected`]: a manual request was refused, with the reason.
//! - [`Action::None`]: nothing to do.
//!
//! Time is [`tokio::time::Instant`], so actor tests can pause and advance tokio's clock;
//! unit tests here build instants as `base + Duration` and never sleep.
//!
//! # Policy
//!
//! - **Schedule.** After a connection loss the first attempt happens after `schedule[0]`,
//!   the second after `schedule[1]`, and so on; the last step repeats forever (the
//!   supervisor never gives up). Each wait is jittered by `± jitter` (see
//!   [`BackoffPolicy::delay`]). A successful connection resets the schedule to its first
//!   step and the client id to the primary one. Every wait is at least [`MIN_WAIT`].
//! - **Startup.** A new [`Reconnector`] wants its first attempt at once (automatic mode).
//! - **Client id in use (IB error 326).** The next fallback id is tried right away (after
//!   [`MIN_WAIT`], 50 ms, so a misbehaving gateway can't make it spin) *without* consuming
//!   a backoff step, as long as ids remain untried in this round. Once every id was
//!   refused, the normal schedule applies and the next round starts from the primary id
//!   again. A gateway answering 326 forever thus gets at most `client_ids.len()` attempts
//!   per schedule step. Any other failure also ends the round: the next one starts from
//!   the primary id after the next schedule step.
//! - **Manual mode** (`auto = false`). After a loss the reconnector goes
//!   [`Idle`](ReconnectState::Idle); only [`ReconnectEvent::ManualRequest`] starts an
//!   attempt. A 326 in manual mode does not retry by itself either; it just moves on to the
//!   next fallback id for the next manual request.
//! - **Manual requests.** Start one immediate attempt from `Waiting` or `Idle` (with the
//!   current client id; a failure then counts like any other), at most once per
//!   `manual_min_interval` (accepted requests count, rejected ones don't). They are rejected
//!   while connected, while an attempt is in flight, and inside a reset window.
//! - **Reset windows.** [`ReconnectEvent::WindowStarted`] suspends everything until
//!   `until`, whatever the state, including a healthy connection (the caller decides
//!   whether to keep it). While suspended, no attempt is started, failures schedule
//!   nothing, and the reconnector only records whether the link is up
//!   ([`SuspendedLink`]): `ConnectionLost` and `AttemptFailed` mark it down, `Connected`
//!   marks it up. When the window ends ([`ReconnectEvent::WindowEnded`], or a `Tick` at or
//!   after `until`): if the link is up the state is `Connected` again (with its original
//!   `since` if it stayed up throughout); otherwise an attempt starts at once in automatic
//!   mode (the reconnector goes `Idle` in manual mode). The attempt counter *continues*
//!   across the window (it is the same outage), but the schedule restarts at its first
//!   step, because the gateway is expected back right after its restart.
//!
//! The parts: `policy.rs` ([`BackoffPolicy`], from the `reconnect` settings) and
//! `reconnector.rs` (the state machine).

mod policy;
mod reconnector;

#[cfg(test)]
mod fixtures;

pub use policy::{sample_jitter, BackoffPolicy, EMPTY_SCHEDULE_STEP, MIN_WAIT};
pub use reconnector::{
    Action, AttemptFailure, ManualRejection, ReconnectEvent, ReconnectState, Reconnector, SuspendedLink,
};
