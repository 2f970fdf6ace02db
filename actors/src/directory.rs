//! The current `ActorRef` of every child. Children are replaced when restarted, so peers look
//! them up here instead of keeping refs. Only the root supervisor writes it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::ActorRef;

use crate::escalation::EscalationMessage;
use crate::gateway::GatewayMessage;
use crate::guard::GuardMessage;
use crate::persistence::PersistenceMessage;
use crate::reconnect::ReconnectMessage;

#[derive(Default)]
struct Entries {
    gateways: HashMap<String, ActorRef<GatewayMessage>>,
    reconnect: Option<ActorRef<ReconnectMessage>>,
    guard: Option<ActorRef<GuardMessage>>,
    persistence: Option<ActorRef<PersistenceMessage>>,
    escalation: Option<ActorRef<EscalationMessage>>,
}

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct Directory {
    entries: Arc<RwLock<Entries>>,
}

impl Directory {
    /// The current GatewayActor of `account`.
    pub fn gateway(&self, account: &str) -> Option<ActorRef<GatewayMessage>> {
        self.read().gateways.get(account).cloned()
    }

    /// Every account's current GatewayActor.
    pub fn gateways(&self) -> Vec<(String, ActorRef<GatewayMessage>)> {
        self.read().gateways.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The current ReconnectActor.
    pub fn reconnect(&self) -> Option<ActorRef<ReconnectMessage>> {
        self.read().reconnect.clone()
    }

    /// The current GuardActor.
    pub fn guard(&self) -> Option<ActorRef<GuardMessage>> {
        self.read().guard.clone()
    }

    /// The current PersistenceActor.
    pub fn persistence(&self) -> Option<ActorRef<PersistenceMessage>> {
        self.read().persistence.clone()
    }

    /// The current EscalationActor (none when the ladder has nothing to run).
    pub fn escalation(&self) -> Option<ActorRef<EscalationMessage>> {
        self.read().escalation.clone()
    }

    pub(crate) fn set_escalation(&self, escalation: ActorRef<EscalationMessage>) {
        self.write().escalation = Some(escalation);
    }

    pub(crate) fn set_persistence(&self, persistence: ActorRef<PersistenceMessage>) {
        self.write().persistence = Some(persistence);
    }

    pub(crate) fn set_guard(&self, guard: ActorRef<GuardMessage>) {
        self.write().guard = Some(guard);
    }

    pub(crate) fn set_gateway(&self, account: &str, gateway: ActorRef<GatewayMessage>) {
        self.write().gateways.insert(account.to_owned(), gateway);
    }

    pub(crate) fn set_reconnect(&self, reconnect: ActorRef<ReconnectMessage>) {
        self.write().reconnect = Some(reconnect);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}
