//! systemd integration (`Type=notify`): READY=1 once the service is up, WATCHDOG=1 for every
//! heartbeat round in which every actor of the tree answered (so a wedged actor, or a wedged
//! root, stops the pings and systemd restarts the process if the supervisor's own restart does
//! not cure it), STOPPING=1 on shutdown. Without `NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use sd_notify::NotifyState;

fn send(state: NotifyState) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// The service is up: the tree started and HTTP listens.
pub fn ready() {
    send(NotifyState::Ready);
}

/// A heartbeat round in which every actor answered.
pub fn watchdog() {
    send(NotifyState::Watchdog);
}

/// An orderly shutdown began.
pub fn stopping() {
    send(NotifyState::Stopping);
}
