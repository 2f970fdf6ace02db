#!/usr/bin/env python3
"""Every request the simulator serves, through IB's official client, at many server versions.

Run by tests/official_python_client.rs:

    python official_coverage.py --port 4002 --account DU1234567 --versions 157,176,200,226

For each version N the client announces v100..N (its MAX_CLIENT_VER patched), connects with
client id N, and makes every request the simulator answers — contract details, matching symbols,
market data with generic ticks and a snapshot, historical bars (plain and keep-up-to-date), head
timestamp, real-time bars, tick-by-tick, positions, account updates, account summary, PnL, PnL
single, positions multi, account updates multi, a market order to its fill, a what-if order, a
resting limit order cancelled, open / all open / completed orders, executions, user info,
current time, ids — and waits for each answer. IB's text decoder is made strict (a message
with fields left over, or one it cannot read, is a failure), so every text layout the simulator
writes at every one of those versions is checked field by field by IB's own reader.

Prints one JSON line {version: {"ok": bool, "problems": [...], "seen": [...]}} and exits 0
if every version is ok, 1 otherwise.
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
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.wrapper import EWrapper

PROBLEMS = []


def strict_decoding():
    original = ibapi_decoder.Decoder.interpret

    def interpret(self, fields, msgId):
        handleInfo = self.msgId2handleInfo.get(msgId, None)
        if handleInfo is None or handleInfo.processMeth is None:
            return original(self, fields, msgId)
        it = iter(fields)
        try:
            handleInfo.processMeth(self, it)
        except Exception as e:  # noqa: BLE001 (recorded: it fails the version)
            PROBLEMS.append(f"msgId {msgId}: {type(e).__name__} {getattr(e, 'text', e)} in {list(fields)[:40]}")
            return
        rest = list(it)
        if rest:
            PROBLEMS.append(f"msgId {msgId}: {len(rest)} fields left over: {rest[:10]} of {list(fields)[:40]}")

    ibapi_decoder.Decoder.interpret = interpret

    class Problems(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                PROBLEMS.append(record.getMessage()[:400])

    logging.getLogger("ibapi.decoder").addHandler(Problems())


class App(EWrapper, EClient):
    """Records which callbacks fired (by name, with the request id where there is one)."""

    def __init__(self):
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.cond = threading.Condition()
        self.seen = set()
        self.errors = []
        self.next_id = None
        self.con_id = None
        self.statuses = {}

    def mark(self, *key):
        with self.cond:
            self.seen.add(key)
            self.cond.notify_all()

    def wait(self, key, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while key not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def nextValidId(self, orderId):
        self.next_id = orderId
        self.mark("nextValidId")

    def managedAccounts(self, accountsList):
        self.mark("managedAccounts")

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):
        with self.cond:
            self.errors.append((reqId, errorCode, errorString))
        self.mark("error", reqId, errorCode)

    def currentTime(self, time):  # noqa: A002
        self.mark("currentTime")

    def currentTimeInMillis(self, timeInMillis):
        self.mark("currentTimeInMillis")

    def contractDetails(self, reqId, contractDetails):
        self.con_id = contractDetails.contract.conId
        self.mark("contractDetails", reqId)

    def contractDetailsEnd(self, reqId):
        self.mark("contractDetailsEnd", reqId)

    def symbolSamples(self, reqId, contractDescriptions):
        self.mark("symbolSamples", reqId)

    def tickPrice(self, reqId, tickType, price, attrib):
        self.mark("tickPrice", reqId)

    def tickSize(self, reqId, tickType, size):
        self.mark("tickSize", reqId)

    def tickString(self, reqId, tickType, value):
        self.mark("tickString", reqId, tickType)

    def tickGeneric(self, reqId, tickType, value):
        self.mark("tickGeneric", reqId, tickType)

    def tickSnapshotEnd(self, reqId):
        self.mark("tickSnapshotEnd", reqId)

    def tickReqParams(self, tickerId, minTick, bboExchange, snapshotPermissions):
        self.mark("tickReqParams", tickerId)

    def marketDataType(self, reqId, marketDataType):
        self.mark("marketDataType", reqId)

    def historicalData(self, reqId, bar):
        self.mark("historicalData", reqId)

    def historicalDataEnd(self, reqId, start, end):
        self.mark("historicalDataEnd", reqId)

    def historicalDataUpdate(self, reqId, bar):
        self.mark("historicalDataUpdate", reqId)

    def headTimestamp(self, reqId, headTimestamp):
        self.mark("headTimestamp", reqId)

    def realtimeBar(self, reqId, time, open_, high, low, close, volume, wap, count):  # noqa: A002
        self.mark("realtimeBar", reqId)

    def tickByTickAllLast(self, reqId, tickType, time, price, size, tickAttribLast, exchange, specialConditions):  # noqa: A002
        self.mark("tickByTickAllLast", reqId)

    def tickByTickBidAsk(self, reqId, time, bidPrice, askPrice, bidSize, askSize, tickAttribBidAsk):  # noqa: A002
        self.mark("tickByTickBidAsk", reqId)

    def position(self, account, contract, position, avgCost):
        self.mark("position")

    def positionEnd(self):
        self.mark("positionEnd")

    def updateAccountValue(self, key, val, currency, accountName):
        self.mark("updateAccountValue")

    def updatePortfolio(self, contract, position, marketPrice, marketValue, averageCost, unrealizedPNL,
                        realizedPNL, accountName):
        self.mark("updatePortfolio")

    def updateAccountTime(self, timeStamp):
        self.mark("updateAccountTime")

    def accountDownloadEnd(self, accountName):
        self.mark("accountDownloadEnd")

    def accountSummary(self, reqId, account, tag, value, currency):
        self.mark("accountSummary", reqId)

    def accountSummaryEnd(self, reqId):
        self.mark("accountSummaryEnd", reqId)

    def pnl(self, reqId, dailyPnL, unrealizedPnL, realizedPnL):
        self.mark("pnl", reqId)

    def pnlSingle(self, reqId, pos, dailyPnL, unrealizedPnL, realizedPnL, value):
        self.mark("pnlSingle", reqId)

    def positionMulti(self, reqId, account, modelCode, contract, pos, avgCost):
        self.mark("positionMulti", reqId)

    def positionMultiEnd(self, reqId):
        self.mark("positionMultiEnd", reqId)

    def accountUpdateMulti(self, reqId, account, modelCode, key, value, currency):
        self.mark("accountUpdateMulti", reqId)

    def accountUpdateMultiEnd(self, reqId):
        self.mark("accountUpdateMultiEnd", reqId)

    def openOrder(self, orderId, contract, order, orderState):
        self.mark("openOrder", orderId)
        if order.whatIf:
            self.mark("whatIf", orderId)

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, parentId, lastFillPrice,
                    clientId, whyHeld, mktCapPrice):
        self.mark("orderStatus", orderId, status)

    def openOrderEnd(self):
        self.mark("openOrderEnd")

    def completedOrder(self, contract, order, orderState):
        self.mark("completedOrder")

    def completedOrdersEnd(self):
        self.mark("completedOrdersEnd")

    def execDetails(self, reqId, contract, execution):
        self.mark("execDetails", reqId)

    def execDetailsEnd(self, reqId):
        self.mark("execDetailsEnd", reqId)

    def commissionAndFeesReport(self, commissionAndFeesReport):
        self.mark("commissionReport")

    def userInfo(self, reqId, whiteBrandingId):
        self.mark("userInfo", reqId)

    def orderBound(self, permId, clientId, orderId):
        self.mark("orderBound")


def stock(symbol):
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency = symbol, "STK", "SMART", "USD"
    return c


def order(action, quantity, order_type, limit=None, what_if=False):
    o = Order()
    o.action, o.totalQuantity, o.orderType = action, quantity, order_type
    if limit is not None:
        o.lmtPrice = limit
    o.tif, o.transmit, o.whatIf = "DAY", True, what_if
    return o


def run_version(args, version):
    """Every request at `version`; returns (problems, seen)."""
    ibapi.client.MAX_CLIENT_VER = version
    PROBLEMS.clear()
    app = App()
    problems = []
    t = args.step_timeout
    app.connect(args.host, args.port, version)
    if not app.isConnected() or app.serverVersion() != version:
        return [f"connected at {app.serverVersion()}, expected {version}"], []
    loop = threading.Thread(target=app.run, daemon=True)
    loop.start()

    def expect(key, what=None):
        if not app.wait(key, t):
            problems.append(f"no {what or key} within {t:g} s")

    try:
        expect(("nextValidId",))
        expect(("managedAccounts",))
        aapl = stock("AAPL")
        app.reqContractDetails(1, aapl)
        expect(("contractDetailsEnd", 1))
        aapl.conId = app.con_id or 0
        app.reqMatchingSymbols(2, "AA")
        expect(("symbolSamples", 2))
        app.reqMktData(3, aapl, "233,236,165", False, False, [])
        expect(("tickPrice", 3))
        expect(("tickString", 3, 48), "RT volume (233)")
        expect(("tickGeneric", 3, 46), "shortable (236)")
        app.cancelMktData(3)
        app.reqMktData(4, aapl, "", True, False, [])
        expect(("tickSnapshotEnd", 4))
        app.reqHistoricalData(5, aapl, "", "1 D", "1 hour", "TRADES", 1, 1, False, [])
        expect(("historicalDataEnd", 5))
        app.reqHistoricalData(6, aapl, "", "1800 S", "5 secs", "TRADES", 0, 2, True, [])
        expect(("historicalDataEnd", 6), "keepUpToDate bars")
        app.cancelHistoricalData(6)
        app.reqHeadTimeStamp(7, aapl, "TRADES", 1, 1)
        expect(("headTimestamp", 7))
        app.reqRealTimeBars(8, aapl, 5, "MIDPOINT", False, [])
        app.reqTickByTickData(9, aapl, "BidAsk", 0, False)
        expect(("tickByTickBidAsk", 9))
        app.cancelTickByTickData(9)
        app.cancelRealTimeBars(8)

        # Orders: a fill (execution, commission), a what-if, a resting limit cancelled.
        oid = app.next_id
        app.placeOrder(oid, aapl, order("BUY", 10, "MKT"))
        expect(("orderStatus", oid, "Filled"))
        expect(("execDetails", -1), "execDetails of the fill")
        expect(("commissionReport",))
        app.placeOrder(oid + 1, aapl, order("BUY", 10, "MKT", what_if=True))
        expect(("whatIf", oid + 1), "the what-if openOrder")
        app.placeOrder(oid + 2, aapl, order("BUY", 10, "LMT", limit=1.0))
        expect(("orderStatus", oid + 2, "Submitted"))
        app.reqOpenOrders()
        expect(("openOrderEnd",))
        app.cancelOrder(oid + 2, OrderCancel())
        expect(("orderStatus", oid + 2, "Cancelled"))
        app.reqAllOpenOrders()
        app.reqCompletedOrders(False)
        expect(("completedOrdersEnd",))
        app.reqExecutions(15, ExecutionFilter())
        expect(("execDetailsEnd", 15))

        # Accounts.
        app.reqPositions()
        expect(("positionEnd",))
        app.reqAccountUpdates(True, args.account)
        expect(("accountDownloadEnd",))
        expect(("updatePortfolio",))
        app.reqAccountUpdates(False, args.account)
        app.reqAccountSummary(10, "All", "NetLiquidation,TotalCashValue,BuyingPower")
        expect(("accountSummaryEnd", 10))
        app.cancelAccountSummary(10)
        app.reqPnL(11, args.account, "")
        expect(("pnl", 11))
        app.reqPnLSingle(12, args.account, "", aapl.conId)
        expect(("pnlSingle", 12))
        app.cancelPnL(11)
        app.cancelPnLSingle(12)
        app.reqPositionsMulti(13, args.account, "")
        expect(("positionMultiEnd", 13))
        app.reqAccountUpdatesMulti(14, args.account, "", False)
        expect(("accountUpdateMultiEnd", 14))
        app.cancelPositionsMulti(13)
        app.cancelAccountUpdatesMulti(14)

        # Session.
        if version >= 167:
            app.reqUserInfo(16)
            expect(("userInfo", 16))
        app.reqCurrentTime()
        expect(("currentTime",))
        if version >= 197:
            app.reqCurrentTimeInMillis()
            expect(("currentTimeInMillis",))

        # Not served: 321 on its own request id.
        app.reqMktDepth(17, aapl, 5, False, [])
        expect(("error", 17, 321), "321 for reqMktDepth")
    finally:
        app.disconnect()
        loop.join(t)
    allowed = {2104, 2106, 2158, 202, 321}
    problems += [f"error {e}" for e in app.errors if e[1] not in allowed]
    problems += list(PROBLEMS)
    return problems, sorted("/".join(map(str, k)) for k in app.seen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--versions", required=True, help="comma-separated maximum versions to announce")
    parser.add_argument("--step-timeout", type=float, default=10.0)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.debug else logging.WARNING)
    strict_decoding()

    def watchdog():
        time.sleep(600)
        print("official_coverage: watchdog fired", file=sys.stderr, flush=True)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    results = {}
    for version in [int(v) for v in args.versions.split(",")]:
        problems, seen = run_version(args, version)
        results[version] = {"ok": not problems, "problems": problems, "seen": len(seen)}
        if problems:
            print(f"official_coverage: v{version}: {problems}", file=sys.stderr, flush=True)
    print(json.dumps(results, sort_keys=True), flush=True)
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
