//! A session's live subscriptions, capped as IB caps them.
//!
//! Each streaming request (market data, tick-by-tick, real-time bars, keep-up-to-date bars,
//! account summary, PnL, multi-account updates) is one entry, keyed by kind and request id,
//! holding the task that feeds it if it has one. The caps bound what one client can make the
//! gateway hold; going over is refused with the error TWS sends, never queued.

use std::collections::HashMap;

use tokio::task::AbortHandle;

/// Kinds of streaming request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    MarketData,
    TickByTick,
    RealTimeBars,
    HistoricalKeepUp,
    AccountSummary,
    PnL,
    PnLSingle,
    PositionsMulti,
    AccountUpdatesMulti,
    /// reqPositions (no request id: keyed 0, one per session).
    Positions,
    /// reqAccountUpdates (no request id: keyed 0, one per session).
    AccountUpdates,
}

impl Kind {
    /// The most one session may hold at once, and the error (code, text) for one more.
    ///
    /// Market data lines: 100, an IB account's default allowance (message 101, "Max number of
    /// tickers has been reached"). Tick-by-tick: 5 (IB allows a few per 100 lines; 10190).
    /// Real-time bars and keep-up-to-date bars: 50 each. Account summary: 2 at a time, as TWS
    /// (322, "Maximum number of account summary requests exceeded"). The per-account
    /// subscriptions (PnL, multi updates): 50 each.
    pub fn cap(self) -> (usize, i32, &'static str) {
        match self {
            Kind::MarketData => (DEFAULT_MARKET_DATA_LINES, 101, "Max number of tickers has been reached"),
            Kind::TickByTick => (5, 10190, "Max number of tick-by-tick requests has been reached."),
            Kind::RealTimeBars => (50, 420, "Invalid Real-time Query: Max number of real-time bar requests reached"),
            Kind::HistoricalKeepUp => {
                (50, 162, "Historical Market Data Service error message:Max number of keep-up-to-date requests reached")
            }
            Kind::AccountSummary => {
                (2, 322, "Error processing request.-'bd' : cause - Maximum number of account summary requests exceeded")
            }
            Kind::PnL | Kind::PnLSingle | Kind::PositionsMulti | Kind::AccountUpdatesMulti => {
                (50, 322, "Error processing request: maximum number of subscriptions exceeded")
            }
            Kind::Positions | Kind::AccountUpdates => (1, 322, "Error processing request: already subscribed"),
        }
    }
}

/// Why a subscription was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The request id is already streaming (TWS: 322 "Duplicate ticker id").
    Duplicate,
    /// Over the kind's cap: (code, text).
    Cap(i32, &'static str),
}

/// An IB account's default allowance of market-data lines.
pub const DEFAULT_MARKET_DATA_LINES: usize = 100;

pub struct Subscriptions {
    live: HashMap<(Kind, i32), Option<AbortHandle>>,
    /// The account's market-data lines (its allowance; [`Kind::cap`] holds the default).
    market_data_lines: usize,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self::with_market_data_lines(DEFAULT_MARKET_DATA_LINES)
    }
}

impl Subscriptions {
    /// A session's subscriptions, with `lines` market-data lines.
    pub fn with_market_data_lines(lines: usize) -> Self {
        Self { live: HashMap::new(), market_data_lines: lines }
    }

    /// Check that `(kind, req_id)` may be added.
    pub fn admit(&self, kind: Kind, req_id: i32) -> Result<(), Refused> {
        if self.live.contains_key(&(kind, req_id)) {
            return Err(Refused::Duplicate);
        }
        let (mut cap, code, text) = kind.cap();
        if kind == Kind::MarketData {
            cap = self.market_data_lines;
        }
        if self.count(kind) >= cap {
            return Err(Refused::Cap(code, text));
        }
        Ok(())
    }

    /// Record a subscription (admitted first) and the task feeding it, if any.
    pub fn insert(&mut self, kind: Kind, req_id: i32, task: Option<AbortHandle>) {
        if let Some(Some(old)) = self.live.insert((kind, req_id), task) {
            old.abort();
        }
    }

    /// End one; false if it was not live.
    pub fn remove(&mut self, kind: Kind, req_id: i32) -> bool {
        match self.live.remove(&(kind, req_id)) {
            Some(task) => {
                if let Some(task) = task {
                    task.abort();
                }
                true
            }
            None => false,
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.live.keys().filter(|(k, _)| *k == kind).count()
    }

    /// The request ids of `kind`.
    pub fn ids(&self, kind: Kind) -> Vec<i32> {
        self.live.keys().filter(|(k, _)| *k == kind).map(|(_, id)| *id).collect()
    }

    /// End every subscription of `kind`; returns how many there were.
    pub fn stop_kind(&mut self, kind: Kind) -> usize {
        let ids = self.ids(kind);
        for id in &ids {
            self.remove(kind, *id);
        }
        ids.len()
    }

    /// End everything (the session is closing); returns the market-data lines that ended.
    pub fn stop_all(&mut self) -> usize {
        let market_data = self.count(Kind::MarketData);
        for (_, task) in self.live.drain() {
            if let Some(task) = task {
                task.abort();
            }
        }
        market_data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_and_caps() {
        let mut subs = Subscriptions::default();
        subs.insert(Kind::AccountSummary, 1, None);
        assert_eq!(subs.admit(Kind::AccountSummary, 1), Err(Refused::Duplicate));
        subs.insert(Kind::AccountSummary, 2, None);
        assert!(matches!(subs.admit(Kind::AccountSummary, 3), Err(Refused::Cap(322, _))));
        assert_eq!(subs.admit(Kind::PnL, 3), Ok(()), "caps are per kind");
        assert!(subs.remove(Kind::AccountSummary, 1));
        assert!(!subs.remove(Kind::AccountSummary, 1));
        assert_eq!(subs.admit(Kind::AccountSummary, 3), Ok(()));
        assert_eq!(subs.stop_all(), 0);
        assert_eq!(subs.count(Kind::AccountSummary), 0);
    }
}
