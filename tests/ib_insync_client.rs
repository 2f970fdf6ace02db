//! ib_insync 0.9.86 (`v157..176`, still the most installed Python TWS library) through the same
//! engine script as ib_async: connect, trade, portfolio, market data, bars, executions, faults.
//!
//! The library runs as `tests/python/engine_client.py --lib ib_insync` in a venv under
//! `target/` created on first use (`IBKR_SIM_PYTHON_IB_INSYNC` overrides it).

mod common;

use common::engine::{run_engine, EngineRun};
use common::python::IB_INSYNC;

#[tokio::test]
async fn ib_insync_trades_against_the_simulator_and_sees_the_faults() {
    let EngineRun { seen, sim } = run_engine(&IB_INSYNC, "ib_insync", true).await;
    common::engine::check_trading(&seen, &sim, 176);
    common::engine::check_faults(&seen);
    sim.shutdown();
}
