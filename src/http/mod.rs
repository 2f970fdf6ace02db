//! The HTTP surface: JSON status, the actor tree, health checks, Prometheus metrics, history,
//! the operator's switches, and the `/trades` dashboard.
//!
//! Status is served from the actors' in-memory board: no database read per status request.
//! History (`/events`, `/uptime`) comes from the database through [`History`]; the dashboard
//! shows the copy of its history a refresher keeps (`history.rs`), never reading per request.
//!
//! Security: loopback by default. Before any route, [`crate::web`] refuses a foreign `Host`
//! (421), a state change from another origin (403) or not declared JSON (415), and bounds the
//! connections. When a token is configured (required by the settings for a non-loopback bind)
//! every POST also needs `Authorization: Bearer <token>` (401 without, 403 with a wrong one;
//! the scheme is case-insensitive, the comparison constant-time). Request bodies are limited
//! (413). Pages may not be framed (`X-Frame-Options`, CSP `frame-ancestors 'none'`) and run
//! scripts only from the server itself. Every string from the gateway or the database is
//! HTML-escaped before it reaches a page.

mod api;
mod dashboard;
mod demo_panel;
mod history;
mod metrics;
mod proxy_panel;
mod query;

pub use demo_panel::{FaultButton, FaultPanel};
pub use history::{DbHistory, History, HistoryCopy, HistoryView, HISTORY_DAYS, HISTORY_EVENTS, REFRESH_EVERY};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use ibkr_supervisor_actors::settings::HttpSettings;
use ibkr_supervisor_actors::Handle;
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The Content-Security-Policy of every answer: nothing from elsewhere, no inline script.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Largest request body accepted.
pub const MAX_BODY: u64 = 16 * 1024;

/// Everything the handlers read.
pub struct AppState {
    pub handle: Handle,
    pub http: HttpSettings,
    pub history: Option<Arc<dyn History>>,
    /// Present under `demo`: the dashboard shows a panel of fault buttons.
    pub demo: Option<Arc<dyn FaultPanel>>,
    pub version: &'static str,
    /// The last `/status` body (see `api::status`).
    pub status_cache: std::sync::Mutex<Option<api::StatusCache>>,
    /// What the accept loop did (open connections, evictions, refusals), for `/metrics`.
    pub connections: Arc<crate::web::ConnStats>,
    /// What the operator must know about an account's switch, by account: it was not
    /// persisted, or it was paused at startup because its history could not be read.
    pub trading_notes: std::sync::Mutex<std::collections::HashMap<String, TradingNote>>,
    /// The trading zone (`timezone`): the dashboard's times and days.
    pub timezone: chrono_tz::Tz,
    /// The reset calendar, for the dashboard's next window.
    pub calendar: ibkr_supervisor_actors::calendar::ResetCalendar,
    /// The weekly login (`reauth`, `None`: off), for the next expected one.
    pub reauth: Option<ibkr_supervisor_actors::reauth::ReauthConfig>,
}

/// A caveat about an account's trading switch, shown in `/status` and on the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingNote {
    /// What the operator reads, e.g. "not persisted: attempt to write a readonly database".
    pub text: String,
    /// Shown only while database writes are failing or pending (a write that failed is
    /// retried: once everything has landed, so has the switch).
    pub while_db_unhealthy: bool,
}

impl AppState {
    /// The note on `account`'s switch that still applies.
    pub fn trading_note(
        &self,
        account: &str,
        db: Option<&ibkr_supervisor_actors::status::PersistenceHealth>,
    ) -> Option<String> {
        let notes = self.trading_notes.lock().unwrap_or_else(|p| p.into_inner());
        let note = notes.get(account)?;
        let healthy = db.is_none_or(|h| h.ok && h.pending == 0);
        (!(note.while_db_unhealthy && healthy)).then(|| note.text.clone())
    }
}

/// The `{"error": …}` body of every 4xx/5xx answer.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub error: String,
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    warp::reply::with_status(warp::reply::json(&ErrorBody { error: message.into() }), status).into_response()
}

/// Serve on `listener` until `shutdown`.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let policy = crate::web::Policy {
        bind: state.http.bind,
        allowed_hosts: state.http.allowed_hosts.clone(),
        hosts_key: "http.allowed_hosts",
    };
    let limits = crate::web::Limits {
        max_connections: state.http.max_connections as usize,
        header_read_timeout: state.http.header_read_timeout,
        idle_timeout: state.http.idle_timeout,
    };
    let stats = Arc::clone(&state.connections);
    let addr = crate::web::serve(listener, warp::service(routes(state)), policy, limits, stats, shutdown)?;
    tracing::info!(%addr, "HTTP listening: /status /actors /healthz /readyz /metrics /trades");
    Ok(addr)
}

