//! [`SettingsError`], and turning serde's errors into messages that name the field.

use std::io;
use std::path::PathBuf;

/// Why settings could not be loaded.
///
/// `Display` gives one actionable line: which file or field, what is expected, what was
/// given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read config file \"{}\": {}", path.display(), io_message(source))]
    Io {
        /// The file that was to be read.
        path: PathBuf,
        /// Why it could not be.
        source: io::Error,
    },
    /// The document is not valid JSON, or not a JSON object.
    #[error("config is not a valid JSON settings object: {message} at line {line}, column {column}")]
    Malformed {
        /// What is wrong, e.g. "trailing comma".
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// A key is unknown, missing, or has a value that is not allowed.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the offending key, e.g. `accounts[1].port` or `heartbeat.interval`.
        field: String,
        /// What is expected and what was given.
        message: String,
    },
}

impl SettingsError {
    /// The path of the offending key (e.g. `accounts[1].port`), if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            SettingsError::Invalid { field, .. } => Some(field),
            SettingsError::Io { .. } | SettingsError::Malformed { .. } => None,
        }
    }

    pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError::Invalid { field: field.into(), message: message.into() }
    }
}

/// `io::Error`'s message without the " (os error 2)" suffix.
fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// Rejects a document whose first token is not `{`, with a clearer message than serde's
/// (which would e.g. accept a JSON array as a positional struct, then complain about its length).
pub(super) fn check_top_level_object(json: &str) -> Result<(), SettingsError> {
    let Some(start) = json.find(|c: char| !c.is_whitespace()) else {
        return Err(SettingsError::Malformed {
            message: "the document is empty; expected a JSON object such as \
                      {\"accounts\": [...]}"
                .to_owned(),
            line: json.lines().count().max(1),
            column: 1,
        });
    };
    if json[start..].starts_with('{') {
        return Ok(());
    }
    let before = &json[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let found: String = json[start..].chars().take(10).collect();
    Err(SettingsError::Malformed {
        message: format!("expected a JSON object such as {{\"accounts\": [...]}} at top level, got {found:?}"),
        line,
        column,
    })
}

/// Converts a serde error found at `path` (`"."` for the root) into a [`SettingsError`].
pub(super) fn from_serde(path: &str, inner: serde_json::Error) -> SettingsError {
    let path = if path == "." { "" } else { path };

    // serde_json appends " at line L column C"; the path says where, so drop it.
    let full = inner.to_string();
    let suffix = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();

    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return SettingsError::Malformed { message, line: inner.line(), column: inner.column() };
    }

    // serde_path_to_error already includes an unknown key in the path; a missing one not.
    let join = |key: &str| {
        if path == key || path.ends_with(&format!(".{key}")) {
            path.to_owned()
        } else if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };

    if let Some((key, rest)) = backticked(&message, "unknown field `") {
        let expected = rest
            .trim_start_matches(", ")
            .replace('`', "")
            .replace("expected one of ", "expected one of: ")
            .replace("expected ", "expected: ")
            .replace("expected: one of: ", "expected one of: ");
        let field = join(key);
        let place = if field.contains(['.', '[']) { "" } else { " at top level" };
        let message = if expected.is_empty() || expected.starts_with("there are no fields") {
            format!("unknown key{place}; no keys are allowed here")
        } else {
            format!("unknown key{place}; {expected}")
        };
        return SettingsError::invalid(field, message);
    }
    if let Some((key, _)) = backticked(&message, "missing field `") {
        return SettingsError::invalid(join(key), "required key is missing");
    }
    if let Some((key, _)) = backticked(&message, "duplicate field `") {
        return SettingsError::invalid(join(key), "key is given more than once");
    }
    if path.is_empty() {
        return SettingsError::Malformed { message, line: inner.line(), column: inner.column() };
    }
    SettingsError::invalid(path, message)
}

/// For `"<prefix>name`rest"`, returns `("name", "rest")`.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let after = message.strip_prefix(prefix)?;
    let end = after.find('`')?;
    Some((&after[..end], &after[end + 1..]))
}
