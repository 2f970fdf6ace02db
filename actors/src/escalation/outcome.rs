//! What a fired rung came to (*pure*): IBC's answer, or the restart command's end — the
//! `outcome` of an [`EventKind::Escalation`](crate::EventKind::Escalation).

use serde::Serialize;

/// What a fired rung came to: IBC's answer, or the restart command's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// IBC acknowledged the command (`OK …`).
    Accepted {
        /// IBC's text, e.g. "RESTART at 01:23 PM" (may be empty).
        detail: String,
    },
    /// IBC refused it (`ERROR …`).
    Rejected {
        /// IBC's reason.
        reason: String,
    },
    /// IBC closed the connection or stayed silent past the timeout before `OK` or `ERROR`
    /// (its `ControlFrom` refused us, or its handler failed: no main window yet).
    NoAnswer,
    /// IBC's command server could not be reached, or spoke no IBC.
    Unreachable {
        /// What went wrong.
        error: String,
    },
    /// The restart command ran to its end.
    Exited {
        /// Its exit code (`None`: ended by a signal).
        code: Option<i32>,
        /// Whether it exited 0.
        success: bool,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
    /// The restart command was still running at `restart_command_timeout` and was killed.
    TimedOut {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The restart command could not be started.
    SpawnFailed {
        /// Why, e.g. "No such file or directory".
        error: String,
    },
}

impl Outcome {
    /// Whether the rung did what it was asked (IBC acknowledged; the command exited 0).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Accepted { .. } | Outcome::Exited { success: true, .. })
    }

    /// One line for logs, alerts and the dashboard.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Accepted { detail } if detail.is_empty() => "acknowledged by IBC".into(),
            Outcome::Accepted { detail } => format!("acknowledged by IBC: {detail}"),
            Outcome::Rejected { reason } => format!("refused by IBC: {reason}"),
            Outcome::NoAnswer => "no answer from IBC".into(),
            Outcome::Unreachable { error } => format!("IBC unreachable: {error}"),
            Outcome::Exited { code: Some(0), .. } => "exited 0".into(),
            Outcome::Exited { code, stderr, .. } => {
                let how = code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exited {c}"));
                if stderr.is_empty() {
                    how
                } else {
                    format!("{how}: {stderr}")
                }
            }
            Outcome::TimedOut { after_ms } => {
                format!("killed after {}", humantime::format_duration(std::time::Duration::from_millis(*after_ms)))
            }
            Outcome::SpawnFailed { error } => format!("could not start: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_one_line() {
        assert!(Outcome::Accepted { detail: String::new() }.succeeded());
        assert_eq!(
            Outcome::Accepted { detail: "RESTART at 01:23 PM".into() }.describe(),
            "acknowledged by IBC: RESTART at 01:23 PM"
        );
        assert!(!Outcome::NoAnswer.succeeded());
        let failed = Outcome::Exited { code: Some(125), success: false, stderr: "no such container".into() };
        assert_eq!((failed.succeeded(), failed.describe().as_str()), (false, "exited 125: no such container"));
        assert_eq!(Outcome::TimedOut { after_ms: 60_000 }.describe(), "killed after 1m");
        assert_eq!(
            serde_json::to_value(Outcome::Unreachable { error: "refused".into() }).unwrap(),
            serde_json::json!({ "result": "unreachable", "error": "refused" })
        );
    }
}
