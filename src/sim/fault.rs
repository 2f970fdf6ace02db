//! Faults the simulated gateway can be told to suffer, from tests (in process) or over HTTP.
//!
//! Some faults are actions that happen once (`drop`, `reset`, upstream notices,
//! `pacing_violation`); others are conditions that last until `clear` (or their
//! `duration_ms`): `hang`, `refuse`, `stall_handshake`, `latency`, `hold_client_id`,
//! `farm_broken` (until `farm_ok`, IBC's `RECONNECTDATA` or `clear`), `competing_session`.

use serde::{Deserialize, Serialize};

/// One fault, as accepted by `POST /sim/fault` (`{"kind": "...", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Close every client cleanly (FIN after the last frame).
    Drop,
    /// Abort every client connection (RST).
    Reset,
    /// Stop reading and writing on every socket, which stay open (half-open). New
    /// connections are accepted but never answered. Lasts until `clear`.
    Hang,
    /// The gateway process is gone: every client is closed (FIN) and the listener too, so
    /// connects are refused, until `clear` or for `duration_ms`.
    Refuse {
        #[serde(default)]
        duration_ms: Option<u64>,
    },
    /// Accept TCP, never answer the handshake. Lasts until `clear`.
    StallHandshake,
    /// IB's upstream connection is lost: notice 1100 to every client, ticks stop, fills wait.
    /// `message` replaces the notice's text (e.g. to prove the dashboard escapes it).
    UpstreamLost {
        #[serde(default)]
        message: Option<String>,
    },
    /// Upstream is back: 1101 (`data_lost: true`, market-data subscriptions are gone and must
    /// be re-requested) or 1102 (data maintained, ticks resume).
    UpstreamRestored {
        #[serde(default)]
        data_lost: bool,
    },
    /// Add `latency_ms` to every reply. Lasts until `clear`.
    Latency { latency_ms: u64 },
    /// From now on, a client id whose connection ends stays "in use" (326) for `duration_ms`,
    /// as a real gateway does until it notices the dead socket. Lasts until `clear`.
    HoldClientId { duration_ms: u64 },
    /// One of IB's data farms loses its connection: 2103 (market data, e.g. `usfarm`), 2105
    /// (HMDS, a name with `hmds`) or 2157 (sec-def, a name starting `secdef`) to every
    /// client. A broken market-data farm stops ticks; orders still trade. Lasts until
    /// `farm_ok`, IBC's `RECONNECTDATA` or `clear`.
    FarmBroken { farm: String },
    /// The farm is back: 2104 / 2106 / 2158.
    FarmOk { farm: String },
    /// The same user logged in elsewhere with a live session: 10197 on every market-data
    /// line (request id −1 when a client has none), no ticks, and every new reqMktData is
    /// answered 10197, until `clear`.
    CompetingSession,
    /// Error 100 ("Max rate of messages per second has been exceeded") to every client, as
    /// IB sends when a client outpaces its limit; the link stays up. (Clients that really
    /// send more than the limit get it too: see `docs/simulator.md`, pacing.)
    PacingViolation,
    /// Back to normal: every lasting fault ends, held client ids are released, a refused
    /// listener listens again, upstream is restored (1102) if it was lost, broken farms report OK.
    Clear,
}

impl Fault {
    /// Every kind, in declaration order, as the JSON form spells it.
    pub const KINDS: [&'static str; 14] = [
        "drop",
        "reset",
        "hang",
        "refuse",
        "stall_handshake",
        "upstream_lost",
        "upstream_restored",
        "latency",
        "hold_client_id",
        "farm_broken",
        "farm_ok",
        "competing_session",
        "pacing_violation",
        "clear",
    ];

    /// The `kind` string, as in the JSON form: serde's own tag, so the two cannot disagree.
    pub fn kind(&self) -> &'static str {
        let tagged = serde_json::to_value(self).expect("a fault serialises");
        let kind = tagged["kind"].as_str().expect("every fault has a kind tag");
        Self::KINDS.into_iter().find(|k| *k == kind).expect("Fault::KINDS lists every variant")
    }
}

/// A fault and the listener it targets (`None`: every listener).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRequest {
    pub fault: Fault,
    pub port: Option<u16>,
}

/// Why a fault request was refused; the HTTP layer answers 400 (404 for an unknown port).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("request body is not valid JSON: {0}")]
    BadJson(String),
    #[error("request body must be a JSON object such as {{\"kind\": \"drop\"}}")]
    NotAnObject,
    #[error("missing \"kind\"; expected one of: {Kinds}")]
    MissingKind,
    #[error("unknown fault kind {0:?}; expected one of: {Kinds}")]
    UnknownKind(String),
    #[error("\"port\" must be a TCP port number 1-65535, got {0}")]
    BadPort(String),
    #[error("invalid {kind:?} fault: {reason}")]
    BadFields { kind: String, reason: String },
    #[error("no simulated listener on port {0}")]
    UnknownPort(u16),
}

/// The kinds, comma-separated, for error messages.
struct Kinds;

impl std::fmt::Display for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&Fault::KINDS.join(", "))
    }
}

