//! The guarded ports on the dashboard and in `/metrics`: each port's sessions (client id, peer,
//! since, bytes each way, orders passed and refused, the last refusal's reason) and counters.
//! Everything shown is escaped: a peer address or a reason could carry gateway text.

use std::fmt::Write;

use ibkr_supervisor_actors::proxy::PortSnapshot;

use super::dashboard::escape;

/// One card per port (none when no account configures one).
pub fn render_ports(out: &mut String, ports: &[PortSnapshot]) {
    for port in ports {
        let _ = write!(
            out,
            r#"<section class="card" data-proxy="{account}"><h2>Guarded port {listen} <span class="tag">{account}</span> <span class="tag">{}</span></h2>"#,
            if port.listening { "listening" } else { "not listening" },
            account = escape(&port.account),
            listen = escape(&port.listen),
        );
        let _ = write!(
            out,
            "<p>orders passed {} · refused {} · closed at accept: not allowed {}, link down {}, full {} · \
             malformed {} · slow cut off {} · closed on link loss {}</p>",
            port.orders_passed,
            port.orders_refused,
            port.refused_not_allowed,
            port.refused_link_down,
            port.refused_full,
            port.malformed,
            port.slow_cut,
            port.closed_link_lost,
        );
        if port.sessions.is_empty() {
            out.push_str("<p>No engine sessions.</p></section>");
            continue;
        }
        out.push_str(
            "<table><tr><th>client</th><th>peer</th><th>since</th><th>to gateway</th><th>to engine</th>\
             <th>passed</th><th>refused</th><th>last refusal</th></tr>",
        );
        for s in &port.sessions {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} B</td><td>{} B</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                s.client_id.map_or("—".to_owned(), |c| c.to_string()),
                escape(&s.peer),
                s.since.format("%Y-%m-%d %H:%M:%S UTC"),
                s.bytes_to_gateway,
                s.bytes_to_engine,
                s.orders_passed,
                s.orders_refused,
                escape(s.last_refusal.as_deref().unwrap_or("—")),
            );
        }
        out.push_str("</table></section>");
    }
}

/// The `ibkr_proxy_*` block of `/metrics`.
pub fn metrics(out: &mut String, ports: &[PortSnapshot], label: impl Fn(&str) -> String) {
    if ports.is_empty() {
        return;
    }
    let mut block = |name: &str, kind: &str, help: &str, rows: &dyn Fn(&PortSnapshot) -> Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for port in ports {
            let account = label(&port.account);
            for (extra, value) in rows(port) {
                let _ = writeln!(out, "{name}{{account=\"{account}\"{extra}}} {value}");
            }
        }
    };
    block("ibkr_proxy_sessions", "gauge", "Engine sessions open on the guarded port.", &|p| {
        vec![(String::new(), p.sessions.len() as u64)]
    });
    block("ibkr_proxy_orders_total", "counter", "placeOrder through the guarded port, by outcome.", &|p| {
        vec![(",outcome=\"passed\"".into(), p.orders_passed), (",outcome=\"refused\"".into(), p.orders_refused)]
    });
    block("ibkr_proxy_connections_total", "counter", "Connections to the guarded port, by outcome.", &|p| {
        vec![
            (",outcome=\"accepted\"".into(), p.accepted),
            (",outcome=\"not_allowed\"".into(), p.refused_not_allowed),
            (",outcome=\"link_down\"".into(), p.refused_link_down),
            (",outcome=\"full\"".into(), p.refused_full),
        ]
    });
    block("ibkr_proxy_sessions_closed_total", "counter", "Engine sessions the port ended, by cause.", &|p| {
        vec![
            (",cause=\"link_lost\"".into(), p.closed_link_lost),
            (",cause=\"upstream_failed\"".into(), p.upstream_failed),
            (",cause=\"malformed\"".into(), p.malformed),
            (",cause=\"slow\"".into(), p.slow_cut),
        ]
    });
    block("ibkr_proxy_bytes_total", "counter", "Bytes relayed by open sessions, by direction.", &|p| {
        let up = p.sessions.iter().map(|s| s.bytes_to_gateway).sum();
        let down = p.sessions.iter().map(|s| s.bytes_to_engine).sum();
        vec![(",direction=\"to_gateway\"".into(), up), (",direction=\"to_engine\"".into(), down)]
    });
}
