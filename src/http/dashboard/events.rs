//! The latest events (time, account, kind, detail) as a table. The detail is said in words for
//! the common kinds and as `key: value` pairs for the others; every part of it came from the
//! gateway or the database and is escaped.

use std::fmt::Write;

use chrono_tz::Tz;
use ibkr_supervisor_actors::persistence::StoredEvent;
use serde_json::Value;

use super::escape;
use super::wording::stamp;

/// What the event says, in a line of text (not yet escaped).
pub fn detail(event: &StoredEvent) -> String {
    let d = &event.detail;
    let text = |key: &str| d.get(key).map(plain).unwrap_or_default();
    let state = |side: &str| d.get(side).and_then(|s| s.get("state")).map(plain).unwrap_or_default();
    match event.kind.as_str() {
        "state_changed" => {
            let to = d.get("to");
            let why = to.and_then(|t| t.get("last_error").or_else(|| t.get("reason"))).filter(|v| !v.is_null());
            match why {
                Some(why) => format!("{} → {}: {}", state("from"), state("to"), plain(why)),
                None => format!("{} → {}", state("from"), state("to")),
            }
        }
        "attempt_started" => format!("attempt {} (client {})", text("attempt"), text("client_id")),
        "attempt_failed" => {
            format!("attempt {} (client {}) failed: {}", text("attempt"), text("client_id"), text("error"))
        }
        "connected" => format!("attempt {} connected (client {})", text("attempt"), text("client_id")),
        "notice" => format!("{}: {}", text("code"), text("message")),
        "lost" => text("reason"),
        "probe_failed" | "reconcile_failed" => text("error"),
        "trading_switched" => {
            if d.get("active") == Some(&Value::Bool(true)) {
                "trading activated".into()
            } else {
                "trading paused".into()
            }
        }
        _ => match d {
            Value::Object(fields) => fields
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "account" | "at" | "kind"))
                .map(|(k, v)| format!("{k}: {}", plain(v)))
                .collect::<Vec<_>>()
                .join(", "),
            other => plain(other),
        },
    }
}

/// A JSON value as text: strings without their quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The table of `events` (newest first).
pub fn table(out: &mut String, events: &[StoredEvent], zone: Tz) {
    out.push_str(r#"<section class="card" id="events"><h2>Latest events</h2>"#);
    if events.is_empty() {
        out.push_str("<p>No events recorded yet.</p></section>");
        return;
    }
    out.push_str("<table><tr><th>time</th><th>account</th><th>kind</th><th>detail</th></tr>");
    for event in events {
        let _ = write!(
            out,
            r#"<tr class="event" data-kind="{kind}"><td>{}</td><td>{}</td><td>{kind}</td><td>{}</td></tr>"#,
            escape(&stamp(event.at, zone)),
            escape(&event.account),
            escape(&detail(event)),
            kind = escape(&event.kind),
        );
    }
    out.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, detail: Value) -> StoredEvent {
        StoredEvent { id: 1, at: chrono::Utc::now(), account: "Paper".into(), kind: kind.into(), detail }
    }

    #[test]
    fn details_are_said_in_words_and_escaped_in_the_table() {
        let lost = event(
            "state_changed",
            json!({"kind": "state_changed", "from": {"state": "connected"}, "to": {"state": "disconnected", "last_error": "eof"}}),
        );
        assert_eq!(detail(&lost), "connected → disconnected: eof");
        let notice = event("notice", json!({"kind": "notice", "code": 1100, "message": "<script>alert(1)</script>"}));
        assert_eq!(detail(&notice), "1100: <script>alert(1)</script>");
        let other = event(
            "order_unknown",
            json!({"account": "Paper", "kind": "order_unknown", "order_id": 7, "order_ref": "x"}),
        );
        assert_eq!(detail(&other), "order_id: 7, order_ref: x");
        let mut out = String::new();
        table(&mut out, &[notice], chrono_tz::UTC);
        assert!(out.contains("1100: &lt;script&gt;alert(1)&lt;/script&gt;"), "{out}");
        assert!(!out.contains("<script>"), "{out}");
    }
}
