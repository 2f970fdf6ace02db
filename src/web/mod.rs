//! The HTTP protections both servers share, the supervisor's API (`crate::http`) and the
//! simulator's control API (`crate::sim`): one implementation, applied to every request before
//! any route sees it, so no route can forget them.
//!
//! - `checks` (*pure*): the **Host allow-list** on every request (421: DNS rebinding), and on
//!   every state-changing request (any method but GET, HEAD, OPTIONS) **same-origin only**
//!   (`Sec-Fetch-Site` cross-site/same-site or a foreign `Origin` → 403) and
//!   **`Content-Type: application/json`** (415), so no web page can post a form, a text/plain
//!   or a multipart body without a CORS preflight the server never grants.
//! - `serve`: the accept loop — a **header-read timeout**, an **idle timeout**, and a
//!   **connection cap** where a new connection closes the one idle the longest, so a flood of
//!   idle or slow sockets never locks the operator out of `/healthz`.

mod checks;
mod serve;

pub use checks::{check, Policy, Refused};
pub use serve::{serve, ConnStats, Limits};
