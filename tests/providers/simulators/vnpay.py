"""VNPay 2.1.0 simulator: payment page, IPN, querydr and refund, with its own signing code."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .base import SimCallback, Simulator, flip_hex

PAY_PATH = "/paymentv2/vpcpay.html"
API_PATH = "/merchant_webapi/api/transaction"
_GMT7 = timezone(timedelta(hours=7))
_REQUIRED = (
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_Amount",
    "vnp_CreateDate",
    "vnp_CurrCode",
    "vnp_IpAddr",
    "vnp_Locale",
    "vnp_OrderInfo",
    "vnp_OrderType",
    "vnp_ReturnUrl",
    "vnp_TxnRef",
    "vnp_ExpireDate",
)


def _urlencode_like_php(text: str) -> str:
    # Written byte by byte from PHP's documented rule, independently of urllib.
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if byte < 128 and (char.isalnum() or char in "._-"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _hmac512(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def query_hash(secret: str, params: dict[str, str]) -> str:
    """VNPay's vnp_SecureHash over sorted, PHP-encoded vnp_* pairs."""
    keys = sorted(
        k for k in params if k.startswith("vnp_") and k not in ("vnp_SecureHash", "vnp_SecureHashType")
    )
    data = "&".join(f"{_urlencode_like_php(k)}={_urlencode_like_php(params[k])}" for k in keys if params[k])
    return _hmac512(secret, data)


def pipe_hash(secret: str, body: dict[str, str], fields: str) -> str:
    """The querydr/refund checksum over ``fields`` (space-separated names) joined by ``|``."""
    return _hmac512(secret, "|".join(str(body.get(name, "")) for name in fields.split()))


QUERYDR_IN = "vnp_RequestId vnp_Version vnp_Command vnp_TmnCode vnp_TxnRef vnp_TransactionDate vnp_CreateDate vnp_IpAddr vnp_OrderInfo"  # noqa: E501
REFUND_IN = "vnp_RequestId vnp_Version vnp_Command vnp_TmnCode vnp_TransactionType vnp_TxnRef vnp_Amount vnp_TransactionNo vnp_TransactionDate vnp_CreateBy vnp_CreateDate vnp_IpAddr vnp_OrderInfo"  # noqa: E501
RESPONSE_OUT = "vnp_ResponseId vnp_Command vnp_ResponseCode vnp_Message vnp_TmnCode vnp_TxnRef vnp_Amount vnp_BankCode vnp_PayDate vnp_TransactionNo vnp_TransactionType vnp_TransactionStatus vnp_OrderInfo"  # noqa: E501
QUERYDR_OUT = RESPONSE_OUT + " vnp_PromotionCode vnp_PromotionAmount"


@dataclass
class VnpOrder:
    reference: str
    amount: int  # VND
    create_date: str
    order_info: str
    response_code: str = ""
    transaction_status: str = "01"
    transaction_no: str = ""
    pay_date: str = ""
    refunded: int = 0
    refunds: list[tuple[str, int]] = field(default_factory=list)
    return_url: str = ""


