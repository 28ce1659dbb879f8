"""MoMo AIO v2 simulator: create, pay page, IPN, query and refund, with its own signing code."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from .base import SimCallback, Simulator, flip_hex

CREATE, QUERY, REFUND = "/v2/gateway/api/create", "/v2/gateway/api/query", "/v2/gateway/api/refund"
_ORDERS = {
    "create": "accessKey amount extraData ipnUrl orderId orderInfo partnerCode redirectUrl requestId "
    "requestType",
    "ipn": "accessKey amount extraData message orderId orderInfo orderType partnerCode payType requestId "
    "responseTime resultCode transId",
    "query": "accessKey orderId partnerCode requestId",
    "refund": "accessKey amount description orderId partnerCode requestId transId",
}


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass
class MomoOrder:
    order_id: str
    request_id: str
    amount: int
    order_info: str
    extra_data: str
    result_code: int = 1000
    trans_id: int = 0
    refunded: int = 0


class MomoSimulator(Simulator):
    """The provider side of MoMo, for one partner."""

    def __init__(
        self, partner_code: str = "MOMOSIM1", access_key: str = "SIMACCESS", secret_key: str = "SIMSECRET"
    ) -> None:  # noqa: E501
        super().__init__()
        self.partner_code, self.access_key, self.secret_key = partner_code, access_key, secret_key
        self.orders: dict[str, MomoOrder] = {}
        self._trans_ids = itertools.count(4088878653)

    def sign(self, kind: str, values: dict[str, object]) -> str:
        """MoMo's signature: HMAC-SHA256 over ``name=value`` pairs in the documented order."""
        merged = {**values, "accessKey": self.access_key}
        raw = "&".join(f"{name}={_text(merged.get(name))}" for name in _ORDERS[kind].split())
        return hmac.new(self.secret_key.encode(), raw.encode(), hashlib.sha256).hexdigest()

    def settings(self) -> dict[str, object]:
        """Adapter settings pointing at this simulator."""
        return {
            "partner_code": self.partner_code,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "base_url": self.url,
            "connect_timeout": 1.0,
            "read_timeout": 1.5,
        }

    def is_api(self, path: str) -> bool:
        return path.startswith("/v2/gateway/api/")

    def routes(self):
        routes = {
            ("POST", CREATE): self._create,
            ("POST", QUERY): self._query,
            ("POST", REFUND): self._refund,
        }
        routes.update({("GET", f"/pay/{order_id}"): self._pay_page for order_id in self.orders})
        return routes

    def _json(self, payload: dict[str, object]) -> Response:
        return Response(json.dumps(payload), content_type="application/json")

    def _checked(self, request: Request, kind: str) -> tuple[dict, Response | None]:
        body = request.get_json()
        if body.get("partnerCode") != self.partner_code or not hmac.compare_digest(
            self.sign(kind, body), str(body.get("signature", ""))
        ):
            return body, self._json({"resultCode": 13, "message": "Merchant authentication failed"})
        return body, None

    def _create(self, request: Request) -> Response:
        body, refused = self._checked(request, "create")
        if refused:
            return refused
        if body.get("requestType") not in ("captureWallet", "payWithMethod"):
            return self._json({"resultCode": 20, "message": "Bad format"})
        if not 1000 <= int(body["amount"]) <= 50_000_000:
            return self._json({"resultCode": 22, "message": "Amount out of range"})
        if body["orderId"] in self.orders:
            return self._json({"resultCode": 41, "message": "Duplicated orderId"})
        order = MomoOrder(
            body["orderId"], body["requestId"], int(body["amount"]), body["orderInfo"], body["extraData"]
        )
        self.orders[order.order_id] = order
        return self._json(
            {
                "partnerCode": self.partner_code,
                "requestId": order.request_id,
                "orderId": order.order_id,
                "amount": order.amount,
                "responseTime": int(time.time() * 1000),
                "message": "Successful.",
                "resultCode": 0,
                "payUrl": f"{self.url}/pay/{order.order_id}",
            }
        )

    def _pay_page(self, request: Request) -> Response:
        return Response("<html><body>MoMo: scan to pay</body></html>", content_type="text/html")

    def pay(self, order_id: str, result_code: int = 0) -> list[SimCallback]:
        """The customer confirms in the MoMo app; return the IPN(s) MoMo then sends."""
        order = self.orders[order_id]
        order.result_code = result_code
        order.trans_id = next(self._trans_ids)
        return self.emit(self._ipn(order, result_code), self._ipn(order, 1000))

    def _payment_fields(self, order: MomoOrder, result_code: int) -> dict[str, object]:
        return {
            "partnerCode": self.partner_code,
            "orderId": order.order_id,
            "requestId": order.request_id,
            "amount": order.amount + (1000 if self.faults.wrong_amount else 0),
            "orderInfo": order.order_info,
            "orderType": "momo_wallet",
            "transId": order.trans_id,
            "resultCode": result_code,
            "message": "Successful." if result_code == 0 else "Processing",
            "payType": "qr",
            "responseTime": int(time.time() * 1000),
            "extraData": order.extra_data,
        }

    def _ipn(self, order: MomoOrder, result_code: int) -> SimCallback:
        values = self._payment_fields(order, result_code)
        signature = self.sign("ipn", values)
        values["signature"] = flip_hex(signature) if self.faults.wrong_signature else signature
        return SimCallback(
            method="POST", body=json.dumps(values).encode(), headers={"Content-Type": "application/json"}
        )

    def _query(self, request: Request) -> Response:
        body, refused = self._checked(request, "query")
        if refused:
            return refused
        order = self.orders.get(body.get("orderId", ""))
        if order is None:
            return self._json(
                {"resultCode": 42, "message": "Invalid orderId", "orderId": body.get("orderId")}
            )
        answer = self._payment_fields(order, order.result_code)
        answer["refundTrans"] = []
        return self._json(answer)

    def _refund(self, request: Request) -> Response:
        body, refused = self._checked(request, "refund")
        if refused:
            return refused
        order = next((o for o in self.orders.values() if o.trans_id == body.get("transId")), None)
        if order is None or order.result_code != 0:
            return self._json({"resultCode": 1088, "message": "Not refundable"})
        amount = int(body["amount"])
        if amount < 1000 or order.refunded + amount > order.amount:
            return self._json({"resultCode": 1081, "message": "Over the refundable amount"})
        order.refunded += amount
        return self._json(
            {
                "partnerCode": self.partner_code,
                "orderId": body["orderId"],
                "requestId": body["requestId"],
                "amount": amount,
                "transId": next(self._trans_ids),
                "resultCode": 0,
                "message": "Successful.",
            }
        )
