//! Query strings: decoded by `form_urlencoded` (percent-escapes, `+` for a space), checked
//! against the keys an endpoint knows, so an unknown one is a 400 that names it.

use std::collections::HashMap;

use warp::http::StatusCode;

/// A 4xx answer before it becomes a response: the status and what is wrong.
pub(crate) type Reject = (StatusCode, String);

/// The parameters of `raw` by name (the last one wins), or a 400 naming an unknown key.
pub(crate) fn parse(raw: &str, known: &[&str]) -> Result<HashMap<String, String>, Reject> {
    let mut found = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if !known.contains(&key.as_ref()) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter {key:?}; expected one of: {}", known.join(", ")),
            ));
        }
        found.insert(key.into_owned(), value.into_owned());
    }
    Ok(found)
}

/// The value of `key` in `raw`, ignoring every other parameter (for pages that tolerate extras).
pub(crate) fn lookup(raw: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(raw.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// `key` as a whole number from 1 to `max` (`default` when absent), or a 400 saying so.
pub(crate) fn bounded_number(
    params: &HashMap<String, String>,
    key: &str,
    default: u32,
    max: u32,
) -> Result<u32, Reject> {
    match params.get(key) {
        None => Ok(default),
        Some(text) => text.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
            (StatusCode::BAD_REQUEST, format!("{key} must be a whole number from 1 to {max}, got {text:?}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_unknown_keys_named() {
        let params =
            parse("account=Paper%20One&since=2026-11-22T05%3A00%3A00Z&limit=5", &["account", "since", "limit"])
                .unwrap();
        assert_eq!(params["account"], "Paper One");
        assert_eq!(params["since"], "2026-11-22T05:00:00Z");
        assert_eq!(bounded_number(&params, "limit", 100, 1000), Ok(5));
        assert_eq!(bounded_number(&params, "days", 7, 366), Ok(7));
        let (code, message) = parse("days=abc&x=1", &["days"]).unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(message, r#"unknown query parameter "x"; expected one of: days"#);
        assert_eq!(lookup("a=1&poll_ms=250", "poll_ms").as_deref(), Some("250"));
        assert_eq!(lookup("a=1", "poll_ms"), None);
    }
}