class VnpaySimulator(Simulator):
    """The provider side of VNPay, for one terminal."""

    def __init__(self, tmn_code: str = "FEEGATE1", secret: str = "SIMSECRETVNPAY0123456789") -> None:
        super().__init__()
        self.tmn_code = tmn_code
        self.secret = secret
        self.orders: dict[str, VnpOrder] = {}
        self.rejected_pages: list[str] = []
        self._numbers = itertools.count(14422574)

    def settings(self) -> dict[str, object]:
        """Adapter settings pointing at this simulator."""
        return {
            "tmn_code": self.tmn_code,
            "hash_secret": self.secret,
            "pay_url": self.url + PAY_PATH,
            "api_url": self.url + API_PATH,
            "connect_timeout": 1.0,
            "read_timeout": 1.5,
        }

    def is_api(self, path: str) -> bool:
        return path == API_PATH

    def routes(self):
        return {("GET", PAY_PATH): self._pay_page, ("POST", API_PATH): self._api}

    def _pay_page(self, request: Request) -> Response:
        params = request.args.to_dict()
        problem = self._check_pay_params(params)
        if problem:
            self.rejected_pages.append(problem)
            return Response(f"Giao dich that bai: {problem}", status=400)
        self.orders[params["vnp_TxnRef"]] = VnpOrder(
            reference=params["vnp_TxnRef"],
            amount=int(params["vnp_Amount"]) // 100,
            create_date=params["vnp_CreateDate"],
            order_info=params["vnp_OrderInfo"],
            return_url=params["vnp_ReturnUrl"],
        )
        return Response("<html><body>VNPay sandbox: choose a bank</body></html>", content_type="text/html")

    def _check_pay_params(self, params: dict[str, str]) -> str:
        if not hmac.compare_digest(query_hash(self.secret, params), params.get("vnp_SecureHash", "")):
            return "70 invalid signature"
        missing = [name for name in _REQUIRED if not params.get(name)]
        if missing:
            return f"03 missing {missing}"
        if params["vnp_TmnCode"] != self.tmn_code or params["vnp_Version"] != "2.1.0":
            return "02 invalid terminal or version"
        if "vnp_SecureHashType" in params or int(params["vnp_Amount"]) % 100:
            return "03 bad format"
        created = datetime.strptime(params["vnp_CreateDate"], "%Y%m%d%H%M%S")
        if datetime.strptime(params["vnp_ExpireDate"], "%Y%m%d%H%M%S") <= created:
            return "03 expire date before create date"
        return ""

    # -- the payer and the IPN -------------------------------------------------------------

    def pay(self, reference: str, response_code: str = "00") -> list[SimCallback]:
        """The customer finishes on VNPay's page; return the IPN(s) VNPay then sends."""
        order = self.orders[reference]
        order.response_code = response_code
        order.transaction_status = "00" if response_code == "00" else "02"
        order.transaction_no = str(next(self._numbers))
        order.pay_date = datetime.now(_GMT7).strftime("%Y%m%d%H%M%S")
        stale = self._ipn(
            order, response_code="51", status="02", transaction_no=str(int(order.transaction_no) - 1)
        )
        return self.emit(self._ipn(order), stale)

    def return_redirect(self, reference: str) -> str:
        """Where VNPay sends the browser back: our return URL with the signed result appended."""
        order = self.orders[reference]
        return f"{order.return_url}?{urlencode(self._ipn(order).query)}"

    def _ipn(
        self,
        order: VnpOrder,
        *,
        response_code: str | None = None,
        status: str | None = None,
        transaction_no: str | None = None,
    ) -> SimCallback:
        amount = order.amount + (1000 if self.faults.wrong_amount else 0)
        params = {
            "vnp_Amount": str(amount * 100),
            "vnp_BankCode": "NCB",
            "vnp_BankTranNo": "VNP" + order.transaction_no,
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": order.order_info,
            "vnp_PayDate": order.pay_date,
            "vnp_ResponseCode": response_code or order.response_code,
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionNo": transaction_no or order.transaction_no,
            "vnp_TransactionStatus": status or order.transaction_status,
            "vnp_TxnRef": order.reference,
        }
        signature = query_hash(self.secret, params)
        params["vnp_SecureHash"] = flip_hex(signature) if self.faults.wrong_signature else signature
        return SimCallback(method="GET", query=params)

    # -- querydr and refund ----------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        body = request.get_json()
        command = body.get("vnp_Command")
        fields = QUERYDR_IN if command == "querydr" else REFUND_IN
        if command not in ("querydr", "refund"):
            return self._answer(body, "03", "Invalid command", None, QUERYDR_OUT)
        if not hmac.compare_digest(pipe_hash(self.secret, body, fields), body.get("vnp_SecureHash", "")):
            return self._answer(body, "97", "Invalid checksum", None, QUERYDR_OUT)
        if body.get("vnp_TmnCode") != self.tmn_code:
            return self._answer(body, "02", "Invalid TmnCode", None, QUERYDR_OUT)
        order = self.orders.get(body.get("vnp_TxnRef", ""))
        if order is None or not order.transaction_no:
            return self._answer(body, "91", "Transaction not found", None, QUERYDR_OUT)
        if command == "querydr":
            return self._answer(body, "00", "Query success", order, QUERYDR_OUT)
        return self._refund(body, order)

    def _refund(self, body: dict[str, str], order: VnpOrder) -> Response:
        if order.transaction_status != "00":
            return self._answer(body, "95", "Original transaction not successful", order, RESPONSE_OUT)
        amount = int(body["vnp_Amount"]) // 100
        full = body["vnp_TransactionType"] == "02"
        if amount <= 0 or order.refunded + amount > order.amount or (full and amount != order.amount):
            return self._answer(body, "03", "Invalid refund amount", order, RESPONSE_OUT)
        order.refunded += amount
        order.refunds.append((body["vnp_RequestId"], amount))
        return self._answer(body, "00", "Refund success", order, RESPONSE_OUT, amount=amount)

    def _answer(
        self,
        body: dict[str, str],
        code: str,
        message: str,
        order: VnpOrder | None,
        fields: str,
        amount: int | None = None,
    ) -> Response:
        answer = {
            "vnp_ResponseId": body.get("vnp_RequestId", "") + "R",
            "vnp_Command": body.get("vnp_Command", ""),
            "vnp_ResponseCode": code,
            "vnp_Message": message,
            "vnp_TmnCode": self.tmn_code,
            "vnp_TxnRef": body.get("vnp_TxnRef", ""),
        }
        if order is not None:
            reported = (amount if amount is not None else order.amount) + (
                1000 if self.faults.wrong_amount else 0
            )
            answer.update(
                {
                    "vnp_Amount": str(reported * 100),
                    "vnp_BankCode": "NCB",
                    "vnp_PayDate": order.pay_date,
                    "vnp_TransactionNo": order.transaction_no,
                    "vnp_TransactionType": body.get("vnp_TransactionType", "01"),
                    "vnp_TransactionStatus": order.transaction_status,
                    "vnp_OrderInfo": order.order_info,
                    "vnp_PromotionCode": "",
                    "vnp_PromotionAmount": "",
                }
            )
        answer["vnp_SecureHash"] = pipe_hash(self.secret, answer, fields)
        return Response(json.dumps(answer), content_type="application/json")
