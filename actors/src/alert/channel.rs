//! Where alerts go: a Slack-compatible webhook (`{"text": …}` POSTed with `ureq`) or e-mail
//! (`smtp`, through lettre). A delivery is one blocking attempt; the queue runs it on
//! `spawn_blocking` and owns the retries.

use std::time::Duration;

use super::rules::Alert;
use super::smtp;
use crate::settings::SmtpSettings;

/// How long one webhook POST may take (connect, send, answer).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where alerts go.
#[derive(Clone, Debug)]
pub enum Channel {
    /// Slack-compatible webhook.
    Webhook(String),
    /// E-mail over SMTP.
    Email(SmtpSettings),
}

/// One blocking delivery attempt on a channel (a trait so the queue's tests can stand in).
pub trait Deliver: Send + Sync + 'static {
    /// The channel's name in logs, `/status` and `/metrics`: `webhook`, `email`.
    fn name(&self) -> &'static str;
    /// Deliver `alert` once; `Err` says what failed (never a secret).
    fn deliver(&self, alert: &Alert) -> Result<(), String>;
}

impl Deliver for Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Email(_) => "email",
        }
    }

    fn deliver(&self, alert: &Alert) -> Result<(), String> {
        let text = &alert.text;
        match self {
            Channel::Webhook(url) => post(url, &serde_json::json!({ "text": text }).to_string()),
            Channel::Email(settings) => {
                let subject = text.lines().next().unwrap_or("ibkr-supervisor alert");
                smtp::send(settings, subject, &format!("{text}\n\n(sent by ibkr-supervisor)"))
            }
        }
    }
}

fn post(url: &str, body: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(WEBHOOK_TIMEOUT)).build().into();
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map(|_| ())
        .map_err(|e| format!("POST {}: {e}", redact(url)))
}

/// Webhook URLs carry their secret in the path: log only scheme and host.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}/…", rest.split('/').next().unwrap_or_default()),
        None => "<webhook>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_in_logs() {
        assert_eq!(redact("https://hooks.slack.com/services/T000/B000/SECRET"), "https://hooks.slack.com/…");
    }

    #[test]
    fn a_refused_post_names_the_host_but_not_the_secret_path() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let alert = Alert { account: "Paper".into(), kind: super::super::AlertKind::Down, text: "x".into() };
        let error = Channel::Webhook(format!("http://127.0.0.1:{port}/services/SECRET")).deliver(&alert).unwrap_err();
        assert!(error.starts_with(&format!("POST http://127.0.0.1:{port}/…")), "{error}");
        assert!(!error.contains("SECRET"), "{error}");
    }
}
