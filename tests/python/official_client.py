#!/usr/bin/env python3
"""Drive IB's official Python TWS API client (`ibapi-latest` 10.51.1) against a gateway.

Run by tests/official_python_client.rs against the in-process simulator, or by hand:

    python official_client.py --host 127.0.0.1 --port 4002 --client-id 11 --account DU1234567

--max-version N pins the client's range to v100..N (the client's own MAX_CLIENT_VER is patched),
so the same steps run over the classic text protocol (N < 201) or a mix of text and protobuf
(201 <= N < 213). Every text message is decoded strictly: a message with fields left over
after IB's decoder read it, or one it could not read, fails the run (step 'decode').

Steps, each bounded by --step-timeout seconds:

  connect            nextValidId, managedAccounts (== --account), farm notices 2104/2106/2158
                     through error() with reqId -1
  current_time       reqCurrentTime -> currentTime, within --clock-skew s of now
  current_time_ms    reqCurrentTimeInMillis -> currentTimeInMillis, within --clock-skew s of now
                     (server version 197 and up; the client refuses it below)
  place_order        BUY 10 AAPL LMT 150.0 (the test puts the market below it) -> openOrder,
                     orderStatus Submitted, execDetails, commissionAndFeesReport, orderStatus
                     Filled at the limit or better
  market_data        reqMktData -> >= 3 tickPrice with price > 0 and >= 1 tickSize
  cancel_market_data cancelMktData -> no tick in a quiet window after a round trip
  disconnect         disconnect, the message loop thread ends

On success prints one JSON line with what was observed to stdout and exits 0. On failure prints
"official_client: step '<step>' failed: <why>" and what was observed so far to stderr and exits 1.
Never hangs: every wait has a timeout, and a watchdog ends the process if a client call blocks.
"""

import argparse
import json
import logging
import os
import sys
import threading
import time

import ibapi.client
from ibapi import decoder as ibapi_decoder
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

FARM_NOTICES = (2104, 2106, 2158)
ORDER_QTY = 10
LIMIT_PRICE = 150.0
MKT_REQ_ID = 9001


class StepFailed(Exception):
    pass


