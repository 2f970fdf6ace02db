//! Checking alone: a supervision tree of its own that records a check, not a run (see
//! `once/mod.rs`): connect every account (bounded by the connect timeout), probe, hand the
//! observation to persistence, shut down.

use std::collections::HashMap;
use std::time::Duration;

use ractor::rpc::CallResult;

use ibkr_supervisor_actors::gateway::GatewayMessage;
use ibkr_supervisor_actors::persistence::Recording;
use ibkr_supervisor_actors::settings::{HeartbeatLine, Settings};
use ibkr_supervisor_actors::{heartbeat_line, BoardSnapshot, ConnectionState, StartOptions, Supervision};

use super::{problems, OnceReport, Source};

/// How long the check waits for its rows to be confirmed in the database (a failed attempt is
/// retried until the shutdown's flush deadline).
const RECORD_WITHIN: Duration = Duration::from_secs(2);

/// Connect, probe, record, shut down.
pub(super) async fn check(mut settings: Settings, mut options: StartOptions) -> OnceReport {
    settings.reconnect.auto = false;
    settings.reconnect.manual_min_interval = Duration::ZERO;
    settings.heartbeat.interval = Duration::from_secs(86_400); // no heartbeat rounds
                                                               // Whatever the daemon's setting, --once reports its one line every time.
    settings.logging.heartbeat_line = HeartbeatLine::Every;
    // A check serves no engine: no guarded ports (nor a clash with a daemon's).
    for account in &mut settings.accounts {
        account.proxy = None;
    }
    // A check never acts on a gateway: no IBC command, no restart command.
    settings.escalation.enabled = false;
    options.record = Recording::Check;
    let connect_timeout = settings.heartbeat.connect_timeout;
    let probe_timeout = settings.heartbeat.probe_timeout;
    let names: Vec<String> = settings.accounts.iter().map(|a| a.name.clone()).collect();
    let supervision = match Supervision::start(settings, options).await {
        Ok(supervision) => supervision,
        Err(e) => {
            return OnceReport {
                line: e.to_string(),
                all_connected: false,
                problems: vec![],
                accounts: vec![],
                source: Source::Alone,
                recorded: Some(Err("the supervision tree did not start".into())),
                notes: vec![],
            }
        }
    };
    // Why an account failed the check, when its status does not say it.
    let mut failed: HashMap<String, String> = HashMap::new();
    for name in &names {
        if let Err(e) = supervision.connect_now(name).await {
            failed.insert(name.clone(), e.to_string());
        }
    }
    let settled = |board: &BoardSnapshot| {
        board.accounts.iter().all(|a| match &a.state {
            ConnectionState::Disconnected { last_error, .. } => last_error.is_some() || a.reconnect_attempts == 0,
            ConnectionState::Connecting { .. } => false,
            _ => true,
        })
    };
    let _ = supervision.board().wait_for(connect_timeout + Duration::from_millis(500), settled).await;
    for name in &names {
        let linked = supervision.board().account(name).is_some_and(|a| a.state.link().is_some());
        if let (true, Some(gateway)) = (linked, supervision.gateway(name)) {
            let probe = gateway.call(GatewayMessage::ProbeNow, Some(probe_timeout + Duration::from_millis(500)));
            match probe.await {
                Ok(CallResult::Success(Ok(_))) => {}
                Ok(CallResult::Success(Err(e))) => {
                    failed.insert(name.clone(), e);
                }
                _ => {
                    failed.insert(name.clone(), "no probe answer".into());
                }
            }
        }
    }
    let at = supervision.clock().now();
    let mut accounts = supervision.board().snapshot().accounts;
    for account in &mut accounts {
        if let Some(reason) = failed.get(&account.name) {
            // The check failed even if the gateway actor has not noticed yet (no probe answer).
            if account.connected() {
                account.state = ConnectionState::Disconnected { since: at, last_error: Some(reason.clone()) };
            }
            account.error_message.get_or_insert_with(|| reason.clone());
        }
    }
    let handle = supervision.handle();
    let first = handle.record_check(accounts.clone(), at, RECORD_WITHIN).await;
    supervision.shutdown().await;
    // A failed first attempt is retried until the shutdown's flush deadline: the board tells.
    let recorded = match first {
        Ok(()) => Ok(()),
        Err(e) => match handle.board().snapshot().persistence {
            Some(health) if health.ok && health.pending == 0 => Ok(()),
            Some(health) => Err(health.last_error.unwrap_or(e)),
            None => Err(e),
        },
    };
    OnceReport {
        line: heartbeat_line(&accounts),
        all_connected: accounts.iter().all(|a| a.connected()),
        problems: problems(&accounts),
        accounts,
        source: Source::Alone,
        recorded: Some(recorded),
        notes: vec![],
    }
}