impl FaultRequest {
    /// Parse `{"kind": K, "port"?: P, ...fields of K}` with an error that says what is wrong.
    pub fn from_json(body: &[u8]) -> Result<Self, FaultError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| FaultError::BadJson(e.to_string()))?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(FaultError::NotAnObject);
        };
        let port = match map.remove("port") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|p| (1..=65535).contains(p))
                    .map(|p| p as u16)
                    .ok_or_else(|| FaultError::BadPort(v.to_string()))?,
            ),
        };
        let kind = match map.get("kind") {
            None => return Err(FaultError::MissingKind),
            Some(serde_json::Value::String(k)) => k.clone(),
            Some(other) => return Err(FaultError::UnknownKind(other.to_string())),
        };
        if !Fault::KINDS.contains(&kind.as_str()) {
            return Err(FaultError::UnknownKind(kind));
        }
        let given: Vec<String> = map.keys().cloned().collect();
        let fault: Fault = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| FaultError::BadFields { kind: kind.clone(), reason: e.to_string() })?;
        // serde ignores unknown keys on field-less variants; every key must belong to `kind`.
        let known = serde_json::to_value(&fault).expect("a fault serialises");
        let known: Vec<&String> = known.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        if let Some(unknown) = given.iter().find(|k| !known.contains(k)) {
            let expected: Vec<&str> = known.iter().map(|k| k.as_str()).filter(|k| *k != "kind").collect();
            let reason = match expected.as_slice() {
                [] => format!("unknown field `{unknown}`; {kind} takes no fields besides kind and port"),
                fields => format!("unknown field `{unknown}`; expected {}", fields.join(", ")),
            };
            return Err(FaultError::BadFields { kind, reason });
        }
        if let Fault::FarmBroken { farm } | Fault::FarmOk { farm } = &fault {
            let valid = !farm.is_empty()
                && farm.len() <= 64
                && farm.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !valid {
                return Err(FaultError::BadFields {
                    kind,
                    reason: format!(
                        "`farm` must be a farm name such as \"usfarm\", \"ushmds\" or \"secdefnj\", got {farm:?}"
                    ),
                });
            }
        }
        Ok(Self { fault, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let cases = [
            (r#"{"kind":"drop"}"#, Fault::Drop),
            (r#"{"kind":"reset"}"#, Fault::Reset),
            (r#"{"kind":"hang"}"#, Fault::Hang),
            (r#"{"kind":"refuse"}"#, Fault::Refuse { duration_ms: None }),
            (r#"{"kind":"refuse","duration_ms":500}"#, Fault::Refuse { duration_ms: Some(500) }),
            (r#"{"kind":"stall_handshake"}"#, Fault::StallHandshake),
            (r#"{"kind":"upstream_lost"}"#, Fault::UpstreamLost { message: None }),
            (r#"{"kind":"upstream_restored"}"#, Fault::UpstreamRestored { data_lost: false }),
            (r#"{"kind":"upstream_restored","data_lost":true}"#, Fault::UpstreamRestored { data_lost: true }),
            (r#"{"kind":"latency","latency_ms":200}"#, Fault::Latency { latency_ms: 200 }),
            (r#"{"kind":"hold_client_id","duration_ms":300}"#, Fault::HoldClientId { duration_ms: 300 }),
            (r#"{"kind":"farm_broken","farm":"usfarm"}"#, Fault::FarmBroken { farm: "usfarm".into() }),
            (r#"{"kind":"farm_ok","farm":"usfarm"}"#, Fault::FarmOk { farm: "usfarm".into() }),
            (r#"{"kind":"competing_session"}"#, Fault::CompetingSession),
            (r#"{"kind":"pacing_violation"}"#, Fault::PacingViolation),
            (r#"{"kind":"clear"}"#, Fault::Clear),
        ];
        for (json, fault) in cases.clone() {
            let req = FaultRequest::from_json(json.as_bytes()).unwrap();
            assert_eq!(req, FaultRequest { fault: fault.clone(), port: None }, "{json}");
            assert!(json.contains(fault.kind()));
        }
        // Every listed kind names a variant, and every variant above is listed.
        let kinds: Vec<&str> = cases.iter().map(|(_, f)| f.kind()).collect();
        for kind in Fault::KINDS {
            assert!(kinds.contains(&kind), "{kind} has a case");
        }
        let targeted = FaultRequest::from_json(br#"{"kind":"drop","port":4002}"#).unwrap();
        assert_eq!(targeted.port, Some(4002));
    }

    #[test]
    fn explains_what_is_wrong() {
        let err = |json: &str| FaultRequest::from_json(json.as_bytes()).unwrap_err();
        assert!(matches!(err("{"), FaultError::BadJson(_)));
        assert_eq!(err("[1]"), FaultError::NotAnObject);
        assert_eq!(err("{}"), FaultError::MissingKind);
        assert_eq!(err(r#"{"kind":"explode"}"#), FaultError::UnknownKind("explode".into()));
        assert!(err(r#"{"kind":"explode"}"#).to_string().contains("stall_handshake"));
        assert!(matches!(err(r#"{"kind":"latency"}"#), FaultError::BadFields { .. }));
        assert!(err(r#"{"kind":"latency"}"#).to_string().contains("latency_ms"));
        assert!(matches!(err(r#"{"kind":"drop","port":70000}"#), FaultError::BadPort(_)));
        assert!(matches!(err(r#"{"kind":"drop","colour":"red"}"#), FaultError::BadFields { .. }));
        assert!(err(r#"{"kind":"latency","latency_ms":5,"jitter":1}"#).to_string().contains("`jitter`"));
        assert!(err(r#"{"kind":"farm_broken"}"#).to_string().contains("farm"));
        assert!(err(r#"{"kind":"farm_broken","farm":""}"#).to_string().contains("usfarm"));
        assert!(err(r#"{"kind":"farm_ok","farm":"us farm\n"}"#).to_string().contains("farm name"));
    }
}
