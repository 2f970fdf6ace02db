//! The JSON endpoints. Every bad input gets a 4xx whose body names what is wrong.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ibkr_supervisor_actors::reconnect::ConnectNowError;
use ibkr_supervisor_actors::status::{Meltdown, PersistenceHealth};
use ibkr_supervisor_actors::{AccountStatus, BoardSnapshot, ConnectionState, Refusal};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::{json, with_status, Response};
use warp::Reply;

use super::query::{self, bounded_number, Reject};
use super::{error, AppState};

/// One account in `GET /status`: the status record, and what the board and the guard add.
#[derive(Debug, Serialize)]
pub struct AccountView<'a> {
    /// The record, its fields at the top level.
    #[serde(flatten)]
    pub status: &'a AccountStatus,
    /// Share of today the account was usable, reset windows excluded.
    pub uptime_today_pct: Option<f64>,
    /// The operator's switch: false while paused.
    pub trading_active: bool,
    /// Why an order would be refused right now (`null` when orders flow), as text.
    #[serde(serialize_with = "as_text")]
    pub refusal: Option<Refusal>,
    /// A caveat on the switch: "not persisted: …", or why it was paused at startup.
    pub trading_note: Option<String>,
    /// The IBC escalation ladder (`null` when it does not run): the rungs fired in this
    /// episode and ever, the last firing with its outcome, what it waits for next.
    pub escalation: Option<ibkr_supervisor_actors::escalation::LadderView>,
}

fn as_text<S: serde::Serializer>(refusal: &Option<Refusal>, serializer: S) -> Result<S::Ok, S::Error> {
    match refusal {
        Some(r) => serializer.collect_str(r),
        None => serializer.serialize_none(),
    }
}

/// `GET /status`.
#[derive(Debug, Serialize)]
pub struct StatusView<'a> {
    pub version: &'static str,
    pub started_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub accounts: Vec<AccountView<'a>>,
    pub meltdown: Option<&'a Meltdown>,
    pub persistence: Option<&'a PersistenceHealth>,
    /// Each guarded port: where it listens, its counters, its engine sessions.
    pub proxies: Vec<ibkr_supervisor_actors::proxy::PortSnapshot>,
    /// Alert deliveries, and the last failure (e.g. an SMTP server without STARTTLS).
    pub alerts: AlertsView,
    /// IB's reset windows as the settings describe them (`reset_time`, `reset_windows`,
    /// `reset_preset`): the one open now, and the next.
    pub reset: ResetView,
    /// The weekly login (`reauth`): when the next one is due (`null` when `reauth.weekly` is off).
    pub reauth: Option<ReauthView>,
}

/// `reauth` in `GET /status`.
#[derive(Debug, Serialize)]
pub struct ReauthView {
    /// The next weekly token expiry (`at`) and the whole seconds to it (`in_seconds`).
    pub next_login: ibkr_supervisor_actors::reauth::NextLogin,
    /// How long a gateway may stay down past the expiry before a login is asked for.
    pub grace_seconds: u64,
    /// Accounts whose outage the expiry explains, within its grace: no alert yet.
    pub held_for_login: Vec<String>,
}

/// `reset` in `GET /status`.
#[derive(Debug, Serialize)]
pub struct ResetView {
    /// The window open now (orders are refused until its end).
    pub current: Option<ibkr_supervisor_actors::calendar::Window>,
    /// The next window to open.
    pub next: Option<ibkr_supervisor_actors::calendar::Window>,
}

/// `alerts` in `GET /status`.
#[derive(Debug, Serialize)]
pub struct AlertsView {
    pub sent: u64,
    pub retried: u64,
    pub given_up: u64,
    pub rate_limited: u64,
    pub last_error: Option<String>,
    /// Each channel's delivery queue: how many wait, and the failed attempts of its head.
    pub queues: Vec<ibkr_supervisor_actors::alert::QueueView>,
}

