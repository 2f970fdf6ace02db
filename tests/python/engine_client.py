#!/usr/bin/env python3
"""Drive ib_async (or ib_insync) against a gateway the way a trading engine does.

Run by tests/ib_async_client.rs and tests/ib_insync_client.rs against the in-process simulator,
or by hand against any gateway with a simulator control API:

    python engine_client.py --lib ib_async --port 4002 --client-id 7 --account DU1234567 \
        --control http://127.0.0.1:7462

Steps, each bounded by --step-timeout seconds (the name is what a failure reports):

  connect        IB.connect in under --connect-budget s, with no warning or error logged by the
                 library (startup requests timing out, decode errors), managedAccounts
  qualify        qualifyContracts(Stock('AAPL', 'SMART', 'USD')) fills in conId and exchange
  market_order   BUY 10 AAPL MKT: Filled, an execution near the market, a commission report
  limit_cancel   BUY 10 AAPL LMT at half the market: stays Submitted, then cancelOrder: Cancelled
  portfolio      positions, portfolio and account values show the 10 shares and the cash spent
  market_data    reqMktData with generic ticks 233,236: bid, ask, last, volume, RT volume,
                 shortable; cancelMktData
  history        reqHistoricalData 1 D of 5 mins TRADES bars
  completed      reqCompletedOrders lists the filled and the cancelled order
  executions     reqExecutions lists the fill with its commission
  faults         (--faults) over the control API, each seen as ib_async sees a real gateway:
                 upstream_lost -> errorEvent 1100, upstream_restored -> 1102; hang -> a request
                 times out (RequestTimeout), clear -> it answers again; a second connect with
                 the same client id -> 326 and a failed connect; drop -> the blocking call in
                 progress raises ConnectionError and disconnectedEvent fires

Every library error logged during the run is reported (library_errors); the test decides which
are expected. On success prints one JSON line with what was observed and exits 0; on failure
prints "engine_client: step '<step>' failed: <why>" and what was observed to stderr, exits 1.
"""

import argparse
import asyncio
import importlib
import json
import logging
import math
import os
import sys
import threading
import time
import urllib.request


class StepFailed(Exception):
    pass


