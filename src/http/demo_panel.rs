//! The demo's fault panel as the HTTP layer sees it: buttons, and a way to apply the fault a
//! button posts. `ibkr-supervisor demo` implements it over the simulator (see `crate::demo`);
//! the production HTTP layer does not depend on the simulator.

/// One button of the panel: its label and the JSON body it posts to `POST /demo/fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultButton {
    /// What the button says.
    pub label: &'static str,
    /// The request body, e.g. `{"kind":"drop"}`.
    pub body: &'static str,
}

/// Where `POST /demo/fault` goes; present only under `demo`.
pub trait FaultPanel: Send + Sync + 'static {
    /// The panel's buttons, in order.
    fn buttons(&self) -> &[FaultButton];

    /// Apply the fault `body` describes: the name of the fault applied, or why it was not
    /// (answered as a 400).
    fn inject(&self, body: &[u8]) -> Result<String, String>;
}
