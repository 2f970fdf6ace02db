//! Faults applied to one gateway: what each does to its sessions and its listener.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{notice, Conditions, Gateway};
use crate::sim::farms;
use crate::sim::fault::Fault;
use crate::sim::session::SessionControl;

impl Gateway {
    /// Apply a fault to this gateway.
    pub fn apply(self: &Arc<Self>, fault: &Fault) {
        tracing::info!(port = self.port(), fault = fault.kind(), "sim fault injected");
        self.lock().last_fault = Some(fault.clone());
        match fault {
            Fault::Drop => self.broadcast_control(|| SessionControl::CloseFin),
            Fault::Reset => self.broadcast_control(|| SessionControl::CloseRst),
            Fault::Hang => self.conditions.send_modify(|c| c.hang = true),
            Fault::StallHandshake => self.conditions.send_modify(|c| c.stall_handshake = true),
            Fault::Latency { latency_ms } => {
                self.conditions.send_modify(|c| c.latency = Duration::from_millis(*latency_ms))
            }
            Fault::HoldClientId { duration_ms } => {
                self.conditions.send_modify(|c| c.hold_client_id = Some(Duration::from_millis(*duration_ms)))
            }
            Fault::UpstreamLost { message } => {
                self.conditions.send_modify(|c| c.upstream_lost = true);
                let text =
                    message.as_deref().unwrap_or("Connectivity between IB and Trader Workstation has been lost.");
                self.broadcast(&notice(1100, text));
            }
            Fault::UpstreamRestored { data_lost } => self.restore_upstream(*data_lost),
            Fault::Refuse { duration_ms } => self.refuse(duration_ms.map(Duration::from_millis)),
            Fault::FarmBroken { farm } => self.set_farm(farm, true),
            Fault::FarmOk { farm } => self.set_farm(farm, false),
            Fault::CompetingSession => {
                self.conditions.send_modify(|c| c.competing_session = true);
                self.broadcast_control(|| SessionControl::CompetingSession);
            }
            Fault::PacingViolation => self.broadcast(&farms::pacing_violation(farms::MAX_MESSAGES_PER_SECOND + 1)),
            Fault::Clear => self.clear(),
        }
    }

    /// Mark `farm` broken or OK and tell every client, once per change.
    pub(crate) fn set_farm(&self, farm: &str, broken: bool) {
        let mut changed = false;
        self.conditions.send_modify(|c| {
            changed = if broken { c.farms_broken.insert(farm.to_owned()) } else { c.farms_broken.remove(farm) };
        });
        if changed || !broken {
            self.broadcast(&farms::notice(farm, broken));
        }
    }

    /// The gateway process restarted (IBC's `RESTART`): what wedged the old one's API ends.
    pub(crate) fn api_restarted(&self) {
        self.conditions.send_modify(|c| {
            c.hang = false;
            c.stall_handshake = false;
            c.latency = Duration::ZERO;
        });
    }

    /// Every broken farm reconnects (IBC's `RECONNECTDATA`, or `clear`).
    pub(crate) fn reconnect_farms(&self) {
        let broken: Vec<String> = self.conditions.borrow().farms_broken.iter().cloned().collect();
        for farm in broken {
            self.set_farm(&farm, false);
        }
    }

    fn restore_upstream(&self, data_lost: bool) {
        self.conditions.send_modify(|c| c.upstream_lost = false);
        if data_lost {
            // Subscriptions do not survive a data-lost restore: clients must re-request.
            self.broadcast_control(|| SessionControl::MarketDataLost);
            self.broadcast(&notice(
                1101,
                "Connectivity between IB and Trader Workstation has been restored - data lost.",
            ));
        } else {
            self.broadcast(&notice(
                1102,
                "Connectivity between IB and Trader Workstation has been restored - data maintained.",
            ));
        }
    }

    fn refuse(self: &Arc<Self>, duration: Option<Duration>) {
        let epoch = {
            let mut inner = self.lock();
            if let Some(task) = inner.accept_task.take() {
                task.abort();
            }
            inner.refuse_epoch += 1;
            inner.refuse_epoch
        };
        self.conditions.send_modify(|c| c.refusing = true);
        self.broadcast_control(|| SessionControl::CloseFin);
        if let Some(duration) = duration {
            let gateway = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    _ = gateway.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(duration) => {
                        if gateway.lock().refuse_epoch == epoch {
                            gateway.listen_again().await;
                        }
                    }
                }
            });
        }
    }

    fn clear(self: &Arc<Self>) {
        let was = self.conditions.borrow().clone();
        {
            let mut inner = self.lock();
            inner.held_client_ids.clear();
            inner.refuse_epoch += 1;
        }
        self.conditions.send_modify(|c| {
            *c = Conditions { refusing: c.refusing, upstream_lost: c.upstream_lost, ..Conditions::default() }
        });
        if was.upstream_lost {
            self.restore_upstream(false);
        }
        for farm in &was.farms_broken {
            self.broadcast(&farms::notice(farm, false));
        }
        if was.refusing {
            let gateway = Arc::clone(self);
            tokio::spawn(async move { gateway.listen_again().await });
        }
    }

    /// Re-bind the same address after `refuse`; retried briefly if the port is not free yet.
    async fn listen_again(self: &Arc<Self>) {
        for _ in 0..100 {
            if self.shutdown.is_cancelled() {
                return;
            }
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.spawn_accept_loop(listener);
                    self.conditions.send_modify(|c| c.refusing = false);
                    tracing::info!(port = self.port(), "sim listening again");
                    return;
                }
                Err(e) => {
                    tracing::debug!(port = self.port(), error = %e, "sim re-bind failed, retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tracing::error!(port = self.port(), "sim could not listen again after refuse");
    }
}
