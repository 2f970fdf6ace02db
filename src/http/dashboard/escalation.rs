//! The IBC escalation ladder on the dashboard: a line when a rung fired ("IBC escalation:
//! sent RESTART at 14:05:02 EST after the API was dead 5m — acknowledged by IBC: RESTART at
//! 02:06 PM"), and what the ladder waits for next. IBC's replies, the restart command and its
//! stderr are escaped.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ibkr_supervisor_actors::escalation::{IdleReason, LadderView, Problem, Rung, Step, WaitReason};

use super::escape;
use super::wording::clock;

/// The ladder's lines for one account (nothing before a rung fired and while nothing is due).
pub fn render(out: &mut String, view: Option<&LadderView>, zone: Tz, now: DateTime<Utc>) {
    let Some(view) = view else { return };
    if let Some(last) = &view.last {
        let what = match last.rung {
            Rung::RestartCommand => format!("ran the restart command <code>{}</code>", escape(&last.command)),
            _ => format!("sent {} through IBC", escape(&last.command)),
        };
        let lasted = std::time::Duration::from_secs((last.at - last.since).num_seconds().max(0).unsigned_abs());
        let result = match &last.outcome {
            None => "running…".to_owned(),
            Some(outcome) => escape(&outcome.describe()),
        };
        let class = match &last.outcome {
            Some(outcome) if !outcome.succeeded() => "alert warning escalation",
            _ => "alert info escalation",
        };
        let _ = write!(
            out,
            r#"<div class="{class}"><strong>IBC escalation</strong>: {what} at {} after {} {} — {result}.</div>"#,
            clock(last.at, zone),
            problem(last.problem),
            humantime::format_duration(lasted),
        );
    }
    let next = match view.next {
        Some(Step::Wait { until, next: Some(rung), reason }) => {
            let why = match reason {
                WaitReason::Threshold => "when its threshold is reached",
                WaitReason::MinInterval => "once escalation.min_interval has passed since it last fired",
                WaitReason::ResetWindow => "after the reset window",
            };
            let left = std::time::Duration::from_secs((until - now).num_seconds().max(0).unsigned_abs());
            Some(format!(
                "next rung {} at {} (in {}), {why}",
                rung_text(rung),
                clock(until, zone),
                humantime::format_duration(left)
            ))
        }
        Some(Step::Wait { until, next: None, .. }) => {
            Some(format!("nothing fires inside the reset window; looking again at {}", clock(until, zone)))
        }
        Some(Step::Idle { reason: IdleReason::NeedsLogin }) => {
            Some("restarts held: the weekly login is due, a restart would end at the login dialog".to_owned())
        }
        Some(Step::Idle { reason: IdleReason::Exhausted }) => {
            Some("every rung this problem allows has fired: a human is needed".to_owned())
        }
        _ => None,
    };
    if let Some(next) = next {
        let _ = write!(out, r#"<p class="facts escalation-next">Escalation: {next}.</p>"#);
    }
}

fn problem(problem: Problem) -> &'static str {
    match problem {
        Problem::DataBroken => "a market-data farm was broken",
        Problem::UpstreamLost => "IB's upstream was lost (1100)",
        Problem::ApiDead => "the API was dead",
    }
}

fn rung_text(rung: Rung) -> &'static str {
    match rung {
        Rung::ReconnectData => "RECONNECTDATA",
        Rung::ReconnectAccount => "RECONNECTACCOUNT",
        Rung::Restart => "RESTART",
        Rung::RestartCommand => "the restart command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use ibkr_supervisor_actors::escalation::{Firing, LadderSnapshot, Outcome};

    #[test]
    fn a_fired_rung_is_shown_with_its_outcome_escaped_and_what_comes_next() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-02T19:00:00Z").unwrap().with_timezone(&Utc);
        let at = t0 + chrono::TimeDelta::seconds(300);
        let mut view = LadderView {
            ibc: true,
            restart_command: true,
            fired: LadderSnapshot { episode: vec![(Rung::Restart, at)], last_fired: vec![(Rung::Restart, at)] },
            next: Some(Step::Wait {
                until: at + chrono::TimeDelta::seconds(600),
                next: Some(Rung::RestartCommand),
                reason: WaitReason::Threshold,
            }),
            last: Some(Firing {
                rung: Rung::Restart,
                problem: Problem::ApiDead,
                since: t0,
                at,
                command: "RESTART".into(),
                outcome: Some(Outcome::Accepted { detail: "<script>x</script>".into() }),
            }),
            fired_total: [(Rung::Restart, 1)].into_iter().collect(),
        };
        let mut out = String::new();
        render(&mut out, Some(&view), New_York, at);
        assert!(
            out.contains(
                "<strong>IBC escalation</strong>: sent RESTART through IBC at 14:05:00 EST after the API was dead 5m"
            ),
            "{out}"
        );
        assert!(out.contains("acknowledged by IBC: &lt;script&gt;x&lt;/script&gt;"), "{out}");
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("next rung the restart command at 14:15:00 EST (in 10m)"), "{out}");

        view.last = Some(Firing {
            rung: Rung::RestartCommand,
            command: "docker restart <gw>".into(),
            outcome: Some(Outcome::TimedOut { after_ms: 60_000 }),
            ..view.last.clone().unwrap()
        });
        view.next = Some(Step::Idle { reason: IdleReason::Exhausted });
        let mut out = String::new();
        render(&mut out, Some(&view), New_York, at);
        assert!(out.contains(r#"class="alert warning escalation""#), "{out}");
        assert!(out.contains("<code>docker restart &lt;gw&gt;</code>") && out.contains("killed after 1m"), "{out}");
        assert!(out.contains("a human is needed"), "{out}");
        let mut out = String::new();
        render(&mut out, None, New_York, at);
        assert_eq!(out, "");
    }
}