pub(crate) fn status_view<'a>(state: &AppState, board: &'a BoardSnapshot) -> StatusView<'a> {
    let now = state.handle.clock().now();
    let guard = state.handle.guard();
    let accounts = board
        .accounts
        .iter()
        .map(|status| AccountView {
            status,
            uptime_today_pct: board.uptime_today_pct(&status.name, now),
            trading_active: !guard.is_paused(&status.name),
            refusal: guard.refusal(&status.name),
            trading_note: state.trading_note(&status.name, board.persistence.as_ref()),
            escalation: state.handle.escalation().view(&status.name),
        })
        .collect();
    StatusView {
        version: state.version,
        started_at: board.started_at,
        now,
        accounts,
        meltdown: board.meltdown.as_ref(),
        persistence: board.persistence.as_ref(),
        proxies: state.handle.proxies().snapshot(),
        reset: ResetView { current: state.calendar.window_at(now), next: state.calendar.next_window_after(now) },
        reauth: state.reauth.map(|reauth| ReauthView {
            next_login: reauth.next_login(now),
            grace_seconds: reauth.grace.as_secs(),
            held_for_login: state.handle.alerts().held_for_login(),
        }),
        alerts: {
            let c = state.handle.alerts();
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            AlertsView {
                sent: load(&c.sent),
                retried: load(&c.retried),
                given_up: load(&c.given_up),
                rate_limited: load(&c.rate_limited),
                last_error: c.last_error(),
                queues: c.queues(),
            }
        },
    }
}

/// `GET /status`, serialized once per board change (and at most every 100 ms, for `now` and
/// the uptime figures): a burst of requests between changes shares one body.
pub async fn status(state: Arc<AppState>) -> Response {
    let body = {
        let mut cache = state.status_cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh =
            cache.as_mut().filter(|c| c.built.elapsed() < STATUS_CACHE_FOR && !c.board.has_changed().unwrap_or(true));
        match fresh {
            Some(cached) => cached.body.clone(),
            None => {
                let mut board = state.handle.board().subscribe();
                let snapshot = board.borrow_and_update().clone();
                let body = bytes::Bytes::from(serde_json::to_vec(&status_view(&state, &snapshot)).unwrap_or_default());
                *cache = Some(StatusCache { body: body.clone(), board, built: std::time::Instant::now() });
                body
            }
        }
    };
    warp::reply::with_header(body.to_vec(), "content-type", "application/json").into_response()
}

const STATUS_CACHE_FOR: std::time::Duration = std::time::Duration::from_millis(100);

/// The last `/status` body and the board version it was built from.
pub struct StatusCache {
    body: bytes::Bytes,
    board: tokio::sync::watch::Receiver<BoardSnapshot>,
    built: std::time::Instant,
}

pub async fn actors(state: Arc<AppState>) -> Response {
    json(&state.handle.actors().await).into_response()
}

/// 200 when every account is usable or inside a scheduled reset window, else 503 with why.
pub fn readyz(state: Arc<AppState>) -> Response {
    let board = state.handle.board().snapshot();
    let mut reasons = Vec::new();
    if let Some(meltdown) = &board.meltdown {
        reasons.push(format!("supervisor meltdown: {}", meltdown.reason));
    }
    for account in &board.accounts {
        if !matches!(account.state, ConnectionState::Connected { .. } | ConnectionState::ResetWindow { .. }) {
            let why = account.error_message.clone().unwrap_or_else(|| account.state.name().to_owned());
            reasons.push(format!("{} is {}: {why}", account.name, account.state.name()));
        }
    }
    if reasons.is_empty() {
        json(&serde_json::json!({ "status": "ready" })).into_response()
    } else {
        with_status(
            json(&serde_json::json!({ "status": "not ready", "reasons": reasons })),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .into_response()
    }
}

fn reject(r: Reject) -> Response {
    error(r.0, r.1)
}

pub async fn events(state: Arc<AppState>, raw: String) -> Response {
    let params = match query::parse(&raw, &["account", "since", "limit"]) {
        Ok(params) => params,
        Err(rejected) => return reject(rejected),
    };
    let limit = match bounded_number(&params, "limit", 100, 1000) {
        Ok(limit) => limit,
        Err(rejected) => return reject(rejected),
    };
    let since = match params.get("since") {
        None => None,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("since must be an RFC 3339 time such as 2026-11-22T05:00:00Z, got {text:?}"),
                )
            }
        },
    };
    let account = params.get("account").cloned();
    if let Some(account) = &account {
        if state.handle.board().account(account).is_none() {
            return error(StatusCode::NOT_FOUND, format!("unknown account {account:?}"));
        }
    }
    let Some(history) = &state.history else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "history is unavailable: no database");
    };
    match history.events(account, since, limit).await {
        Ok(events) => json(&events).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("history unavailable: {e}")),
    }
}

