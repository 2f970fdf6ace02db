//! Alert e-mails through `lettre` (blocking transport, rustls; run it on `spawn_blocking`).
//!
//! - **TLS is required** unless the operator chose otherwise: `starttls` (port 587) refuses to
//!   send when the server does not offer STARTTLS, so a stripping attacker never sees the AUTH
//!   password; `implicit` (port 465) is TLS from the first byte; `none` is plain text, allowed
//!   by the settings only without a password (a relay on this machine).
//! - Certificates are checked against the public web roots plus `ca_file` (e.g. a company CA).
//! - One timeout (`timeout`, default 10 s) bounds the connect, each command and the TLS handshake.
//! - The message: `From`, `To`, an RFC 2047-encoded `Subject` (emoji and all), `Date`,
//!   `Message-ID`, `MIME-Version`, `Content-Type: text/plain; charset=utf-8`.

use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::settings::{SmtpSettings, SmtpTls};

/// Send one message with `subject` and `body` to every recipient; `Err` says what failed
/// (never the password).
pub fn send(smtp: &SmtpSettings, subject: &str, body: &str) -> Result<(), String> {
    let message = message(smtp, subject, body)?;
    transport(smtp)?.send(&message).map(|_| ()).map_err(|e| describe(smtp, &e))
}

/// The MIME message: lettre encodes the subject (RFC 2047) and the body.
pub fn message(smtp: &SmtpSettings, subject: &str, body: &str) -> Result<Message, String> {
    let mailbox = |field: &str, address: &str| {
        address.parse::<Mailbox>().map_err(|e| format!("alerts.smtp.{field}: {address:?} is not an address: {e}"))
    };
    let from = mailbox("from", &smtp.from)?;
    let domain = smtp.from.rsplit('@').next().unwrap_or("localhost");
    let mut builder = Message::builder()
        .from(from)
        .subject(subject.replace(['\r', '\n'], " "))
        .date_now()
        .message_id(Some(format!(
            "<{}.{:016x}@{domain}>",
            chrono::Utc::now().timestamp_millis(),
            rand::random::<u64>()
        )))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN);
    for to in &smtp.to {
        builder = builder.to(mailbox("to", to)?);
    }
    builder.body(body.to_owned()).map_err(|e| format!("cannot build the e-mail: {e}"))
}

fn transport(smtp: &SmtpSettings) -> Result<SmtpTransport, String> {
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(parameters(smtp)?),
        SmtpTls::Implicit => Tls::Wrapper(parameters(smtp)?),
    };
    let mut builder =
        SmtpTransport::builder_dangerous(smtp.host.as_str()).port(smtp.port).tls(tls).timeout(Some(smtp.timeout));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

fn parameters(smtp: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("alerts.smtp.ca_file: cannot read {}: {e}", path.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("alerts.smtp.ca_file: {} holds no PEM certificate: {e}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| format!("cannot set up TLS for {}: {e}", smtp.host))
}

/// The error with the server and the TLS mode, and a hint when STARTTLS was missing.
fn describe(smtp: &SmtpSettings, error: &lettre::transport::smtp::Error) -> String {
    let mut text = format!("SMTP {}:{} ({:?}): {error}", smtp.host, smtp.port, smtp.tls);
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if smtp.tls == SmtpTls::StartTls && text.to_ascii_lowercase().contains("starttls") {
        text.push_str(" (the server does not offer STARTTLS: nothing was sent; use tls \"implicit\" for port 465)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "mail.example.com".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            ca_file: None,
            timeout: std::time::Duration::from_secs(10),
            from: "alerts@example.com".into(),
            to: vec!["trader@example.com".into(), "ops@example.com".into()],
            username: None,
            password: None,
        }
    }

    #[test]
    fn the_message_has_mime_headers_and_an_encoded_subject() {
        let message = message(&settings(), "❌ IBKR Live disconnected\r\nBcc: x@evil", "body\n.line").unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        let headers = text.split("\r\n\r\n").next().unwrap();
        let subject = headers.lines().find(|l| l.starts_with("Subject: ")).unwrap();
        assert!(subject.starts_with("Subject: =?utf-8?b?"), "RFC 2047: {subject}");
        assert!(!headers.contains("\r\nBcc:"), "no header injection through the subject: {headers}");
        for header in [
            "Message-ID: <",
            "@example.com>",
            "Date: ",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "To: trader@example.com, ops@example.com",
        ] {
            assert!(headers.contains(header), "{header} in {headers}");
        }
        assert!(headers.is_ascii(), "headers are 7-bit");
    }

    #[test]
    fn smtp_settings_are_checked_and_the_password_never_printed() {
        let json = |smtp: &str| {
            format!(
                r#"{{"accounts":[{{"name":"P","paper_trading":true,"host":"h","port":1,"client_id":1}}],"alerts":{{"smtp":{smtp}}}}}"#
            )
        };
        let ok = crate::settings::Settings::from_json_str(&json(
            r#"{"host":"mail","from":"a@b.c","to":["t@b.c"],"username":"u","password":"hunter2"}"#,
        ))
        .unwrap();
        let smtp = ok.alerts.smtp.unwrap();
        assert_eq!(smtp.port, 587);
        assert!(!format!("{smtp:?}").contains("hunter2"));
        let err =
            crate::settings::Settings::from_json_str(&json(r#"{"host":"mail","from":"a@b.c","to":[]}"#)).unwrap_err();
        assert_eq!(err.field(), Some("alerts.smtp.to"));
        let err =
            crate::settings::Settings::from_json_str(&json(r#"{"host":"mail","from":"a@b.c","to":["t@b.c"],"tls":1}"#))
                .unwrap_err();
        assert!(err.to_string().contains("tls"), "{err}");
    }
}
