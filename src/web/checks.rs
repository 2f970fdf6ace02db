//! What a request must satisfy before a route sees it (*pure*): see the module map in
//! `web/mod.rs`.

use std::net::{IpAddr, SocketAddr};

use warp::http::{HeaderMap, Method, StatusCode};

/// Who a server answers: the names in `Host` it accepts, and where to add more.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The bind address: its IP is an accepted name unless it is unspecified (`0.0.0.0`).
    pub bind: SocketAddr,
    /// Extra accepted names, lower-case, without port (`http.allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// Where an operator adds a name, named in the 421 answer (e.g. `http.allowed_hosts`).
    pub hosts_key: &'static str,
}

/// Why a request was refused before routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `Host` is not a name this server answers to (421).
    #[error("Host {host:?} is not a name this server answers to; it answers to localhost, 127.0.0.1, [::1], its bind address and {key} (add the name there if the server is reached by it)")]
    Host {
        /// The `Host` header as sent (empty when missing).
        host: String,
        /// Where to add it.
        key: &'static str,
    },
    /// A state change from another site (403).
    #[error("cross-origin request refused: {why}; state changes are accepted only from this server's own pages or a client that is not a browser")]
    CrossOrigin {
        /// Which header said so.
        why: String,
    },
    /// A state change whose body is not declared JSON (415).
    #[error("Content-Type must be application/json, got {got}")]
    MediaType {
        /// The Content-Type sent, or "none".
        got: String,
    },
}

impl Refused {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Host { .. } => StatusCode::MISDIRECTED_REQUEST,
            Refused::CrossOrigin { .. } => StatusCode::FORBIDDEN,
            Refused::MediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

/// `host[:port]` → the lower-case host (`[::1]` keeps its brackets), without a trailing dot.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or_default().to_owned()
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    host.trim_end_matches('.').to_owned()
}

fn ip_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{v6}]"),
        },
    }
}

impl Policy {
    /// Whether `host` (from `Host`, without port) names this server; `local` is the address
    /// the connection was accepted on (an IP literal of it is the address the client used).
    pub fn accepts_host(&self, host: &str, local: Option<SocketAddr>) -> bool {
        if host.is_empty() {
            return false;
        }
        let bind = (!self.bind.ip().is_unspecified()).then(|| ip_name(self.bind.ip()));
        let local = local.map(|l| ip_name(l.ip()));
        ["localhost", "127.0.0.1", "[::1]"].contains(&host)
            || bind.as_deref() == Some(host)
            || local.as_deref() == Some(host)
            || self.allowed_hosts.iter().any(|h| h == host)
    }
}

/// Whether `method` changes state (everything but GET, HEAD and OPTIONS).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The checks, in order: Host (every request), then for a state change the origin and the
/// Content-Type. `local` is the address the connection was accepted on.
pub fn check(policy: &Policy, method: &Method, headers: &HeaderMap, local: Option<SocketAddr>) -> Result<(), Refused> {
    let header = |name: &str| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let host_header = header("host").unwrap_or_default();
    if !policy.accepts_host(&host_name(&host_header), local) {
        return Err(Refused::Host { host: host_header, key: policy.hosts_key });
    }
    if !changes_state(method) {
        return Ok(());
    }
    if let Some(site) = header("sec-fetch-site") {
        let site = site.trim().to_ascii_lowercase();
        if site == "cross-site" || site == "same-site" {
            return Err(Refused::CrossOrigin { why: format!("Sec-Fetch-Site is {site}") });
        }
    }
    if let Some(origin) = header("origin") {
        let expected = format!("http://{}", host_header.trim());
        if !origin.trim().eq_ignore_ascii_case(&expected) {
            return Err(Refused::CrossOrigin { why: format!("Origin {origin:?} is not {expected:?}") });
        }
    }
    let content_type = header("content-type");
    let media = content_type.as_deref().map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/json") {
        return Err(Refused::MediaType { got: content_type.map_or_else(|| "none".to_owned(), |c| format!("{c:?}")) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bind: &str) -> Policy {
        Policy {
            bind: bind.parse().unwrap(),
            allowed_hosts: vec!["trader.lan".into()],
            hosts_key: "http.allowed_hosts",
        }
    }

    fn run(policy: &Policy, method: Method, headers: &[(&str, &str)]) -> Result<(), Refused> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                warp::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                warp::http::HeaderValue::from_str(value).unwrap(),
            );
        }
        check(policy, &method, &map, Some("10.0.0.5:8080".parse().unwrap()))
    }

    #[test]
    fn host_names_the_server_answers_to() {
        let p = policy("127.0.0.1:8080");
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "localhost.:8080",
            "[::1]:8080",
            "trader.lan",
            "10.0.0.5:8080",
        ] {
            assert_eq!(run(&p, Method::GET, &[("host", host)]), Ok(()), "{host}");
        }
        for host in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "[::2]:8080", "0.0.0.0:8080"] {
            let refused = run(&p, Method::GET, &[("host", host)]).unwrap_err();
            assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
            assert!(refused.to_string().contains("http.allowed_hosts"), "{refused}");
        }
        assert!(run(&p, Method::GET, &[]).is_err(), "no Host at all");
        let any = policy("0.0.0.0:8080");
        assert!(any.accepts_host("10.0.0.5", Some("10.0.0.5:1".parse().unwrap())), "the address the client used");
        assert!(!any.accepts_host("0.0.0.0", None));
        assert!(policy("[fd00::2]:1").accepts_host("[fd00::2]", None));
    }

    #[test]
    fn state_changes_come_from_the_same_origin_as_json() {
        let p = policy("127.0.0.1:8080");
        let json = ("content-type", "application/json; charset=utf-8");
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(run(&p, Method::POST, &[host, json]), Ok(()), "curl: no Origin, no Sec-Fetch-Site");
        let own = [host, json, ("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin")];
        assert_eq!(run(&p, Method::POST, &own), Ok(()), "the dashboard's own button");
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("origin", "http://127.0.0.1:9999"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let refused = run(&p, Method::POST, &[host, json, (name, value)]).unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        }
        for content_type in
            ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]
        {
            let refused = run(&p, Method::POST, &[host, ("content-type", content_type)]).unwrap_err();
            assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        }
        assert_eq!(run(&p, Method::POST, &[host]).unwrap_err().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            run(&p, Method::DELETE, &[host, ("content-type", "text/plain")]).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            run(&p, Method::GET, &[host, ("origin", "https://evil.example")]),
            Ok(()),
            "reads are not state changes"
        );
    }
}