pub async fn uptime(state: Arc<AppState>, raw: String) -> Response {
    let params = match query::parse(&raw, &["days"]) {
        Ok(params) => params,
        Err(rejected) => return reject(rejected),
    };
    let days = match bounded_number(&params, "days", 7, 366) {
        Ok(days) => days,
        Err(rejected) => return reject(rejected),
    };
    let Some(history) = &state.history else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "history is unavailable: no database");
    };
    match history.uptime(days).await {
        Ok(uptime) => json(&uptime).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("history unavailable: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    account: String,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], example: &str) -> Result<T, Reject> {
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("request body must be JSON such as {example}: {e}")))
}

pub async fn connect_ib(state: Arc<AppState>, body: bytes::Bytes) -> Response {
    let request: ConnectBody = match parse(&body, r#"{"account": "Paper"}"#) {
        Ok(request) => request,
        Err(rejected) => return reject(rejected),
    };
    match state.handle.connect_now(&request.account).await {
        Ok(()) => with_status(
            json(&serde_json::json!({ "account": request.account, "attempt": "started" })),
            StatusCode::ACCEPTED,
        )
        .into_response(),
        Err(e @ ConnectNowError::UnknownAccount { .. }) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ConnectNowError::RateLimited { retry_at }) => {
            let wait = (retry_at - state.handle.clock().now()).num_seconds().max(1);
            warp::reply::with_header(
                error(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
                "retry-after",
                wait.to_string(),
            )
            .into_response()
        }
        Err(e @ ConnectNowError::Unavailable) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TradingBody {
    account: String,
    active: bool,
}

pub async fn trading(state: Arc<AppState>, body: bytes::Bytes) -> Response {
    let request: TradingBody = match parse(&body, r#"{"account": "Paper", "active": true}"#) {
        Ok(request) => request,
        Err(rejected) => return reject(rejected),
    };
    let guard = state.handle.guard();
    let Some(account) = state.handle.board().account(&request.account) else {
        return error(StatusCode::NOT_FOUND, format!("unknown account {:?}", request.account));
    };
    if request.active && !account.connected() {
        // The dashboard disables the button; the API says why.
        let why = Refusal::from_state(&account.state).map(|r| r.to_string()).unwrap_or_default();
        return error(
            StatusCode::CONFLICT,
            format!("{} is not usable ({why}); trading can be activated once it is", account.name),
        );
    }
    let at = match guard.set_paused(&request.account, !request.active).await {
        Ok(at) => at,
        Err(refusal) => return error(StatusCode::SERVICE_UNAVAILABLE, refusal.to_string()),
    };
    // In effect now. Durable only once the persistence thread says the trading_switched event
    // the guard published is in the database (it is restored from there at startup).
    let persisted = state.handle.confirm_switch(&request.account, at, CONFIRM_WITHIN).await;
    {
        let mut notes = state.trading_notes.lock().unwrap_or_else(|p| p.into_inner());
        match &persisted {
            Ok(()) => notes.remove(&request.account),
            Err(e) => notes.insert(
                request.account.clone(),
                super::TradingNote { text: format!("not persisted: {e}"), while_db_unhealthy: true },
            ),
        };
    }
    // The switch lives in the guard, not on the board: the cached /status body is stale now.
    *state.status_cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    match persisted {
        Ok(()) => json(&serde_json::json!({ "account": request.account, "active": request.active, "persisted": true }))
            .into_response(),
        Err(e) => {
            tracing::error!(account = %request.account, active = request.active, error = %e,
                "trading switch applied but not persisted: it would be lost at a restart");
            with_status(
                json(&serde_json::json!({
                    "account": request.account,
                    "active": request.active,
                    "applied": true,
                    "persisted": false,
                    "error": format!("applied now but not persisted: {e}; a restart would forget it (the write is retried)"),
                })),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .into_response()
        }
    }
}

/// How long `POST /trading` waits for the database to confirm the switch.
const CONFIRM_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// `POST /demo/fault`: under `demo` only, applies a fault through the demo's panel.
pub async fn demo_fault(state: Arc<AppState>, body: bytes::Bytes) -> Response {
    let Some(panel) = &state.demo else {
        return error(StatusCode::NOT_FOUND, "fault injection exists only under `ibkr-supervisor demo`");
    };
    match panel.inject(&body) {
        Ok(kind) => json(&serde_json::json!({ "applied": kind })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}