class Records(logging.Handler):
    """Every WARNING+ record of the library's loggers, with the step it happened in."""

    def __init__(self, step):
        super().__init__(logging.WARNING)
        self.step = step
        self.records = []

    def emit(self, record):
        self.records.append({"step": self.step[0], "level": record.levelname, "logger": record.name,
                             "message": record.getMessage()[:300]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lib", choices=["ib_async", "ib_insync"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--control", required=True, help="the simulator's control API, http://host:port")
    parser.add_argument("--step-timeout", type=float, default=10.0)
    parser.add_argument("--connect-budget", type=float, default=1.0)
    parser.add_argument("--faults", action="store_true", help="run the fault steps")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()

    lib = importlib.import_module(args.lib)
    step = ["start"]
    records = Records(step)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger(args.lib).addHandler(records)
    timeout = args.step_timeout

    def watchdog():
        time.sleep(timeout * 20)
        print(f"engine_client: step '{step[0]}' failed: watchdog fired", file=sys.stderr, flush=True)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()

    ib = lib.IB()
    errors = []  # (reqId, code, message)
    ib.errorEvent += lambda reqId, code, msg, *rest: errors.append((reqId, code, msg))
    disconnected = []
    ib.disconnectedEvent += lambda: disconnected.append(time.monotonic())
    observed = {"lib": args.lib, "version": lib.__version__}

    def wait_until(what, predicate, limit=None):
        deadline = time.monotonic() + (limit or timeout)
        while not predicate():
            if time.monotonic() > deadline:
                raise StepFailed(f"step '{step[0]}' failed: no {what} within {limit or timeout:g} s")
            ib.sleep(0.02)

    def fault(kind, **fields):
        body = json.dumps({"kind": kind, **fields}).encode()
        req = urllib.request.Request(f"{args.control}/sim/fault", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if resp.status != 200:
                raise StepFailed(f"step '{step[0]}' failed: POST /sim/fault {kind} answered {resp.status}")

    def codes():
        return [c for _, c, _ in errors]

    try:
        # ---- connect --------------------------------------------------------------------
        step[0] = "connect"
        started = time.monotonic()
        ib.connect(args.host, args.port, clientId=args.client_id, timeout=max(4, timeout))
        observed["connect_seconds"] = round(time.monotonic() - started, 3)
        observed["server_version"] = ib.client.serverVersion()
        observed["accounts"] = ib.managedAccounts()
        connect_problems = [r for r in records.records if r["step"] == "connect"]
        observed["connect_problems"] = connect_problems
        if connect_problems:
            raise StepFailed(f"step 'connect' failed: the library logged {connect_problems}")
        if observed["connect_seconds"] > args.connect_budget:
            raise StepFailed(f"step 'connect' failed: took {observed['connect_seconds']} s, "
                             f"more than {args.connect_budget} s")
        if observed["accounts"] != [args.account]:
            raise StepFailed(f"step 'connect' failed: managedAccounts {observed['accounts']}")

        # ---- qualify --------------------------------------------------------------------
        step[0] = "qualify"
        contract = lib.Stock("AAPL", "SMART", "USD")
        qualified = ib.qualifyContracts(contract)
        if not qualified or not contract.conId:
            raise StepFailed(f"step 'qualify' failed: {contract} not qualified ({qualified})")
        observed["con_id"] = contract.conId
        observed["primary_exchange"] = contract.primaryExchange

        # ---- market order ---------------------------------------------------------------
        step[0] = "market_order"
        market = ib.reqMktData(contract, "", True, False)  # a snapshot for the reference price
        wait_until("snapshot bid/ask", lambda: market.bid > 0 and market.ask > 0)
        reference = {"bid": market.bid, "ask": market.ask}
        trade = ib.placeOrder(contract, lib.MarketOrder("BUY", 10))
        wait_until("Filled", lambda: trade.orderStatus.status == "Filled")
        wait_until("a commission report", lambda: trade.fills and trade.fills[-1].commissionReport.commission > 0)
        fill = trade.fills[-1]
        observed["market_order"] = {
            "order_id": trade.order.orderId,
            "statuses": [e.status for e in trade.log],
            "filled": trade.orderStatus.filled,
            "avg_fill_price": trade.orderStatus.avgFillPrice,
            "exec_price": fill.execution.price,
            "exec_side": fill.execution.side,
            "commission": fill.commissionReport.commission,
            "reference": reference,
        }
        if abs(fill.execution.price - reference["ask"]) > 0.05 * reference["ask"]:
            raise StepFailed(f"step 'market_order' failed: filled at {fill.execution.price}, the ask was "
                             f"{reference['ask']}")

        # ---- limit order, then cancel ---------------------------------------------------
        step[0] = "limit_cancel"
        limit_price = round(reference["bid"] / 2, 2)
        resting = ib.placeOrder(contract, lib.LimitOrder("BUY", 10, limit_price))
        wait_until("Submitted", lambda: resting.orderStatus.status == "Submitted")
        ib.sleep(0.5)  # a resting order must still be resting after a while: only waiting shows it
        observed["limit_status_after_wait"] = resting.orderStatus.status
        if resting.orderStatus.status != "Submitted":
            raise StepFailed(f"step 'limit_cancel' failed: BUY LMT {limit_price} is {resting.orderStatus.status}")
        ib.cancelOrder(resting.order)
        wait_until("Cancelled", lambda: resting.orderStatus.status == "Cancelled")
        observed["limit_order"] = {"order_id": resting.order.orderId, "limit": limit_price,
                                   "statuses": [e.status for e in resting.log]}

        # ---- portfolio ------------------------------------------------------------------
        step[0] = "portfolio"
        wait_until("a position of 10 AAPL",
                   lambda: any(p.contract.conId == contract.conId and p.position == 10 for p in ib.positions()))
        wait_until("a portfolio item for AAPL",
                   lambda: any(i.contract.conId == contract.conId and i.position == 10 for i in ib.portfolio()))
        position = next(p for p in ib.positions() if p.contract.conId == contract.conId)
        values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
        observed["position"] = {"account": position.account, "position": position.position,
                                "avg_cost": position.avgCost}
        observed["account_values"] = {t: values.get((t, "USD")) for t in
                                      ("NetLiquidation", "TotalCashValue", "GrossPositionValue", "BuyingPower")}
        if not math.isclose(position.avgCost, fill.execution.price, rel_tol=0.01):
            raise StepFailed(f"step 'portfolio' failed: avgCost {position.avgCost} vs fill {fill.execution.price}")

        # ---- market data ----------------------------------------------------------------
        step[0] = "market_data"
        ticker = ib.reqMktData(contract, "233,236", False, False)
        wait_until("bid, ask, last and volume",
                   lambda: ticker.bid > 0 and ticker.ask > 0 and ticker.last > 0 and ticker.volume > 0)
        wait_until("RT volume (233) and shortable (236)",
                   lambda: not math.isnan(ticker.rtVolume) and not math.isnan(ticker.shortableShares))
        observed["ticker"] = {"bid": ticker.bid, "ask": ticker.ask, "last": ticker.last, "volume": ticker.volume,
                              "rt_volume": ticker.rtVolume, "shortable_shares": ticker.shortableShares}
        ib.cancelMktData(contract)

        # ---- history --------------------------------------------------------------------
        step[0] = "history"
        bars = ib.reqHistoricalData(contract, "", "1 D", "5 mins", "TRADES", useRTH=True, formatDate=1)
        if not bars:
            raise StepFailed("step 'history' failed: no bars")
        observed["bars"] = {"count": len(bars), "first": str(bars[0].date), "last": str(bars[-1].date),
                            "ohlc_ok": all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
                                           for b in bars)}

        # ---- completed orders -----------------------------------------------------------
        step[0] = "completed"
        completed = ib.reqCompletedOrders(False)
        observed["completed"] = sorted((t.order.permId, t.orderStatus.status) for t in completed)
        ids = {t.order.permId for t in completed}
        if trade.order.permId not in ids or resting.order.permId not in ids:
            raise StepFailed(f"step 'completed' failed: {observed['completed']} lacks the two orders")

        # ---- executions -----------------------------------------------------------------
        step[0] = "executions"
        fills = ib.reqExecutions()
        mine = [f for f in fills if f.execution.orderId == trade.order.orderId]
        # The library keeps one Fill per execId: the commission of an execution it saw live is
        # on that Fill (ib.fills()), not on the copy reqExecutions returns.
        known = {f.execution.execId: f for f in ib.fills()}
        observed["executions"] = [{"order_id": f.execution.orderId, "exec_id": f.execution.execId,
                                   "shares": f.execution.shares, "price": f.execution.price,
                                   "commission": known[f.execution.execId].commissionReport.commission
                                   if f.execution.execId in known else None}
                                  for f in mine]
        if sum(f.execution.shares for f in mine) != 10:
            raise StepFailed(f"step 'executions' failed: {observed['executions']}")

        # ---- faults ---------------------------------------------------------------------
        if args.faults:
            step[0] = "upstream"
            fault("upstream_lost")
            wait_until("errorEvent 1100", lambda: 1100 in codes())
            fault("upstream_restored")
            wait_until("errorEvent 1102", lambda: 1102 in codes())

            step[0] = "hang"
            fault("hang")
            ib.RequestTimeout = 1.0
            try:
                ib.reqCurrentTime()
                raise StepFailed("step 'hang' failed: reqCurrentTime answered while the gateway hangs")
            except (asyncio.TimeoutError, TimeoutError):
                observed["hang"] = "request timed out"
            observed["connected_while_hung"] = ib.isConnected()
            fault("clear")
            observed["time_after_clear"] = str(ib.reqCurrentTime())
            ib.RequestTimeout = 0

            step[0] = "duplicate_client_id"
            other = lib.IB()
            other_errors = []
            other.errorEvent += lambda reqId, code, msg, *rest: other_errors.append(code)
            try:
                other.connect(args.host, args.port, clientId=args.client_id, timeout=2)
                raise StepFailed("step 'duplicate_client_id' failed: a second client with the same id connected")
            except StepFailed:
                raise
            except Exception as e:  # noqa: BLE001 (the library's own failure is the point)
                observed["duplicate_connect"] = type(e).__name__
            observed["duplicate_codes"] = other_errors
            if 326 not in other_errors:
                raise StepFailed(f"step 'duplicate_client_id' failed: errors {other_errors}, no 326")
            if not ib.isConnected():
                raise StepFailed("step 'duplicate_client_id' failed: the first client lost its connection")

            step[0] = "drop"
            fault("drop")
            # The library fails the blocking call in progress with ConnectionError("Socket
            # disconnect") (wrapper.connectionClosed) and emits disconnectedEvent.
            try:
                wait_until("disconnectedEvent", lambda: bool(disconnected))
            except ConnectionError as e:
                observed["drop_raised"] = str(e)
            observed["disconnected_event"] = bool(disconnected)
            observed["connected_after_drop"] = ib.isConnected()

        observed["error_codes"] = codes()
        observed["library_errors"] = [r for r in records.records if r["level"] in ("ERROR", "CRITICAL")]
        if ib.isConnected():
            ib.disconnect()
    except Exception as e:  # noqa: BLE001 (any library exception fails the step it happened in)
        why = str(e) if isinstance(e, StepFailed) else f"step '{step[0]}' failed: {type(e).__name__}: {e}"
        print(f"engine_client: {why}", file=sys.stderr)
        print(f"engine_client: observed so far: {json.dumps(observed, default=str)}", file=sys.stderr)
        print(f"engine_client: errors: {errors}", file=sys.stderr)
        print(f"engine_client: library records: {records.records}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)

    print(json.dumps(observed, sort_keys=True, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
