//! The actor tree for `/actors`: every child of the root supervisor, whether ractor reports it
//! alive, and a snapshot of its state asked of the actor itself. The watchdog's
//! [`TreeCheck`] asks the same snapshots to learn whether every actor answers.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, ActorStatus};
use serde::Serialize;

use super::actor::{Child, ChildEntry, SupervisorMessage};
use super::api::Handle;
use crate::alert::AlertMessage;
use crate::escalation::EscalationMessage;
use crate::gateway::GatewayMessage;
use crate::guard::GuardMessage;
use crate::persistence::PersistenceMessage;
use crate::proxy::ProxyMessage;
use crate::reconnect::ReconnectMessage;
use crate::watchdog::{Answer, TreeCheck, WatchdogMessage};

/// How long `/actors` waits for each actor's snapshot.
pub const SNAPSHOT_WITHIN: Duration = Duration::from_millis(200);

/// One child as `/actors` and `/metrics` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildInfo {
    /// `gateway:Paper`, `guard`, `persistence`, …
    pub name: String,
    /// The actor type, e.g. `GatewayActor`.
    pub kind: &'static str,
    /// Restarts since the supervisor started.
    pub restarts: u32,
    /// Whether ractor reports this incarnation starting or running (not stopping or stopped).
    pub alive: bool,
}

impl ChildInfo {
    fn of(entry: &ChildEntry) -> ChildInfo {
        let status = entry.cell.get_status();
        ChildInfo {
            name: entry.child.name(),
            kind: entry.child.kind(),
            restarts: entry.restarts,
            alive: matches!(status, ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading),
        }
    }
}

/// One actor as `/actors` shows it: the tree entry plus a snapshot of its state.
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    /// The tree entry, its fields at the top level.
    #[serde(flatten)]
    pub info: ChildInfo,
    /// `running` when the actor answered its snapshot in time, else `unresponsive`.
    pub status: &'static str,
    /// Seconds since the watchdog last had an answer from this actor (gateways).
    pub last_heartbeat_age_s: Option<f64>,
    /// The actor's own view of its state (`null` when it did not answer).
    pub snapshot: serde_json::Value,
}

impl Handle {
    /// The children of the root supervisor, by name (empty once the tree has stopped).
    pub async fn tree(&self) -> Vec<ChildInfo> {
        self.children().await.iter().map(ChildInfo::of).collect()
    }

    async fn children(&self) -> Vec<ChildEntry> {
        match self.root.call(SupervisorMessage::Tree, Some(Duration::from_secs(1))).await {
            Ok(CallResult::Success(tree)) => tree,
            _ => Vec::new(),
        }
    }

    /// The tree with each actor's snapshot, asked of every actor at once; one that does not
    /// answer within [`SNAPSHOT_WITHIN`] shows as `unresponsive`.
    pub async fn actors(&self) -> Vec<ActorView> {
        let board = self.board.snapshot();
        let now = self.clock.now();
        let views = self.children().await.into_iter().map(|entry| {
            let heartbeat_age = match &entry.child {
                Child::Gateway(account) => board
                    .account(account)
                    .and_then(|a| a.last_checked)
                    .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
                _ => None,
            };
            async move {
                let snapshot = snapshot(&entry, SNAPSHOT_WITHIN).await;
                ActorView {
                    info: ChildInfo::of(&entry),
                    status: if snapshot.is_some() { "running" } else { "unresponsive" },
                    last_heartbeat_age_s: heartbeat_age,
                    snapshot: snapshot.unwrap_or_default(),
                }
            }
        });
        futures::future::join_all(views).await
    }
}

/// The watchdog's check of the tree: the root lists its children (bounded by `within`), then
/// every child except the gateways (they get heartbeats) and the watchdog (which asks) is asked
/// for its snapshot at once, each bounded by `within`.
pub(super) fn tree_check(root: ActorRef<SupervisorMessage>) -> TreeCheck {
    std::sync::Arc::new(move |within| {
        let root = root.clone();
        Box::pin(async move {
            let tree = match root.call(SupervisorMessage::Tree, Some(within)).await {
                Ok(CallResult::Success(tree)) => tree,
                _ => return None,
            };
            let asked = tree.into_iter().filter(|e| !matches!(e.child, Child::Gateway(_) | Child::Watchdog)).map(
                |entry| async move {
                    let answered = snapshot(&entry, within).await.is_some();
                    Answer { actor: entry.child.name(), id: Some(entry.cell.get_id()), answered }
                },
            );
            Some(futures::future::join_all(asked).await)
        })
    })
}

/// Ask the child's current incarnation for its snapshot, as JSON.
async fn snapshot(entry: &ChildEntry, within: Duration) -> Option<serde_json::Value> {
    let (cell, within) = (entry.cell.clone(), Some(within));
    match entry.child {
        Child::Gateway(_) => {
            answer(ActorRef::<GatewayMessage>::from(cell).call(GatewayMessage::Snapshot, within).await)
        }
        Child::Reconnect => {
            answer(ActorRef::<ReconnectMessage>::from(cell).call(ReconnectMessage::Snapshot, within).await)
        }
        Child::Watchdog => {
            answer(ActorRef::<WatchdogMessage>::from(cell).call(WatchdogMessage::Snapshot, within).await)
        }
        Child::Guard => answer(ActorRef::<GuardMessage>::from(cell).call(GuardMessage::Snapshot, within).await),
        Child::Persistence => {
            answer(ActorRef::<PersistenceMessage>::from(cell).call(PersistenceMessage::Snapshot, within).await)
        }
        Child::Alert => answer(ActorRef::<AlertMessage>::from(cell).call(AlertMessage::Snapshot, within).await),
        Child::Proxy(_) => answer(ActorRef::<ProxyMessage>::from(cell).call(ProxyMessage::Snapshot, within).await),
        Child::Escalation => {
            answer(ActorRef::<EscalationMessage>::from(cell).call(EscalationMessage::Snapshot, within).await)
        }
    }
}

/// A snapshot call's answer as JSON, or `None` when the actor did not answer.
fn answer<T: Serialize, M>(result: Result<CallResult<T>, ractor::MessagingErr<M>>) -> Option<serde_json::Value> {
    match result {
        Ok(CallResult::Success(snapshot)) => serde_json::to_value(snapshot).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr};

    struct Idle;

    impl Actor for Idle {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn alive_is_what_ractor_reports_for_the_incarnation() {
        let (actor, join) = Actor::spawn(None, Idle, ()).await.unwrap();
        let entry = ChildEntry { child: Child::Watchdog, cell: actor.get_cell(), restarts: 2 };
        let info = ChildInfo::of(&entry);
        assert_eq!((info.name.as_str(), info.kind, info.restarts, info.alive), ("watchdog", "WatchdogActor", 2, true));
        actor.stop(None);
        join.await.unwrap();
        assert!(!ChildInfo::of(&entry).alive, "a stopped incarnation is not alive");
    }
}
