//! One channel's delivery queue (*pure*): alerts leave in the order they were decided, the head
//! is retried before anything behind it goes, and a "recovered" reaches a channel only after
//! its episode's alert did.
//!
//! - **Order**: only the head is ever attempted; a failed head waits for its retry
//!   (`alerts.retry`) and holds the alerts behind it.
//! - **Given up**: after the last retry the head is dropped and counted. When it opened an
//!   episode ("down", "degraded"), that episode's "recovered" is dropped on this channel too
//!   (already queued, or when it comes): this channel never reported the episode.
//! - **A meltdown hurries the queue**: the process is about to exit, so an alert ahead of a
//!   meltdown gets no further waits — a failed head is given up at once and the meltdown goes
//!   next. The meltdown itself keeps its retries.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use super::rules::{Alert, AlertKind};

/// An alert waiting on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// The alert.
    pub alert: Alert,
    /// Failed attempts so far.
    pub failures: u32,
}

/// What [`Lane::push`] did with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued behind the alerts already waiting.
    Queued,
    /// A "recovered" of an episode this channel never reported (its alert was given up).
    Skipped,
}

/// What follows a failed attempt of the head.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterFailure {
    /// Attempt it again after this wait; the alerts behind it wait too.
    RetryIn(Duration),
    /// Dropped after its last retry (or ahead of a meltdown), with the "recovered" of its
    /// episode when that was queued already.
    GaveUp {
        /// The alert given up.
        alert: Alert,
        /// Its episode's "recovered", dropped with it.
        skipped: Option<Alert>,
    },
}

/// One channel's queue, and the accounts whose open episode this channel reported (or holds).
#[derive(Debug, Default)]
pub struct Lane {
    queue: VecDeque<Queued>,
    reported: HashSet<String>,
}

impl Lane {
    /// Queue `alert` behind the others (or skip a "recovered" this channel has no episode for).
    pub fn push(&mut self, alert: Alert) -> Pushed {
        if alert.kind.opens_episode() {
            self.reported.insert(alert.account.clone());
        } else if alert.kind == AlertKind::Recovered && !self.reported.remove(&alert.account) {
            return Pushed::Skipped;
        }
        self.queue.push_back(Queued { alert, failures: 0 });
        Pushed::Queued
    }

    /// The alert to attempt next.
    pub fn head(&self) -> Option<&Queued> {
        self.queue.front()
    }

    /// How many alerts wait, the head included.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The head was delivered: the next one goes.
    pub fn delivered(&mut self) -> Option<Alert> {
        self.queue.pop_front().map(|q| q.alert)
    }

    /// The head's attempt failed: retry it after the `retry` wait for this failure, or give it
    /// up (after the last wait, or at once when a meltdown waits behind it).
    pub fn failed(&mut self, retry: &[Duration]) -> Option<AfterFailure> {
        let hurry = self.hurry();
        let head = self.queue.front_mut()?;
        head.failures += 1;
        match retry.get(head.failures as usize - 1) {
            Some(wait) if !hurry => Some(AfterFailure::RetryIn(*wait)),
            _ => self.give_up(),
        }
    }

    /// Whether a meltdown waits behind the head: no more waiting for the alerts ahead of it.
    pub fn hurry(&self) -> bool {
        self.queue.iter().skip(1).any(|q| q.alert.kind == AlertKind::Meltdown)
    }

    fn give_up(&mut self) -> Option<AfterFailure> {
        let alert = self.queue.pop_front()?.alert;
        let mut skipped = None;
        if alert.kind.opens_episode() {
            // Episodes of one account alternate (opened, recovered, opened, …): the first
            // "recovered" of the account behind it closes this one.
            let closing = |q: &Queued| q.alert.account == alert.account && q.alert.kind == AlertKind::Recovered;
            match self.queue.iter().position(closing) {
                Some(at) => skipped = self.queue.remove(at).map(|q| q.alert),
                None => {
                    self.reported.remove(&alert.account);
                }
            }
        }
        Some(AfterFailure::GaveUp { alert, skipped })
    }

