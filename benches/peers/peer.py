#!/usr/bin/env python3
"""One Python TWS engine "alone", as benches/peers.rs runs it: no watchdog, no reconnect of its
own beyond what the library does, exactly as an engine written on the library's documented API.

    python peer.py --lib ib_async|official --host 127.0.0.1 --port 4002 --client-id 31 --every 0.1

Every --every seconds, while the library says it is connected (`ib.isConnected()` /
`EClient.isConnected()`, the reliability plan's check), it places a BUY 1 AAPL LMT 1.00 (far
below the market, so it rests). It prints one JSON object per line on stdout, times in seconds
since the epoch (the bench runs on the same machine and compares them with its own clock):

    {"e": "ready"}                           connected, contract known
    {"e": "down", "t": T}                    the library reported the connection lost
                                             (ib_async disconnectedEvent, official connectionClosed)
    {"e": "ack", "placed": P, "t": T}        an order placed at P was acknowledged (openOrder /
                                             orderStatus Submitted or PreSubmitted) at T
    {"e": "fatal", "why": "..."}             could not start

It runs until killed.
"""

import argparse
import asyncio
import json
import sys
import threading
import time

ACK_STATUSES = ("PreSubmitted", "Submitted", "Filled")
LOCK = threading.Lock()


def emit(event, **fields):
    with LOCK:
        sys.stdout.write(json.dumps({"e": event, **fields}) + "\n")
        sys.stdout.flush()


async def run_ib_async(args):
    from ib_async import IB, LimitOrder, Stock

    ib = IB()
    try:
        await ib.connectAsync(args.host, args.port, clientId=args.client_id, timeout=10)
        contract = Stock("AAPL", "SMART", "USD")
        await ib.qualifyContractsAsync(contract)
    except Exception as e:  # noqa: BLE001 - reported, then the bench marks this peer not started
        emit("fatal", why=f"{type(e).__name__}: {e}")
        return
    ib.disconnectedEvent += lambda: emit("down", t=time.time())
    emit("ready")
    while True:
        await asyncio.sleep(args.every)
        if not ib.isConnected():
            continue
        placed = time.time()
        trade = ib.placeOrder(contract, LimitOrder("BUY", 1, 1.0))
        done = [False]

        def on_status(trade, placed=placed, done=done):
            if not done[0] and trade.orderStatus.status in ACK_STATUSES:
                done[0] = True
                emit("ack", placed=placed, t=time.time())

        trade.statusEvent += on_status


def run_official(args):
    from ibapi.client import EClient
    from ibapi.contract import Contract
    from ibapi.order import Order
    from ibapi.wrapper import EWrapper

    class App(EWrapper, EClient):
        def __init__(self):
            EWrapper.__init__(self)
            EClient.__init__(self, self)
            self.next_id = None
            self.ready = threading.Event()
            self.pending = {}

        def nextValidId(self, orderId):
            self.next_id = orderId
            self.ready.set()

        def error(self, reqId, *rest):
            pass

        def _ack(self, order_id, status):
            if status in ACK_STATUSES:
                with LOCK:
                    placed = self.pending.pop(order_id, None)
                if placed is not None:
                    emit("ack", placed=placed, t=time.time())

        def openOrder(self, orderId, contract, order, orderState):
            self._ack(orderId, orderState.status)

        def orderStatus(self, orderId, status, *rest):
            self._ack(orderId, status)

        def connectionClosed(self):
            emit("down", t=time.time())

    app = App()
    app.connect(args.host, args.port, args.client_id)
    if not app.isConnected():
        emit("fatal", why=f"not connected to {args.host}:{args.port}")
        return
    threading.Thread(target=app.run, name="ibapi-run", daemon=True).start()
    if not app.ready.wait(10):
        emit("fatal", why="no nextValidId within 10 s")
        return
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = "AAPL", "STK", "SMART", "USD"
    emit("ready")
    while True:
        time.sleep(args.every)
        if not app.isConnected():
            continue
        order = Order()
        order.action, order.totalQuantity, order.orderType, order.lmtPrice = "BUY", 1, "LMT", 1.0
        order.tif = "DAY"
        order_id = app.next_id
        app.next_id += 1
        with LOCK:
            app.pending[order_id] = time.time()
        try:
            app.placeOrder(order_id, contract, order)
        except Exception:  # noqa: BLE001 - a send into a closing socket; the peer keeps going
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=("ib_async", "official"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, required=True)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    if args.lib == "ib_async":
        asyncio.run(run_ib_async(args))
    else:
        run_official(args)


if __name__ == "__main__":
    main()
