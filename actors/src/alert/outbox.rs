//! The [`Outbox`]: one [`Lane`] per channel, each drained by its own task, one alert at a
//! time, head first. An attempt is the blocking call on `spawn_blocking`; a failed head waits
//! for its retry (`tokio::time`, so tests pause time) and holds the alerts behind it on that
//! channel only. The AlertActor never waits for a lane: it pushes and returns.
//!
//! The outbox belongs to [`AlertCounters`], not to an incarnation of the actor: a restarted
//! AlertActor finds its queues running, nothing lost, nothing sent twice. The lanes hold the
//! counters weakly, and dropping the outbox (with the last [`Handle`](crate::Handle)) aborts
//! their tasks; an attempt already on `spawn_blocking` still runs to its end (bounded by the
//! channel's timeout), and the runtime waits for it before the process exits.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::channel::Deliver;
use super::counters::{AlertCounters, QueueView};
use super::queue::{AfterFailure, Lane, Pushed};
use super::rules::Alert;

/// Every channel's queue and the task draining it.
pub(super) struct Outbox {
    lanes: Vec<LaneTask>,
}

struct LaneTask {
    channel: &'static str,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// A lane and the wake-up its task waits on (one waiter: `notify_one` keeps the permit).
#[derive(Default)]
struct Shared {
    lane: Mutex<Lane>,
    wake: Notify,
}

impl Shared {
    fn lane(&self) -> MutexGuard<'_, Lane> {
        self.lane.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Outbox {
    /// One lane per channel, each with its task.
    pub(super) fn start(counters: Weak<AlertCounters>, channels: &[Arc<dyn Deliver>], retry: &[Duration]) -> Outbox {
        let lanes = channels
            .iter()
            .map(|deliver| {
                let shared = Arc::new(Shared::default());
                let task =
                    tokio::spawn(drain(Arc::clone(&shared), Arc::clone(deliver), retry.to_vec(), counters.clone()));
                LaneTask { channel: deliver.name(), shared, task }
            })
            .collect();
        Outbox { lanes }
    }

    /// Queue `alert` on every channel; returns how many skipped it (a "recovered" whose
    /// episode that channel never reported).
    pub(super) fn push(&self, alert: &Alert) -> u64 {
        let mut skipped = 0;
        for lane in &self.lanes {
            match lane.shared.lane().push(alert.clone()) {
                Pushed::Queued => lane.shared.wake.notify_one(),
                Pushed::Skipped => {
                    skipped += 1;
                    tracing::warn!(channel = lane.channel, account = %alert.account,
                        "recovery not sent on this channel: its episode's alert was given up there");
                }
            }
        }
        skipped
    }

    pub(super) fn views(&self) -> Vec<QueueView> {
        self.lanes
            .iter()
            .map(|l| {
                let lane = l.shared.lane();
                QueueView {
                    channel: l.channel,
                    queued: lane.len(),
                    head_failures: lane.head().map_or(0, |q| q.failures),
                }
            })
            .collect()
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.task.abort();
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.views()).finish()
    }
}

/// Deliver the lane's alerts in order, for as long as the counters live.
async fn drain(shared: Arc<Shared>, deliver: Arc<dyn Deliver>, retry: Vec<Duration>, counters: Weak<AlertCounters>) {
    let channel = deliver.name();
    loop {
        let alert = next(&shared).await;
        let attempt = {
            let (deliver, alert) = (Arc::clone(&deliver), alert.clone());
            tokio::task::spawn_blocking(move || deliver.deliver(&alert))
        };
        let result = attempt.await.unwrap_or_else(|e| Err(format!("the {channel} delivery did not finish: {e}")));
        let Some(counters) = counters.upgrade() else { return };
        counters.record(&result);
        let (account, kind) = (&alert.account, alert.kind);
        let wait = match result {
            Ok(()) => {
                shared.lane().delivered();
                counters.add(&counters.sent, 1);
                tracing::info!(channel, %account, ?kind, "alert delivered");
                None
            }
            Err(error) => match shared.lane().failed(&retry) {
                Some(AfterFailure::RetryIn(wait)) => {
                    counters.add(&counters.retried, 1);
                    tracing::warn!(channel, %account, ?kind, %error, retry_in_ms = wait.as_millis() as u64,
                        "alert not delivered; retrying (the alerts behind it wait)");
                    Some(wait)
                }
                Some(AfterFailure::GaveUp { alert, skipped }) => {
                    counters.add(&counters.given_up, 1 + u64::from(skipped.is_some()));
                    tracing::error!(channel, %account, ?kind, %error, text = %alert.text,
                        recovery_dropped = skipped.is_some(), "alert not delivered; giving up");
                    None
                }
                None => None,
            },
        };
        drop(counters);
        if let Some(wait) = wait {
            pause(&shared, wait).await;
        }
    }
}

/// The head of the lane, once there is one.
async fn next(shared: &Shared) -> Alert {
    loop {
        if let Some(head) = shared.lane().head() {
            return head.alert.clone();
        }
        shared.wake.notified().await;
    }
}

/// Wait before a retry, cut short when a meltdown is queued behind the head.
async fn pause(shared: &Shared, wait: Duration) {
    let until = Instant::now() + wait;
    while !shared.lane().hurry() {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return,
            () = shared.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::AlertKind;
    use super::*;
    use std::sync::atomic::Ordering;

    /// Whether an attempt fails, given the alert and how often it was attempted before.
    type Script = Box<dyn Fn(&Alert, usize) -> bool + Send + Sync>;

    /// A channel that records each attempt (virtual time since `start`, text) and fails the
    /// ones `fails` says.
    struct Scripted {
        name: &'static str,
        start: Instant,
        attempts: Mutex<Vec<(Duration, String)>>,
        fails: Script,
    }

    impl Deliver for Scripted {
        fn name(&self) -> &'static str {
            self.name
        }

        fn deliver(&self, alert: &Alert) -> Result<(), String> {
            let mut attempts = self.attempts.lock().unwrap();
            let earlier = attempts.iter().filter(|(_, t)| *t == alert.text).count();
            attempts.push((self.start.elapsed(), alert.text.clone()));
            if (self.fails)(alert, earlier) {
                Err(format!("{} refused", alert.text))
            } else {
                Ok(())
            }
        }
    }

    fn scripted(name: &'static str, fails: impl Fn(&Alert, usize) -> bool + Send + Sync + 'static) -> Arc<Scripted> {
        Arc::new(Scripted { name, start: Instant::now(), attempts: Mutex::default(), fails: Box::new(fails) })
    }

    impl Scripted {
        fn attempts(&self) -> Vec<(Duration, String)> {
            self.attempts.lock().unwrap().clone()
        }
    }

    fn alert(account: &str, kind: AlertKind) -> Alert {
        Alert { account: account.into(), kind, text: format!("{account} {kind:?}") }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Poll `done` while (paused) time moves on, for at most ten virtual minutes.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + s(600);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within ten minutes");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The counters with their outbox, started as the AlertActor starts it.
    fn start(channels: &[Arc<dyn Deliver>], retry: &[Duration]) -> Arc<AlertCounters> {
        let counters = Arc::new(AlertCounters::default());
        counters.outbox(channels, retry);
        counters
    }

    #[tokio::test(start_paused = true)]
    async fn a_retried_down_holds_its_recovery_then_the_queue_moves_on_after_giving_up() {
        let hook = scripted("webhook", |a, _| a.account == "Paper" && a.kind == AlertKind::Down);
        let counters = start(&[hook.clone() as Arc<dyn Deliver>], &[s(1), s(5)]);
        counters.push(&alert("Paper", AlertKind::Down));
        until("the first attempt failed", || counters.retried.load(Ordering::Relaxed) == 1).await;
        counters.push(&alert("Paper", AlertKind::Recovered));
        counters.push(&alert("Live", AlertKind::Down));
        assert_eq!(
            counters.queues(),
            [QueueView { channel: "webhook", queued: 3, head_failures: 1 }],
            "the down is being retried, the rest waits"
        );
        until("the queue drained", || counters.queues()[0].queued == 0).await;
        let attempts = hook.attempts();
        assert_eq!(
            attempts,
            [
                (s(0), "Paper Down".to_owned()),
                (s(1), "Paper Down".to_owned()),
                (s(6), "Paper Down".to_owned()),
                (s(6), "Live Down".to_owned()),
            ],
            "retried after 1 s and 5 s, given up with its recovery, then the next alert at once"
        );
        assert_eq!(counters.retried.load(Ordering::Relaxed), 2);
        assert_eq!(counters.given_up.load(Ordering::Relaxed), 2, "the down and its recovery");
        assert_eq!(counters.sent.load(Ordering::Relaxed), 1);
        assert_eq!(counters.last_error(), None, "cleared by the delivery that followed");
        // Paper's episode was never reported here: its recovery is skipped when it comes.
        assert_eq!(counters.push(&alert("Paper", AlertKind::Recovered)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_channel_being_retried_never_holds_up_the_other() {
        let hook = scripted("webhook", |_, _| true);
        let mail = scripted("email", |_, _| false);
        let channels: [Arc<dyn Deliver>; 2] = [hook.clone(), mail.clone()];
        let counters = start(&channels, &[s(30), s(30)]);
        for a in [alert("Paper", AlertKind::Down), alert("Paper", AlertKind::Recovered), alert("Live", AlertKind::Down)]
        {
            counters.push(&a);
        }
        until("every e-mail, and the webhook's first failure", || {
            counters.sent.load(Ordering::Relaxed) == 3 && counters.retried.load(Ordering::Relaxed) == 1
        })
        .await;
        assert!(mail.attempts().iter().all(|(at, _)| *at == s(0)), "{:?}", mail.attempts());
        assert_eq!(hook.attempts(), [(s(0), "Paper Down".to_owned())], "the webhook waits for its retry");
        assert_eq!(
            counters.queues(),
            [
                QueueView { channel: "webhook", queued: 3, head_failures: 1 },
                QueueView { channel: "email", queued: 0, head_failures: 0 }
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_meltdown_cuts_the_wait_ahead_of_it_short() {
        let hook = scripted("webhook", |a, earlier| a.kind == AlertKind::Down || earlier == 0);
        let counters = start(&[hook.clone() as Arc<dyn Deliver>], &[s(60), s(60)]);
        counters.push(&alert("Paper", AlertKind::Down));
        until("the first attempt failed", || counters.retried.load(Ordering::Relaxed) == 1).await;
        tokio::time::sleep_until(hook.start + s(2)).await;
        counters.push(&alert("*", AlertKind::Meltdown));
        until("the meltdown delivered", || counters.sent.load(Ordering::Relaxed) == 1).await;
        assert_eq!(
            hook.attempts(),
            [
                (s(0), "Paper Down".to_owned()),
                (s(2), "Paper Down".to_owned()),
                (s(2), "* Meltdown".to_owned()),
                (s(62), "* Meltdown".to_owned()),
            ],
            "the down's last attempt at once, then the meltdown with its own retries"
        );
        assert_eq!(counters.given_up.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_lanes_end_with_their_counters() {
        let hook = scripted("webhook", |_, _| true);
        let counters = start(&[hook.clone() as Arc<dyn Deliver>], &[s(3600)]);
        counters.push(&alert("Paper", AlertKind::Down));
        until("the first attempt failed", || counters.retried.load(Ordering::Relaxed) == 1).await;
        drop(counters);
        until("the lane task gone (it held the channel)", || Arc::strong_count(&hook) == 1).await;
    }
}
