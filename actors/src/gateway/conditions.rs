//! The notices that are neither the link nor an order ([`Condition::classify`]): IB's data
//! farms, a competing live session (10197) and the message rate (100). None of them moves the
//! connection state, so none of them closes the order link:
//!
//! - a farm notice updates the session's [`FarmBoard`]; the farms go on the account's status
//!   record, and a change of the data plane is published ([`EventKind::DataPlaneChanged`]:
//!   the guard learns it there). When a market-data farm goes down every subscriber gets a
//!   `Gap`; its ticks resume on the same line when the farm is OK again.
//! - 10197 opens or extends a [`CompetingSession`] episode, shown on the status record; its
//!   first notice is published ([`EventKind::CompetingSession`], alerted once) and gives every
//!   subscriber a `Gap`. An episode ends after its quiet period (checked at each heartbeat).
//! - 100 and the "approaching max rate" warning are counted on the status record. Never a
//!   loss: the probe takes any notice as a sign of life.

use chrono::{DateTime, Utc};

use super::actor::GatewayState;
use crate::conditions::{CompetingSessionConfig, Condition, Sighting};
use crate::farms::{FarmChange, FarmNotice, FarmSnapshot};
use crate::status::EventKind;

impl GatewayState {
    /// Apply the condition a notice reports, if it reports one.
    pub(super) fn condition(&mut self, code: i32, message: &str) {
        let Some(condition) = Condition::classify(code, message) else { return };
        let now = self.args.clock.now();
        match condition {
            Condition::Farm(notice) => self.farm(&notice, now),
            Condition::CompetingSession => self.competing_session(now),
            Condition::PacingViolation | Condition::PacingWarning => {
                if condition == Condition::PacingViolation {
                    tracing::warn!(account = %self.name(), code, %message,
                        "IB message rate exceeded: counted; the link stays up; requests pause");
                    self.pacing_violation();
                }
                self.args.board.update(&self.args.account.name, |s| s.pacing.record(&condition, now));
            }
        }
    }

    fn farm(&mut self, notice: &FarmNotice, now: DateTime<Utc>) {
        let before = self.farms.data_plane();
        if self.farms.apply(notice, now) == FarmChange::Unchanged {
            return;
        }
        let farms = self.farms.snapshot();
        self.args.board.update(&self.args.account.name, |s| s.farms = farms.clone());
        if farms.data_plane == before {
            return;
        }
        let gap = !before.market_data_affected() && farms.data_plane.market_data_affected();
        tracing::warn!(account = %self.name(), farm = %notice.farm, code = notice.code, state = ?notice.state,
            data_plane = ?farms.data_plane, "data plane changed (the order link is another path)");
        self.publish(EventKind::DataPlaneChanged { farms });
        if gap {
            let reason = format!("market data farm {} broken ({}): no ticks until it is OK", notice.farm, notice.code);
            self.gap_all(&reason);
        }
    }

    fn competing_session(&mut self, now: DateTime<Utc>) {
        let config = CompetingSessionConfig::default();
        let sighting = self.competing.observe(now, config);
        let episode = self.competing.active(now, config);
        self.args.board.update(&self.args.account.name, |s| s.competing_session = episode);
        if sighting == Sighting::Raised {
            tracing::warn!(account = %self.name(),
                "competing live session (10197): IB sends this account no market data while another session of the user takes it");
            self.publish(EventKind::CompetingSession { since: now });
            self.gap_all("competing live session (10197): no market data for this account");
        }
    }

    /// End the competing-session episode once it has been quiet long enough (each heartbeat),
    /// and ask again for the market-data lines IB ended with 10197 meanwhile: otherwise they
    /// would stay dead until the next reconnect.
    pub(super) fn expire_competing_session(&mut self) {
        let now = self.args.clock.now();
        if self.competing.active(now, CompetingSessionConfig::default()).is_some() {
            return;
        }
        let ended = self.competing.raised();
        self.competing.clear();
        self.args.board.update(&self.args.account.name, |s| s.competing_session = None);
        if ended && self.conn.link().is_some() {
            tracing::info!(account = %self.name(), "competing live session over (no 10197 for the quiet period): market data requested again");
            self.request_ended_lines();
        }
    }

    /// The session that reported the farms ended: forget them (the next one reports them all
    /// again), and say so if the data plane was degraded, so the guard's gate opens with it.
    pub(super) fn farms_session_ended(&mut self) {
        let was_degraded = self.farms.data_plane() != Default::default();
        self.farms.session_ended();
        self.args.board.update(&self.args.account.name, |s| s.farms = FarmSnapshot::default());
        if was_degraded {
            self.publish(EventKind::DataPlaneChanged { farms: FarmSnapshot::default() });
        }
    }

    fn gap_all(&mut self, reason: &str) {
        for sub in self.args.registry.subscriptions() {
            self.gap(sub.id, reason);
        }
    }
}
