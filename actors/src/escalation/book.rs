//! [`EscalationBook`]: what outlives an [`EscalationActor`](super::EscalationActor)
//! incarnation — every account's [`Ladder`] (the rungs fired in the current episode and each
//! rung's last firing, which the rate limit reads), the last firing and its outcome, and the
//! counts `/metrics` shows. The supervisor builds it once and hands it to every incarnation;
//! the [`Handle`](crate::Handle) reads it for `/status` and `/metrics`. So a panicking or
//! stuck-killed actor's successor does not fire again a rung fired within `min_interval`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ladder::{Ladder, Observation, Problem, Rung, Step};
use super::outcome::Outcome;
use crate::calendar::ResetCalendar;
use crate::settings::Settings;

/// One firing of a rung, and (once known) what it came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firing {
    /// The rung.
    pub rung: Rung,
    /// The problem it answered.
    pub problem: Problem,
    /// Since when the problem had lasted.
    pub since: DateTime<Utc>,
    /// When it fired.
    pub at: DateTime<Utc>,
    /// What was sent or run: `RESTART`, or the restart command's argv joined by spaces.
    pub command: String,
    /// What it came to (`None` while it runs).
    pub outcome: Option<Outcome>,
}

/// An account's ladder as `/status` shows it (`escalation` of the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderView {
    /// Whether IBC's command server is configured for the account.
    pub ibc: bool,
    /// Whether a restart command is configured.
    pub restart_command: bool,
    /// The rungs fired in the current episode, in order, and each rung's last firing ever.
    #[serde(flatten)]
    pub fired: super::ladder::LadderSnapshot,
    /// What the ladder said last: act, wait (until when, for which rung, why) or idle (why).
    pub next: Option<Step>,
    /// The last firing, with its outcome.
    pub last: Option<Firing>,
    /// Firings since the supervisor started, by rung.
    pub fired_total: BTreeMap<Rung, u64>,
}

#[derive(Debug)]
struct Account {
    ladder: Ladder,
    next: Option<Step>,
    last: Option<Firing>,
    fired_total: BTreeMap<Rung, u64>,
}

/// Every account's ladder, shared by the actor's incarnations and the readers.
#[derive(Debug)]
pub struct EscalationBook {
    accounts: Mutex<BTreeMap<String, Account>>,
    /// Whether the ladder runs at all ([`EscalationBook::wanted`]).
    active: bool,
}

impl EscalationBook {
    /// A ladder per account, configured from `settings` (`escalation`, `accounts[].ibc`).
    pub fn new(settings: &Settings) -> Self {
        let accounts = settings
            .accounts
            .iter()
            .map(|a| {
                let ladder = Ladder::new(settings.escalation.ladder(a.ibc.is_some()));
                (a.name.clone(), Account { ladder, next: None, last: None, fired_total: BTreeMap::new() })
            })
            .collect();
        Self { accounts: Mutex::new(accounts), active: Self::wanted(settings) }
    }

    /// Whether the ladder has anything to run: enabled, and an account with IBC or a restart
    /// command configured.
    pub fn wanted(settings: &Settings) -> bool {
        settings.escalation.enabled
            && (settings.escalation.restart_command.is_some() || settings.accounts.iter().any(|a| a.ibc.is_some()))
    }

    /// A panic while the lock was held leaves the book usable (every change is one assignment).
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Step `account`'s ladder (an [`Step::Act`] counts the rung as fired) and remember the
    /// answer for `/status`.
    pub fn step(
        &self,
        account: &str,
        observation: &Observation,
        calendar: &ResetCalendar,
        now: DateTime<Utc>,
    ) -> Option<Step> {
        let mut accounts = self.lock();
        let entry = accounts.get_mut(account)?;
        let step = entry.ladder.step(observation, calendar, now);
        entry.next = Some(step);
        Some(step)
    }

    /// A rung fired: it is the account's last firing, counted.
    pub fn fired(&self, account: &str, firing: Firing) {
        let mut accounts = self.lock();
        if let Some(entry) = accounts.get_mut(account) {
            *entry.fired_total.entry(firing.rung).or_insert(0) += 1;
            entry.last = Some(firing);
        }
    }

    /// What the firing of `rung` at `at` came to.
    pub fn finished(&self, account: &str, rung: Rung, at: DateTime<Utc>, outcome: Outcome) {
        let mut accounts = self.lock();
        if let Some(last) = accounts.get_mut(account).and_then(|a| a.last.as_mut()) {
            if last.rung == rung && last.at == at {
                last.outcome = Some(outcome);
            }
        }
    }

    /// Whether the ladder runs (an [`EscalationActor`](super::EscalationActor) is spawned).
    pub fn active(&self) -> bool {
        self.active
    }

    /// The account's ladder for `/status` (`None` when the ladder does not run).
    pub fn view(&self, account: &str) -> Option<LadderView> {
        if !self.active {
            return None;
        }
        let accounts = self.lock();
        let entry = accounts.get(account)?;
        let config = entry.ladder.config();
        Some(LadderView {
            ibc: config.ibc,
            restart_command: config.restart_command,
            fired: entry.ladder.snapshot(),
            next: entry.next,
            last: entry.last.clone(),
            fired_total: entry.fired_total.clone(),
        })
    }

    /// `(account, rung, firings)` for every account and rung, for `/metrics`.
    pub fn totals(&self) -> Vec<(String, Rung, u64)> {
        let accounts = self.lock();
        accounts
            .iter()
            .flat_map(|(name, entry)| {
                Rung::ALL
                    .into_iter()
                    .map(|rung| (name.clone(), rung, entry.fired_total.get(&rung).copied().unwrap_or(0)))
            })
            .collect()
    }
}
