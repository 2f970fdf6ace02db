//! The simulator's HTTP control API, on its own port:
//!
//! - `GET /sim/state` → [`SimState`](super::SimState) as JSON.
//! - `POST /sim/fault` with `{"kind": K, "port"?: P, ...}` → 200 `{"applied": K, "ports": [...]}`;
//!   400 with `{"error": reason}` for bad JSON or an unknown kind, 404 for an unknown port,
//!   413 for a body over 64 KiB.
//! - `POST /sim/price` with `{"symbol": S, "price": X, "port"?: P}` → 200 `{"symbol": S,
//!   "price": X, "ports": [...]}`: the instrument trades at `X` at once on every listener (or
//!   the one on `P`), so a test stages a fill deterministically; 400 for an unknown symbol or a
//!   price that is not positive, 404 for an unknown port.
//!
//! Every request first passes `crate::web` (the supervisor's protections: Host allow-list, 421;
//! state changes same-origin only, 403, and JSON only, 415; header/idle timeouts, a connection
//! cap), then the routes declared in [`routes`].

use std::convert::Infallible;
use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::reply::{json, with_status, Reply};
use warp::Filter;

use super::{FaultError, FaultRequest, PriceError, Simulator};

const MAX_BODY: u64 = 64 * 1024;

pub(super) async fn serve(
    sim: Simulator,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The same protections as the supervisor's API (`crate::web`): a web page must not inject faults.
    let policy = crate::web::Policy {
        bind: addr,
        allowed_hosts: Vec::new(),
        hosts_key: "no setting (the simulator answers only to its bind address and loopback names)",
    };
    let limits = crate::web::Limits {
        max_connections: 64,
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
    };
    let service = warp::service(routes(sim).map(warp::Reply::into_response));
    let stats = Default::default();
    let bound = crate::web::serve(listener, service, policy, limits, stats, async move { shutdown.cancelled().await })?;
    tracing::info!(addr = %bound, "simulator control API listening");
    Ok(bound)
}

fn routes(sim: Simulator) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let state_sim = sim.clone();
    let state = warp::path!("sim" / "state").and(warp::get()).map(move || json(&state_sim.state()).into_response());
    let fault_sim = sim.clone();
    let fault = warp::path!("sim" / "fault")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(move |body: bytes::Bytes| apply(&fault_sim, &body));
    let price = warp::path!("sim" / "price")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(move |body: bytes::Bytes| set_price(&sim, &body));
    state.or(fault).unify().or(price).unify().recover(rejection).unify()
}

/// `{"symbol": "AAPL", "price": 123.45, "port"?: 4002}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRequest {
    symbol: String,
    price: f64,
    #[serde(default)]
    port: Option<u16>,
}

fn set_price(sim: &Simulator, body: &[u8]) -> warp::reply::Response {
    let req: PriceRequest = match serde_json::from_slice(body) {
        Ok(req) => req,
        Err(e) => {
            let reason = format!("request body must be {{\"symbol\": \"AAPL\", \"price\": 123.45, \"port\"?: P}}: {e}");
            return error(StatusCode::BAD_REQUEST, &reason);
        }
    };
    if !(req.price.is_finite() && req.price > 0.0) {
        return error(StatusCode::BAD_REQUEST, &format!("\"price\" must be a positive number, got {}", req.price));
    }
    match sim.set_price(&req.symbol, req.price, req.port) {
        Ok(ports) => {
            json(&serde_json::json!({ "symbol": req.symbol, "price": req.price, "ports": ports })).into_response()
        }
        Err(e @ PriceError::UnknownPort(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn apply(sim: &Simulator, body: &[u8]) -> warp::reply::Response {
    let result = FaultRequest::from_json(body).and_then(|req| {
        let kind = req.fault.kind();
        sim.inject(req.fault, req.port)?;
        let ports: Vec<u16> =
            sim.addrs().iter().map(|a| a.port()).filter(|p| req.port.is_none_or(|t| t == *p)).collect();
        Ok(serde_json::json!({ "applied": kind, "ports": ports }))
    });
    match result {
        Ok(body) => json(&body).into_response(),
        Err(e @ FaultError::UnknownPort(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> warp::reply::Response {
    with_status(json(&serde_json::json!({ "error": message })), status).into_response()
}

async fn rejection(rejection: warp::Rejection) -> Result<warp::reply::Response, Infallible> {
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such endpoint; use GET /sim/state, POST /sim/fault or POST /sim/price".to_owned())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY} bytes"))
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed; use GET /sim/state, POST /sim/fault or POST /sim/price".to_owned(),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "a Content-Length is required".to_owned())
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    Ok(error(status, &message))
}
