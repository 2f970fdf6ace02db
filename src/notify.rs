//! systemd integration (`Type=notify`): READY=1 once the service is up, WATCHDOG=1 on every
//! heartbeat round (so a wedged actor system stops pinging and systemd restarts the process),
//! STOPPING=1 on shutdown. Without `NOTIFY_SOCKET` (not under systemd) every call is a no-op.

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

/// One heartbeat round happened.
pub fn watchdog() {
    send(NotifyState::Watchdog);
}

/// An orderly shutdown began.
pub fn stopping() {
    send(NotifyState::Stopping);
}
