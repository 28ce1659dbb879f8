"""ZaloPay v2 simulator: create, pay page, key2 callback, query and refund, with its own MAC code."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from werkzeug.wrappers import Request, Response

from .base import SimCallback, Simulator, flip_hex

CREATE, QUERY, REFUND = "/v2/create", "/v2/query", "/v2/refund"


def _mac(key: str, *values: object) -> str:
    return hmac.new(key.encode(), "|".join(str(v) for v in values).encode(), hashlib.sha256).hexdigest()


@dataclass
class ZlpOrder:
    app_trans_id: str
    app_user: str
    amount: int
    app_time: int
    embed_data: str
    item: str
    paid: bool = False
    zp_trans_id: int = 0
    refunded: int = 0


class ZalopaySimulator(Simulator):
    """The provider side of ZaloPay, for one app."""

    def __init__(
        self, app_id: str = "2553", key1: str = "SIMKEY1ZALOPAY", key2: str = "SIMKEY2ZALOPAY"
    ) -> None:
        super().__init__()
        self.app_id, self.key1, self.key2 = app_id, key1, key2
        self.orders: dict[str, ZlpOrder] = {}
        self._zp_ids = itertools.count(200904000000389)

    def settings(self) -> dict[str, object]:
        """Adapter settings pointing at this simulator."""
        return {
            "app_id": self.app_id,
            "key1": self.key1,
            "key2": self.key2,
            "base_url": self.url,
            "connect_timeout": 1.0,
            "read_timeout": 1.5,
        }

    def is_api(self, path: str) -> bool:
        return path.startswith("/v2/")

    def routes(self):
        routes = {
            ("POST", CREATE): self._create,
            ("POST", QUERY): self._query,
            ("POST", REFUND): self._refund,
        }
        routes.update({("GET", f"/pay/{trans_id}"): self._pay_page for trans_id in self.orders})
        return routes

    def _json(self, payload: dict[str, object]) -> Response:
        return Response(json.dumps(payload), content_type="application/json")

    def order_for(self, reference: str) -> ZlpOrder:
        """The order whose app_trans_id carries our ``reference``."""
        return next(o for o in self.orders.values() if o.app_trans_id.endswith("_" + reference))

    def _create(self, request: Request) -> Response:
        form = request.form
        expected = _mac(
            self.key1,
            form.get("app_id"),
            form.get("app_trans_id"),
            form.get("app_user"),
            form.get("amount"),
            form.get("app_time"),
            form.get("embed_data"),
            form.get("item"),
        )
        if form.get("app_id") != self.app_id or not hmac.compare_digest(expected, form.get("mac", "")):
            return self._json({"return_code": 2, "return_message": "FAIL", "sub_return_code": -402})
        today = datetime.now(timezone(timedelta(hours=7))).strftime("%y%m%d")
        if not form["app_trans_id"].startswith(today + "_"):
            return self._json({"return_code": 2, "return_message": "FAIL", "sub_return_code": -92})
        json.loads(form["embed_data"]), json.loads(form["item"])  # must be JSON strings
        order = ZlpOrder(
            form["app_trans_id"],
            form["app_user"],
            int(form["amount"]),
            int(form["app_time"]),
            form["embed_data"],
            form["item"],
        )
        self.orders[order.app_trans_id] = order
        return self._json(
            {
                "return_code": 1,
                "return_message": "Giao dịch thành công",
                "sub_return_code": 1,
                "order_url": f"{self.url}/pay/{order.app_trans_id}",
                "zp_trans_token": "AC" + order.app_trans_id,
            }
        )

    def _pay_page(self, request: Request) -> Response:
        return Response("<html><body>ZaloPay gateway</body></html>", content_type="text/html")

    def pay(self, reference: str) -> list[SimCallback]:
        """The customer pays; return the callback(s). ZaloPay calls back only on success."""
        order = self.order_for(reference)
        order.paid = True
        order.zp_trans_id = next(self._zp_ids)
        data = json.dumps(
            {
                "app_id": int(self.app_id),
                "app_trans_id": order.app_trans_id,
                "app_time": order.app_time,
                "app_user": order.app_user,
                "amount": order.amount + (1000 if self.faults.wrong_amount else 0),
                "embed_data": order.embed_data,
                "item": order.item,
                "zp_trans_id": order.zp_trans_id,
                "server_time": int(time.time() * 1000),
                "channel": 38,
                "merchant_user_id": "sim-user",
                "user_fee_amount": 0,
                "discount_amount": 0,
            },
            separators=(",", ":"),
        )
        mac = _mac(self.key2, data)
        body = {"data": data, "mac": flip_hex(mac) if self.faults.wrong_signature else mac, "type": 1}
        callback = SimCallback(
            method="POST", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        return self.emit(callback)  # no earlier statement exists to arrive out of order

    def _query(self, request: Request) -> Response:
        form = request.form
        if not hmac.compare_digest(
            _mac(self.key1, form.get("app_id"), form.get("app_trans_id"), self.key1), form.get("mac", "")
        ):
            return self._json({"return_code": 2, "return_message": "mac invalid", "sub_return_code": -402})
        order = self.orders.get(form["app_trans_id"])
        if order is None:
            return self._json({"return_code": 2, "return_message": "order not found", "sub_return_code": -49})
        if not order.paid:
            return self._json(
                {"return_code": 3, "return_message": "processing", "is_processing": True, "amount": 0}
            )
        return self._json(
            {
                "return_code": 1,
                "return_message": "success",
                "is_processing": False,
                "amount": order.amount + (1000 if self.faults.wrong_amount else 0),
                "zp_trans_id": order.zp_trans_id,
                "server_time": int(time.time() * 1000),
                "discount_amount": 0,
            }
        )

    def _refund(self, request: Request) -> Response:
        form = request.form
        expected = _mac(
            self.key1,
            form.get("app_id"),
            form.get("zp_trans_id"),
            form.get("amount"),
            form.get("description"),
            form.get("timestamp"),
        )
        if not hmac.compare_digest(expected, form.get("mac", "")):
            return self._json({"return_code": 2, "return_message": "mac invalid"})
        order = next((o for o in self.orders.values() if str(o.zp_trans_id) == form.get("zp_trans_id")), None)
        amount = int(form["amount"])
        if order is None or not order.paid or amount <= 0 or order.refunded + amount > order.amount:
            return self._json(
                {"return_code": 2, "return_message": "refund amount invalid", "sub_return_code": -101}
            )
        order.refunded += amount
        return self._json({"return_code": 1, "return_message": "success", "refund_id": next(self._zp_ids)})