    /// The queued alerts, head first.
    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.queue.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(account: &str, kind: AlertKind) -> Alert {
        Alert { account: account.into(), kind, text: format!("{account} {kind:?}") }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn kinds(lane: &Lane) -> Vec<(String, AlertKind)> {
        lane.iter().map(|q| (q.alert.account.clone(), q.alert.kind)).collect()
    }

    #[test]
    fn a_retried_head_holds_its_recovery_behind_it() {
        let mut lane = Lane::default();
        assert_eq!(lane.push(alert("Paper", AlertKind::Down)), Pushed::Queued);
        assert_eq!(lane.failed(&[ms(50), ms(50)]), Some(AfterFailure::RetryIn(ms(50))));
        assert_eq!(lane.push(alert("Paper", AlertKind::Recovered)), Pushed::Queued);
        assert_eq!(lane.head().unwrap().alert.kind, AlertKind::Down, "the recovery waits for its down");
        assert_eq!(lane.head().unwrap().failures, 1);
        assert_eq!(lane.failed(&[ms(50), ms(50)]), Some(AfterFailure::RetryIn(ms(50))));
        assert_eq!(lane.delivered().unwrap().kind, AlertKind::Down);
        assert_eq!(lane.delivered().unwrap().kind, AlertKind::Recovered);
        assert!(lane.is_empty());
    }

    #[test]
    fn a_down_given_up_takes_its_recovery_with_it_queued_or_not() {
        let retry = [ms(10)];
        let mut lane = Lane::default();
        lane.push(alert("Paper", AlertKind::Down));
        lane.push(alert("Live", AlertKind::Down));
        lane.push(alert("Paper", AlertKind::Recovered));
        lane.push(alert("Paper", AlertKind::Down));
        assert_eq!(lane.failed(&retry), Some(AfterFailure::RetryIn(ms(10))));
        let gave_up = lane.failed(&retry).unwrap();
        assert_eq!(
            gave_up,
            AfterFailure::GaveUp {
                alert: alert("Paper", AlertKind::Down),
                skipped: Some(alert("Paper", AlertKind::Recovered))
            }
        );
        // Paper's second episode is untouched and still closes normally.
        assert_eq!(kinds(&lane), [("Live".into(), AlertKind::Down), ("Paper".into(), AlertKind::Down)]);
        assert_eq!(lane.delivered(), Some(alert("Live", AlertKind::Down)));
        assert_eq!(lane.push(alert("Live", AlertKind::Recovered)), Pushed::Queued);
        assert_eq!(lane.delivered(), Some(alert("Paper", AlertKind::Down)));
        assert_eq!(lane.delivered(), Some(alert("Live", AlertKind::Recovered)));
        // Live's next down is given up before its recovery is decided: skipped when it comes.
        lane.push(alert("Live", AlertKind::Down));
        assert!(matches!(lane.failed(&[]), Some(AfterFailure::GaveUp { skipped: None, .. })));
        assert_eq!(lane.push(alert("Live", AlertKind::Recovered)), Pushed::Skipped);
        assert_eq!(lane.push(alert("Paper", AlertKind::Recovered)), Pushed::Queued);
        assert_eq!(lane.push(alert("Paper", AlertKind::Recovered)), Pushed::Skipped, "one recovery per episode");
    }

    #[test]
    fn a_meltdown_hurries_what_is_ahead_and_keeps_its_own_retries() {
        let retry = [ms(1000), ms(5000)];
        let mut lane = Lane::default();
        lane.push(alert("Paper", AlertKind::Down));
        assert_eq!(lane.failed(&retry), Some(AfterFailure::RetryIn(ms(1000))));
        assert!(!lane.hurry());
        lane.push(alert("*", AlertKind::Meltdown));
        assert!(lane.hurry(), "the wait before the down's retry is cut short");
        assert!(matches!(lane.failed(&retry), Some(AfterFailure::GaveUp { .. })), "no more retries ahead of it");
        assert_eq!(lane.head().unwrap().alert.kind, AlertKind::Meltdown);
        assert!(!lane.hurry());
        assert_eq!(lane.failed(&retry), Some(AfterFailure::RetryIn(ms(1000))));
        assert_eq!(lane.failed(&retry), Some(AfterFailure::RetryIn(ms(5000))));
        assert!(matches!(lane.failed(&retry), Some(AfterFailure::GaveUp { skipped: None, .. })));
        assert_eq!(lane.failed(&retry), None, "nothing left");
    }

    #[test]
    fn unknown_orders_and_meltdowns_need_no_episode() {
        let mut lane = Lane::default();
        assert_eq!(lane.push(alert("Paper", AlertKind::OrderUnknown)), Pushed::Queued);
        assert_eq!(lane.push(alert("*", AlertKind::Meltdown)), Pushed::Queued);
        assert_eq!(lane.push(alert("Paper", AlertKind::Recovered)), Pushed::Skipped);
        assert_eq!(lane.len(), 2);
    }
}
