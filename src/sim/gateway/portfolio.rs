//! The account's portfolio as `GET /sim/state` shows it, and moving a price from the control
//! API (`POST /sim/price`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Gateway;
use crate::sim::market::MarketError;

/// One position, valued at the market.
#[derive(Debug, Clone, Serialize)]
pub struct PositionState {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: &'static str,
    pub position: f64,
    pub average_cost: f64,
    pub market_price: f64,
    pub market_value: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
}

/// A listener's account: its positions and every value TWS reports for it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PortfolioState {
    pub account: String,
    pub positions: Vec<PositionState>,
    /// Account values in the base currency (`key` → value): NetLiquidation, TotalCashValue…
    pub values: BTreeMap<String, String>,
}

/// Why `POST /sim/price` was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("{0}")]
    Market(String),
    #[error("no simulated listener on port {0}")]
    UnknownPort(u16),
}

impl From<MarketError> for PriceError {
    fn from(e: MarketError) -> Self {
        PriceError::Market(e.to_string())
    }
}

impl Gateway {
    pub fn portfolio_state(&self) -> PortfolioState {
        let now = self.now();
        let mut market = self.market();
        let positions = market
            .portfolio(&self.account, now)
            .unwrap_or_default()
            .into_iter()
            .map(|p| PositionState {
                con_id: p.instrument.con_id,
                symbol: p.instrument.symbol.clone(),
                sec_type: p.instrument.sec_type.as_str(),
                position: p.position,
                average_cost: p.average_cost,
                market_price: p.market_price,
                market_value: p.market_value,
                unrealized_pnl: p.unrealized_pnl,
                realized_pnl: p.realized_pnl,
            })
            .collect();
        let values = market
            .account_values(&self.account, now)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.currency == "USD" || v.currency.is_empty())
            .map(|v| (v.key, v.value))
            .collect();
        PortfolioState { account: self.account.clone(), positions, values }
    }

    /// Move `symbol` to `price` now; the market reacts at once (fills, triggers, ticks) —
    /// unless upstream is lost, when fills wait for it to come back, like every fill.
    pub(crate) fn set_price(&self, symbol: &str, price: f64) -> Result<(), MarketError> {
        let now = self.now();
        let upstream_lost = self.publish_conditions().upstream_lost;
        let events = {
            let mut market = self.market();
            market.set_symbol_price(symbol, price, now)?;
            if upstream_lost {
                return Ok(());
            }
            market.poll(now)
        };
        self.deliver(&events);
        self.round.send_modify(|r| *r = r.wrapping_add(1));
        tracing::info!(port = self.port(), symbol, price, "sim price set");
        Ok(())
    }
}
