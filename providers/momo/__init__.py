"""MoMo AIO payment gateway v2: server-to-server create, redirect to payUrl, JSON IPN, query, refund."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
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
from .client import MomoClient


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


class MomoAdapter:
    """MoMo adapter; settings: ``partner_code``, ``access_key``, ``secret_key``, optional
    ``base_url``, ``request_type`` (captureWallet | payWithMethod), timeouts (MoMo asks for >= 30 s)."""

    code: ClassVar[str] = "momo"
    display_name: ClassVar[str] = "MoMo"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._partner_code = str(settings["partner_code"])
        self._access_key = str(settings["access_key"])
        self._secret_key = str(settings["secret_key"])
        self._request_type = str(settings.get("request_type", "captureWallet"))
        if self._request_type not in mapping.REQUEST_TYPES:
            raise ValueError(f"momo request_type {self._request_type!r} is not supported")
        self._client = MomoClient(
            str(settings.get("base_url", mapping.SANDBOX_BASE_URL)), Timeouts.from_settings(settings)
        )

    @property
    def merchant_id(self) -> str:
        """The MoMo partner code."""
        return self._partner_code

    @classmethod
    def callback_merchant_id(cls, callback: CallbackRequest) -> str | None:
        """The (unverified) partner code an IPN names."""
        body = _json_object(callback.body)
        partner = body.get("partnerCode") if body else None
        return str(partner) if partner else None

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Create the payment at MoMo and redirect the browser to its ``payUrl``."""
        body = mapping.create_body(
            request, self._settings, request_type=self._request_type, ipn_url=request.callback_url
        )
        response = self._client.create(body)
        code = int(response.get("resultCode", -1))
        if code in mapping.RETRYABLE_CODES:
            raise ProviderUnavailable(self.code, f"create resultCode {code}")
        if code != 0 or not response.get("payUrl"):
            raise ProviderRejected(self.code, f"create resultCode {code}", provider_code_value=str(code))
        return StartResult(action=Redirect(url=str(response["payUrl"])))

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify an IPN (or redirect) signature over its values rendered back to strings."""
        # The IPN is a JSON body; the browser redirect carries the same signed fields as a query.
        values = _json_object(callback.body) if callback.body else dict(callback.query) or None
        if values is None:
            raise CallbackRejected(self.code, "body is not a JSON object")
        if not signature.verify(self._secret_key, signature.IPN_FIELDS, values, self._access_key):
            raise CallbackRejected(self.code, "invalid signature")
        if values.get("partnerCode") != self._partner_code:
            raise CallbackRejected(self.code, "callback for another partner")
        try:
            return mapping.event_from_result(values)
        except (KeyError, ValueError, TypeError) as exc:
            raise CallbackRejected(self.code, f"malformed callback: {exc}") from exc

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """HTTP 204, as MoMo asks; 500 only when we want MoMo to send it again."""
        if result is CallbackResult.ERROR:
            return CallbackReply(status=500)
        if result is CallbackResult.REJECTED:
            return CallbackReply(status=400)
        return CallbackReply(status=204)

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """Ask ``/query`` for the order's state."""
        response = self._client.query(mapping.query_body(query, self._settings, request_id=uuid.uuid4().hex))
        code = int(response.get("resultCode", -1))
        if code in mapping.RETRYABLE_CODES:
            raise ProviderUnavailable(self.code, f"query resultCode {code}")
        if code == mapping.ORDER_UNKNOWN_CODE:
            return mapping.pending_event(query, self._partner_code)
        if 10 <= code < 98:  # request-level errors; 98 and 99 are final answers about the payment
            raise ProviderRejected(self.code, f"query resultCode {code}", provider_code_value=str(code))
        if str(response.get("orderId")) != query.reference or "amount" not in response:
            raise ProviderUnavailable(self.code, "query answer does not describe the order asked about")
        return mapping.event_from_result({**response, "partnerCode": self._partner_code})

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all or part of a succeeded payment by its MoMo ``transId``."""
        response = self._client.refund(mapping.refund_body(request, self._settings))
        code = int(response.get("resultCode", -1))
        if code in mapping.RETRYABLE_CODES:
            raise ProviderUnavailable(self.code, f"refund resultCode {code}")
        return mapping.refund_result(request, response)
