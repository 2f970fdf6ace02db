#!/usr/bin/env python3
"""One engine session through the supervisor's guarded port, as a trading engine would run it:
connect with the library's usual call, place one BUY 1 AAPL market order, and report what the
library made of it. Run by tests/proxy_python.rs (against the simulator behind the port):

    python proxy_engine.py --lib official|ib_async --port 4102 --client-id 70

Prints one JSON line: lib, server_version, order_id, status (the library's final order status:
"Filled", or "Cancelled" as ib_async marks a rejected order), errors ([id, code, message] as
the library's error callback received them), log (ib_async's trade log messages). Exits 1 with
a message when the connection or the order times out.
"""

import argparse
import json
import sys
import threading
import time


def official(port, client_id, timeout):
    from ibapi.client import EClient
    from ibapi.contract import Contract
    from ibapi.order import Order
    from ibapi.wrapper import EWrapper

    class App(EWrapper, EClient):
        def __init__(self):
            EWrapper.__init__(self)
            EClient.__init__(self, self)
            self.next_id = None
            self.errors = []
            self.status = None
            self.done = threading.Event()
            self.ready = threading.Event()

        def nextValidId(self, orderId):
            self.next_id = orderId
            self.ready.set()

        def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):
            self.errors.append([reqId, errorCode, errorString])
            if errorCode == 201:
                self.done.set()

        def orderStatus(self, orderId, status, *rest):
            self.status = status
            if status == "Filled":
                self.done.set()

    app = App()
    app.connect("127.0.0.1", port, client_id)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    if not app.ready.wait(timeout):
        sys.exit(f"proxy_engine: no nextValidId within {timeout}s; errors {app.errors}")
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = "AAPL", "STK", "SMART", "USD"
    order = Order()
    order.action, order.orderType, order.totalQuantity = "BUY", "MKT", 1
    order_id = app.next_id
    app.placeOrder(order_id, contract, order)
    if not app.done.wait(timeout):
        sys.exit(f"proxy_engine: order {order_id} neither filled nor refused within {timeout}s; errors {app.errors}")
    version = app.serverVersion()
    app.disconnect()
    thread.join(timeout)
    return {"server_version": version, "order_id": order_id, "status": app.status, "errors": app.errors, "log": []}


def ib_async(port, client_id, timeout):
    import ib_async as ib_mod

    ib = ib_mod.IB()
    errors = []
    ib.errorEvent += lambda reqId, code, msg, contract: errors.append([reqId, code, msg])
    ib.connect("127.0.0.1", port, clientId=client_id, timeout=timeout)
    contract = ib_mod.Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    trade = ib.placeOrder(contract, ib_mod.MarketOrder("BUY", 1))
    deadline = time.time() + timeout
    while not trade.isDone() and time.time() < deadline:
        ib.sleep(0.02)
    if not trade.isDone():
        sys.exit(f"proxy_engine: order {trade.order.orderId} not done within {timeout}s: {trade.orderStatus.status}")
    result = {
        "server_version": ib.client.serverVersion(),
        "order_id": trade.order.orderId,
        "status": trade.orderStatus.status,
        "errors": errors,
        "log": [[e.status, e.errorCode, e.message] for e in trade.log],
    }
    ib.disconnect()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=["official", "ib_async"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    run = official if args.lib == "official" else ib_async
    result = run(args.port, args.client_id, args.timeout)
    result["lib"] = args.lib
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