class App(EWrapper, EClient):
    """Records every callback the steps look at; each record sets `changed`."""

    def __init__(self):
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.cond = threading.Condition()
        self.next_valid_id = None
        self.accounts = None
        self.errors = []  # (reqId, code, message)
        self.current_time = None
        self.current_time_millis = None
        self.order_events = []  # ("openOrder", status) / ("orderStatus", status, filled, remaining) / ...
        self.open_orders = []
        self.statuses = []
        self.executions = []
        self.commissions = []
        self.ticks_price = []  # (tickType, price)
        self.ticks_size = []  # (tickType, size)
        self.market_data_type = None
        self.tick_req_params = None
        self.closed = False

    # -- helpers ---------------------------------------------------------------------------

    def _record(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def wait_for(self, step, what, predicate, timeout):
        """Wait until predicate() holds (evaluated under the lock) or fail `step`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StepFailed(f"step '{step}' failed: no {what} within {timeout:g} s")
                self.cond.wait(remaining)

    # -- callbacks -------------------------------------------------------------------------

    def nextValidId(self, orderId):
        self._record(lambda: setattr(self, "next_valid_id", orderId))

    def managedAccounts(self, accountsList):
        self._record(lambda: setattr(self, "accounts", accountsList))

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):
        self._record(lambda: self.errors.append((reqId, errorCode, errorString)))

    def currentTime(self, time):  # noqa: A002 (the wrapper's own parameter name)
        self._record(lambda: setattr(self, "current_time", time))

    def currentTimeInMillis(self, timeInMillis):
        self._record(lambda: setattr(self, "current_time_millis", timeInMillis))

    def openOrder(self, orderId, contract, order, orderState):
        def rec():
            self.open_orders.append(
                {
                    "order_id": orderId,
                    "symbol": contract.symbol,
                    "action": order.action,
                    "quantity": str(order.totalQuantity),
                    "order_type": order.orderType,
                    "limit_price": order.lmtPrice,
                    "account": order.account,
                    "client_id": order.clientId,
                    "perm_id": order.permId,
                    "status": orderState.status,
                }
            )
            self.order_events.append(("openOrder", orderId, orderState.status))

        self._record(rec)

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, parentId,
                    lastFillPrice, clientId, whyHeld, mktCapPrice):
        def rec():
            self.statuses.append(
                {
                    "order_id": orderId,
                    "status": status,
                    "filled": str(filled),
                    "remaining": str(remaining),
                    "avg_fill_price": avgFillPrice,
                    "client_id": clientId,
                }
            )
            self.order_events.append(("orderStatus", orderId, status))

        self._record(rec)

    def execDetails(self, reqId, contract, execution):
        def rec():
            self.executions.append(
                {
                    "req_id": reqId,
                    "order_id": execution.orderId,
                    "exec_id": execution.execId,
                    "symbol": contract.symbol,
                    "side": execution.side,
                    "shares": str(execution.shares),
                    "price": execution.price,
                    "account": execution.acctNumber,
                    "client_id": execution.clientId,
                }
            )
            self.order_events.append(("execDetails", execution.orderId, execution.execId))

        self._record(rec)

    def commissionAndFeesReport(self, commissionAndFeesReport):
        r = commissionAndFeesReport

        def rec():
            self.commissions.append(
                {"exec_id": r.execId, "commission_and_fees": r.commissionAndFees, "currency": r.currency}
            )
            self.order_events.append(("commissionAndFeesReport", None, r.execId))

        self._record(rec)

    def tickPrice(self, reqId, tickType, price, attrib):
        if reqId == MKT_REQ_ID:
            self._record(lambda: self.ticks_price.append((tickType, price)))

    def tickSize(self, reqId, tickType, size):
        if reqId == MKT_REQ_ID:
            self._record(lambda: self.ticks_size.append((tickType, str(size))))

    def marketDataType(self, reqId, marketDataType):
        self._record(lambda: setattr(self, "market_data_type", marketDataType))

    def tickReqParams(self, tickerId, minTick, bboExchange, snapshotPermissions):
        self._record(lambda: setattr(self, "tick_req_params", (tickerId, minTick, bboExchange)))

    def connectionClosed(self):
        self._record(lambda: setattr(self, "closed", True))


DECODE_PROBLEMS = []


def strict_decoding():
    """Make IB's text decoder report what it would silently skip: fields it did not read, and
    messages it could not read (BadMessage, or a wrap= handler's length mismatch)."""
    original = ibapi_decoder.Decoder.interpret

    def interpret(self, fields, msgId):
        handleInfo = self.msgId2handleInfo.get(msgId, None)
        if handleInfo is None or handleInfo.processMeth is None:
            return original(self, fields, msgId)
        it = iter(fields)
        try:
            handleInfo.processMeth(self, it)
        except Exception as e:  # noqa: BLE001 (recorded, then the run fails on it)
            DECODE_PROBLEMS.append(f"msgId {msgId}: {type(e).__name__} {getattr(e, 'text', e)} in {list(fields)}")
            return
        rest = list(it)
        if rest:
            DECODE_PROBLEMS.append(f"msgId {msgId}: {len(rest)} fields left over: {rest} of {list(fields)}")

    ibapi_decoder.Decoder.interpret = interpret

    class Problems(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                DECODE_PROBLEMS.append(record.getMessage())

    logging.getLogger("ibapi.decoder").addHandler(Problems())


def is_notice(code):
    """Informational codes a gateway sends on its own (farm status and other 21xx warnings)."""
    return 2100 <= code <= 2199


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--step-timeout", type=float, default=10.0, help="seconds per step")
    parser.add_argument("--clock-skew", type=float, default=5.0, help="allowed |server time - now|, s")
    parser.add_argument("--quiet-window", type=float, default=0.5,
                        help="seconds without ticks expected after cancelMktData")
    parser.add_argument("--debug", action="store_true", help="log the client's frames at DEBUG to stderr")
    parser.add_argument("--max-version", type=int, help="announce v100..N instead of the client's newest range")
    args = parser.parse_args()
    if args.max_version:
        ibapi.client.MAX_CLIENT_VER = args.max_version
    strict_decoding()

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s",
    )

    app = App()
    step = ["start"]
    timeout = args.step_timeout

    # A client call that blocks (EClient.connect has no handshake timeout) cannot be interrupted
    # from Python: the watchdog reports the step and ends the process.
    def watchdog():
        time.sleep(timeout * 12)
        print(f"official_client: step '{step[0]}' failed: watchdog fired after {timeout * 12:g} s",
              file=sys.stderr, flush=True)
        os._exit(3)

    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()

    observed = {}
    loop = None
    try:
        # ---- connect ----------------------------------------------------------------------
        step[0] = "connect"
        connector = threading.Thread(
            target=app.connect, args=(args.host, args.port, args.client_id), name="connect", daemon=True
        )
        connector.start()
        connector.join(timeout)
        if connector.is_alive():
            raise StepFailed(f"step 'connect' failed: no handshake reply from {args.host}:{args.port} "
                             f"within {timeout:g} s")
        if not app.isConnected():
            raise StepFailed(f"step 'connect' failed: not connected to {args.host}:{args.port} "
                             f"(errors: {app.errors})")
        observed["server_version"] = app.serverVersion()
        conn_time = app.twsConnectionTime()
        observed["connection_time"] = conn_time.decode("ascii", "replace") if isinstance(conn_time, bytes) \
            else str(conn_time)
        loop = threading.Thread(target=app.run, name="ibapi-run", daemon=True)
        loop.start()

        app.wait_for("connect", "nextValidId", lambda: app.next_valid_id is not None, timeout)
        app.wait_for("connect", "managedAccounts", lambda: app.accounts is not None, timeout)
        app.wait_for(
            "connect",
            "farm notices 2104/2106/2158 with reqId -1",
            lambda: all(any(r == -1 and c == code for r, c, _ in app.errors) for code in FARM_NOTICES),
            timeout,
        )
        observed["next_valid_id"] = app.next_valid_id
        observed["accounts"] = app.accounts
        observed["farm_notices"] = sorted({c for r, c, _ in app.errors if r == -1 and c in FARM_NOTICES})
        accounts = [a for a in app.accounts.split(",") if a]
        if accounts != [args.account]:
            raise StepFailed(f"step 'connect' failed: managedAccounts {app.accounts!r}, expected {args.account!r}")
        if not isinstance(app.next_valid_id, int) or app.next_valid_id <= 0:
            raise StepFailed(f"step 'connect' failed: nextValidId {app.next_valid_id!r} is not a positive id")

        # ---- current time -----------------------------------------------------------------
        step[0] = "current_time"
        app.reqCurrentTime()
        app.wait_for("current_time", "currentTime", lambda: app.current_time is not None, timeout)
        observed["current_time"] = app.current_time
        if abs(app.current_time - time.time()) > args.clock_skew:
            raise StepFailed(f"step 'current_time' failed: currentTime {app.current_time} is more than "
                             f"{args.clock_skew:g} s from now ({time.time():.0f})")

        step[0] = "current_time_ms"
        if app.serverVersion() >= 197:
            app.reqCurrentTimeInMillis()
            app.wait_for("current_time_ms", "currentTimeInMillis", lambda: app.current_time_millis is not None,
                         timeout)
            observed["current_time_millis"] = app.current_time_millis
            if abs(app.current_time_millis - time.time() * 1000) > args.clock_skew * 1000:
                raise StepFailed(f"step 'current_time_ms' failed: currentTimeInMillis {app.current_time_millis} "
                                 f"is more than {args.clock_skew:g} s from now")

        # ---- place order ------------------------------------------------------------------
        step[0] = "place_order"
        order_id = app.next_valid_id
        contract = Contract()
        contract.symbol = "AAPL"
        contract.secType = "STK"
        contract.exchange = "SMART"
        contract.currency = "USD"
        order = Order()
        order.action = "BUY"
        order.totalQuantity = ORDER_QTY
        order.orderType = "LMT"
        order.lmtPrice = LIMIT_PRICE
        order.tif = "DAY"
        order.account = args.account
        order.transmit = True
        app.placeOrder(order_id, contract, order)

        def status_seen(status):
            return lambda: any(s["order_id"] == order_id and s["status"] == status for s in app.statuses)

        def order_failed():
            return [e for e in app.errors if e[0] == order_id and not is_notice(e[1])]

        def wait_order(what, predicate):
            app.wait_for("place_order", what, lambda: predicate() or bool(order_failed()), timeout)
            if order_failed():
                raise StepFailed(f"step 'place_order' failed: error for order {order_id}: {order_failed()}")

        wait_order("openOrder", lambda: any(o["order_id"] == order_id for o in app.open_orders))
        wait_order("orderStatus Submitted", status_seen("Submitted"))
        wait_order("orderStatus Filled", status_seen("Filled"))
        wait_order("execDetails", lambda: any(e["order_id"] == order_id for e in app.executions))
        wait_order("commissionAndFeesReport", lambda: bool(app.commissions))

        with app.cond:
            events = [e for e in app.order_events if e[1] in (order_id, None)]
            statuses = [s["status"] for s in app.statuses if s["order_id"] == order_id]
            execution = next(e for e in app.executions if e["order_id"] == order_id)
            first_open = dict(next(o for o in app.open_orders if o["order_id"] == order_id))
            filled = next(s for s in app.statuses if s["order_id"] == order_id and s["status"] == "Filled")
            commissions = list(app.commissions)
        observed["order_id"] = order_id
        observed["open_order"] = first_open
        observed["order_statuses"] = statuses
        observed["order_events"] = [e[0] for e in events]
        observed["exec_shares"] = execution["shares"]
        observed["exec_side"] = execution["side"]
        observed["exec_price"] = execution["price"]
        observed["exec_id"] = execution["exec_id"]
        observed["commission"] = commissions[0]["commission_and_fees"]

        kinds = [e[0] for e in events]
        if kinds[0] != "openOrder":
            raise StepFailed(f"step 'place_order' failed: first callback for the order was {kinds[0]}, "
                             f"expected openOrder (events {kinds})")
        # Statuses move forward only: every Submitted before the first Filled, nothing after Filled
        # but Filled again.
        first_filled = statuses.index("Filled")
        if "Submitted" not in statuses[:first_filled] or any(s != "Filled" for s in statuses[first_filled:]):
            raise StepFailed(f"step 'place_order' failed: order statuses out of order: {statuses}")
        if any(s not in ("PreSubmitted", "Submitted") for s in statuses[:first_filled]):
            raise StepFailed(f"step 'place_order' failed: unexpected status before the fill: {statuses}")
        if kinds.index("execDetails") > kinds.index("commissionAndFeesReport"):
            raise StepFailed(f"step 'place_order' failed: commission before its execution: {kinds}")
        if first_open["action"] != "BUY" or first_open["order_type"] != "LMT" or \
                first_open["limit_price"] != LIMIT_PRICE or first_open["symbol"] != "AAPL" or \
                float(first_open["quantity"]) != ORDER_QTY:
            raise StepFailed(f"step 'place_order' failed: openOrder does not echo the order: {first_open}")
        if float(execution["shares"]) != ORDER_QTY or execution["side"] != "BOT" or execution["symbol"] != "AAPL":
            raise StepFailed(f"step 'place_order' failed: execution {execution} is not BOT {ORDER_QTY} AAPL")
        if execution["account"] != args.account:
            raise StepFailed(f"step 'place_order' failed: execution account {execution['account']!r}, "
                             f"expected {args.account!r}")
        if not (0 < execution["price"] <= LIMIT_PRICE):
            raise StepFailed(f"step 'place_order' failed: BUY LMT {LIMIT_PRICE} filled at {execution['price']}")
        if float(filled["filled"]) != ORDER_QTY or float(filled["remaining"]) != 0:
            raise StepFailed(f"step 'place_order' failed: Filled status {filled} is not {ORDER_QTY} filled, 0 left")
        if commissions[0]["exec_id"] != execution["exec_id"]:
            raise StepFailed(f"step 'place_order' failed: commission for exec {commissions[0]['exec_id']!r}, "
                             f"execution was {execution['exec_id']!r}")

        # ---- market data ------------------------------------------------------------------
        step[0] = "market_data"
        app.reqMktData(MKT_REQ_ID, contract, "", False, False, [])

        def md_failed():
            return [e for e in app.errors if e[0] == MKT_REQ_ID and not is_notice(e[1])]

        app.wait_for(
            "market_data",
            "3 tickPrice with price > 0 and a tickSize",
            lambda: bool(md_failed())
            or (sum(1 for _, p in app.ticks_price if p > 0) >= 3 and len(app.ticks_size) >= 1),
            timeout,
        )
        if md_failed():
            raise StepFailed(f"step 'market_data' failed: error for reqId {MKT_REQ_ID}: {md_failed()}")
        with app.cond:
            bad = [(t, p) for t, p in app.ticks_price if not p > 0]
            observed["tick_types"] = sorted({t for t, _ in app.ticks_price})
            observed["size_tick_types"] = sorted({t for t, _ in app.ticks_size})
        observed["market_data_type"] = app.market_data_type
        if bad:
            raise StepFailed(f"step 'market_data' failed: non-positive prices {bad}")

        # ---- cancel market data -----------------------------------------------------------
        step[0] = "cancel_market_data"
        app.cancelMktData(MKT_REQ_ID)
        # A current-time round trip after the cancel: ticks sent before the gateway handled the
        # cancel have arrived by the time the answer has.
        with app.cond:
            app.current_time = None
        app.reqCurrentTime()
        app.wait_for("cancel_market_data", "currentTime after cancelMktData", lambda: app.current_time is not None,
                     timeout)
        with app.cond:
            ticks_at_cancel = len(app.ticks_price) + len(app.ticks_size)
        observed["ticks"] = sum(1 for _, p in app.ticks_price if p > 0)
        observed["size_ticks"] = len(app.ticks_size)
        time.sleep(args.quiet_window)  # absence of ticks can only be shown by waiting
        with app.cond:
            app.current_time = None
        app.reqCurrentTime()
        app.wait_for("cancel_market_data", "second currentTime", lambda: app.current_time is not None, timeout)
        with app.cond:
            late = len(app.ticks_price) + len(app.ticks_size) - ticks_at_cancel
        observed["ticks_after_cancel"] = late
        if late:
            raise StepFailed(f"step 'cancel_market_data' failed: {late} ticks arrived "
                             f"{args.quiet_window:g} s after cancelMktData")

        # ---- unexpected errors ------------------------------------------------------------
        step[0] = "errors"
        with app.cond:
            unexpected = [e for e in app.errors if not is_notice(e[1])]
        observed["notices"] = sorted({c for _, c, _ in app.errors})
        if unexpected:
            raise StepFailed(f"step 'errors' failed: unexpected error callbacks: {unexpected}")

        # ---- decode -----------------------------------------------------------------------
        step[0] = "decode"
        if DECODE_PROBLEMS:
            raise StepFailed("step 'decode' failed: " + "; ".join(DECODE_PROBLEMS[:5]))

        # ---- disconnect -------------------------------------------------------------------
        step[0] = "disconnect"
        app.disconnect()
        loop.join(timeout)
        if loop.is_alive():
            raise StepFailed(f"step 'disconnect' failed: message loop still running {timeout:g} s after disconnect")
        if app.isConnected():
            raise StepFailed("step 'disconnect' failed: client still reports a connection")
        observed["disconnected"] = True
    except StepFailed as e:
        print(f"official_client: {e}", file=sys.stderr)
        print(f"official_client: observed so far: {json.dumps(observed, default=str)}", file=sys.stderr)
        with app.cond:
            print(f"official_client: error callbacks: {app.errors}", file=sys.stderr)
            print(f"official_client: order events: {app.order_events}", file=sys.stderr)
        try:
            app.disconnect()
        except Exception:  # noqa: BLE001 (already failing; the message above is what matters)
            pass
        sys.stderr.flush()
        os._exit(1)

    print(json.dumps(observed, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