/// Every route, with the rejection handler that turns mistakes into clear 4xx answers.
pub fn routes(state: Arc<AppState>) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let with_state = {
        let state = Arc::clone(&state);
        warp::any().map(move || Arc::clone(&state))
    };
    let get = |path: warp::filters::BoxedFilter<()>| path.and(warp::get()).and(with_state.clone());
    let post = |path: warp::filters::BoxedFilter<()>| {
        path.and(warp::post())
            .and(authorized(Arc::clone(&state)))
            .and(warp::body::content_length_limit(MAX_BODY))
            .and(warp::body::bytes())
            .and(with_state.clone())
    };

    let status = get(warp::path!("status").boxed()).then(api::status);
    let actors = get(warp::path!("actors").boxed()).then(api::actors);
    let healthz = get(warp::path!("healthz").boxed())
        .map(|_| warp::reply::json(&serde_json::json!({"status": "alive"})).into_response());
    let readyz = get(warp::path!("readyz").boxed()).map(api::readyz);
    let metrics = get(warp::path!("metrics").boxed()).then(metrics::metrics);
    let events = get(warp::path!("events").boxed())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(|state, query: String| api::events(state, query));
    let uptime = get(warp::path!("uptime").boxed())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(|state, query: String| api::uptime(state, query));
    let connect = post(warp::path!("connect_ib").boxed()).then(|body, state| api::connect_ib(state, body));
    let trading = post(warp::path!("trading").boxed()).then(|body, state| api::trading(state, body));
    let demo_fault = post(warp::path!("demo" / "fault").boxed()).then(|body, state| api::demo_fault(state, body));
    let trades = get(warp::path!("trades").boxed())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .map(|state: Arc<AppState>, raw: String| {
            // `?poll_ms=N` (100..=60000) overrides the 5 s poll, for tests and kiosks.
            let poll_ms = query::lookup(&raw, "poll_ms")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|ms| (100..=60_000).contains(ms))
                .unwrap_or(5000);
            dashboard::page_with_poll(&state, poll_ms)
        });
    let trades_status = get(warp::path!("trades" / "status").boxed()).map(dashboard::fragment);
    let asset = |name: &'static str, body: &'static str, kind: &'static str| {
        warp::path("assets").and(warp::path(name)).and(warp::path::end()).and(warp::get()).map(move || {
            let reply = warp::reply::with_header(body, "content-type", kind);
            warp::reply::with_header(reply, "cache-control", "public, max-age=86400").into_response()
        })
    };
    let assets = asset("htmx.min.js", include_str!("assets/htmx.min.js"), "text/javascript; charset=utf-8")
        .or(asset("dashboard.js", include_str!("assets/dashboard.js"), "text/javascript; charset=utf-8"))
        .unify()
        .or(asset("dashboard.css", include_str!("assets/dashboard.css"), "text/css; charset=utf-8"))
        .unify();
    let root = warp::path::end()
        .and(warp::get())
        .map(|| warp::redirect::found(warp::http::Uri::from_static("/trades")).into_response());

    status
        .or(actors)
        .unify()
        .or(healthz)
        .unify()
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(events)
        .unify()
        .or(uptime)
        .unify()
        .or(connect)
        .unify()
        .or(trading)
        .unify()
        .or(demo_fault)
        .unify()
        .or(trades_status)
        .unify()
        .or(trades)
        .unify()
        .or(assets)
        .unify()
        .or(root)
        .unify()
        .recover(rejection)
        .unify()
        .map(|mut reply: Response| {
            use warp::http::HeaderValue;
            let headers = reply.headers_mut();
            headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            // No page of ours may be framed (clickjacking the switch), and pages run scripts
            // and styles from this server only.
            headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
            headers.insert("content-security-policy", HeaderValue::from_static(CSP));
            headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
            reply
        })
}

/// A POST is allowed when no token is configured (loopback only, enforced by the settings),
/// or when it carries the token: `Authorization: Bearer <token>`, the scheme in any case.
fn authorized(state: Arc<AppState>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let token = state.http.token.clone();
            async move {
                match (token, header) {
                    (None, _) => Ok(()),
                    (Some(_), None) => Err(warp::reject::custom(Unauthorized)),
                    (Some(token), Some(header)) => match bearer(&header) {
                        Some(given) if token_matches(given.as_bytes(), token.as_bytes()) => Ok(()),
                        _ => Err(warp::reject::custom(Forbidden)),
                    },
                }
            }
        })
        .untuple_one()
}

/// The credentials of a `Bearer` authorization (the scheme is case-insensitive, RFC 9110 11.1).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

/// Constant-time in the content and length of `given`: every byte of the token is compared
/// (a missing one as zero) and the lengths are compared the same way, so timing says nothing
/// about how much of a guess was right, nor how long the token is relative to it.
fn token_matches(given: &[u8], token: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let mut equal = (given.len() as u64).ct_eq(&(token.len() as u64));
    for (i, expected) in token.iter().enumerate() {
        equal &= given.get(i).copied().unwrap_or(0).ct_eq(expected);
    }
    equal.into()
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

#[derive(Debug)]
struct Forbidden;
impl warp::reject::Reject for Forbidden {}

async fn rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let answer = if rejection.is_not_found() {
        error(StatusCode::NOT_FOUND, "no such endpoint")
    } else if rejection.find::<Unauthorized>().is_some() {
        warp::reply::with_header(
            error(StatusCode::UNAUTHORIZED, "this request needs Authorization: Bearer <http.token>"),
            "www-authenticate",
            "Bearer",
        )
        .into_response()
    } else if rejection.find::<Forbidden>().is_some() {
        error(StatusCode::FORBIDDEN, "the bearer token is not the configured http.token")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY} bytes"))
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        error(StatusCode::LENGTH_REQUIRED, "a Content-Length is required")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed for this endpoint")
    } else {
        error(StatusCode::BAD_REQUEST, format!("bad request: {rejection:?}"))
    };
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_in_any_case_and_an_exact_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
        let token = b"0123456789abcdef";
        assert!(token_matches(b"0123456789abcdef", token));
        assert!(!token_matches(b"0123456789abcdeF", token));
        assert!(!token_matches(b"0123456789abcde", token), "a prefix");
        assert!(!token_matches(b"0123456789abcdef\0", token), "a longer guess, even padded with the zero fill");
        assert!(!token_matches(b"", token));
    }
}
