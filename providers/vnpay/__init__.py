"""VNPay payment gateway 2.1.0: redirect to vpcpay.html, IPN by GET, querydr and refund."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..base import (
    CallbackReply,
    CallbackRequest,
    CallbackResult,
    PaymentQuery,
    PaymentRequest,
    ProviderEvent,
    Redirect,
    RefundRequest,
    RefundResult,
    StartResult,
)
from ..errors import CallbackRejected, ProviderRejected, ProviderUnavailable
from ..http import Timeouts
from . import mapping, signature
from .client import VnpayClient

# RspCode / Message pairs VNPay's IPN expects (official demo vnpay_ipn.php).
_IPN_ANSWERS: dict[CallbackResult, tuple[str, str]] = {
    CallbackResult.RECORDED: ("00", "Confirm Success"),
    CallbackResult.NOT_FOUND: ("01", "Order not found"),
    CallbackResult.DUPLICATE: ("02", "Order already confirmed"),
    CallbackResult.AMOUNT_MISMATCH: ("04", "Invalid amount"),
    CallbackResult.REJECTED: ("97", "Invalid signature"),
    CallbackResult.ERROR: ("99", "Unknown error"),
}


class VnpayAdapter:
    """VNPay adapter; settings: ``tmn_code``, ``hash_secret``, optional ``pay_url``, ``api_url``,
    ``server_ip``, ``order_type``, ``bank_code``, ``payment_window_minutes``, timeouts."""

    code: ClassVar[str] = "vnpay"
    display_name: ClassVar[str] = "VNPay"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._secret = str(settings["hash_secret"])
        self._tmn_code = str(settings["tmn_code"])
        self._pay_url = str(settings.get("pay_url", mapping.SANDBOX_PAY_URL))
        self._server_ip = str(settings.get("server_ip", "127.0.0.1"))
        self._client = VnpayClient(
            str(settings.get("api_url", mapping.SANDBOX_API_URL)), Timeouts.from_settings(settings)
        )

    @property
    def merchant_id(self) -> str:
        """The VNPay terminal code."""
        return self._tmn_code

    @classmethod
    def callback_merchant_id(cls, callback: CallbackRequest) -> str | None:
        """The (unverified) terminal code an IPN names."""
        return callback.query.get("vnp_TmnCode") or None

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Build the signed payment URL; VNPay is not called until the browser gets there."""
        params = mapping.payment_params(request, self._settings)
        return StartResult(action=Redirect(url=mapping.payment_url(self._pay_url, params, self._secret)))

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify an IPN (or return URL) over its decoded ``vnp_*`` parameters, re-encoded."""
        params = dict(callback.query)
        if not signature.verify_params(self._secret, params):
            raise CallbackRejected(self.code, "invalid vnp_SecureHash")
        if params.get("vnp_TmnCode") != self._tmn_code:
            raise CallbackRejected(self.code, "callback for another terminal")
        try:
            return mapping.event_from_callback(params)
        except (KeyError, ValueError) as exc:
            raise CallbackRejected(self.code, f"malformed callback: {exc}") from exc

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """HTTP 200 with ``{"RspCode", "Message"}``; 00 acknowledges failures as well."""
        rsp_code, message = _IPN_ANSWERS[result]
        body = json.dumps({"RspCode": rsp_code, "Message": message}).encode()
        return CallbackReply(status=200, body=body)

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """Ask querydr for the attempt's state."""
        body = mapping.querydr_body(
            query, self._settings, request_id=uuid.uuid4().hex, now=datetime.now(UTC), ip=self._server_ip
        )
        response = self._call(body, mapping.QUERYDR_RESPONSE_FIELDS)
        code = str(response.get("vnp_ResponseCode", ""))
        if code == "94":  # "duplicate request within the limit": ask again later
            raise ProviderUnavailable(self.code, "vnp_ResponseCode 94")
        if code not in ("00", mapping.NOT_FOUND_API_CODE):
            raise ProviderRejected(self.code, f"querydr vnp_ResponseCode {code}", provider_code_value=code)
        until = mapping.payable_until(query.created_at, self._settings)
        return mapping.event_from_querydr(query, response, now=datetime.now(UTC), until=until)

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all (type 02) or part (type 03) of a succeeded payment."""
        body = mapping.refund_body(
            request, self._settings, request_id=uuid.uuid4().hex, now=datetime.now(UTC), ip=self._server_ip
        )
        return mapping.refund_result(request, self._call(body, mapping.REFUND_RESPONSE_FIELDS))

    def _call(self, body: dict[str, str], fields: tuple[str, ...]) -> dict[str, Any]:
        response = self._client.transaction(body)
        code = str(response.get("vnp_ResponseCode", ""))
        if code == "99":
            raise ProviderUnavailable(self.code, "vnp_ResponseCode 99 (other error)")
        # Only a success changes our state, so only a success must prove it came from VNPay;
        # one we cannot authenticate tells us nothing, the same as no answer.
        if code == "00" and not mapping.response_is_authentic(response, fields, self._secret):
            raise ProviderUnavailable(self.code, "response checksum mismatch")
        return response
