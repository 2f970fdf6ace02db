//! ib_async 2.1.0 (the newest 2.x on PyPI, `v157..178`: the classic text protocol) driving the
//! simulator as a trading engine does — connect, qualify, a market order to its fill, a resting
//! limit order cancelled, portfolio and account values, market data with generic ticks, bars,
//! completed orders, executions — then each fault as ib_async sees a real gateway's.
//!
//! The library runs as `tests/python/engine_client.py --lib ib_async` in a venv under `target/`
//! created on first use (`IBKR_SIM_PYTHON_IB_ASYNC` overrides it; see `tests/common/python.rs`).

mod common;

use common::engine::{run_engine, EngineRun};
use common::python::IB_ASYNC;

#[tokio::test]
async fn ib_async_trades_against_the_simulator_like_an_engine_and_sees_every_fault() {
    let EngineRun { seen, sim } = run_engine(&IB_ASYNC, "ib_async", true).await;
    common::engine::check_trading(&seen, &sim, 178);
    common::engine::check_faults(&seen);
    sim.shutdown();
}
