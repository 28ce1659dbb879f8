"""ZaloPay OpenAPI v2: create order, redirect to order_url, key2-MAC'd callback, query, refund."""

from __future__ import annotations

import json
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
from .client import ZalopayClient

# ZaloPay retries (at most 3 times) on return_code 0 only.
_ANSWERS: dict[CallbackResult, tuple[int, str]] = {
    CallbackResult.RECORDED: (1, "success"),
    CallbackResult.AMOUNT_MISMATCH: (1, "recorded for review"),
    CallbackResult.DUPLICATE: (2, "already processed"),
    CallbackResult.REJECTED: (-1, "mac not equal"),
    CallbackResult.NOT_FOUND: (0, "order not found"),
    CallbackResult.ERROR: (0, "error, please retry"),
}


def _callback_parts(body: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """Return ``(raw data string, mac, decoded data)`` or None when the body is not a callback."""
    try:
        outer = json.loads(body)
        if not isinstance(outer, dict) or not isinstance(outer.get("data"), str):
            return None
        data = json.loads(outer["data"])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return outer["data"], str(outer.get("mac", "")), data


class ZalopayAdapter:
    """ZaloPay adapter; settings: ``app_id``, ``key1``, ``key2``, optional ``base_url``,
    ``app_user``, ``bank_code``, ``payment_window_minutes``, timeouts."""

    code: ClassVar[str] = "zalopay"
    display_name: ClassVar[str] = "ZaloPay"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._app_id = str(settings["app_id"])
        self._key1 = str(settings["key1"])
        self._key2 = str(settings["key2"])
        self._client = ZalopayClient(
            str(settings.get("base_url", mapping.SANDBOX_BASE_URL)), Timeouts.from_settings(settings)
        )

    @property
    def merchant_id(self) -> str:
        """The ZaloPay app id."""
        return self._app_id

    @classmethod
    def callback_merchant_id(cls, callback: CallbackRequest) -> str | None:
        """The (unverified) app id a callback's ``data`` names."""
        parts = _callback_parts(callback.body)
        app_id = parts[2].get("app_id") if parts else None
        return str(app_id) if app_id else None

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Create the order at ZaloPay and redirect the browser to its ``order_url``."""
        response = self._client.create(mapping.create_form(request, self._settings))
        code = int(response.get("return_code", 0))
        if code == mapping.RETURN_PROCESSING:
            raise ProviderUnavailable(self.code, "create still processing")
        if code != mapping.RETURN_SUCCESS or not response.get("order_url"):
            sub = str(response.get("sub_return_code", ""))
            raise ProviderRejected(self.code, f"create return_code {code}/{sub}", provider_code_value=sub)
        return StartResult(action=Redirect(url=str(response["order_url"])))

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify the key2 MAC over the raw ``data`` string, then read it."""
        parts = _callback_parts(callback.body)
        if parts is None:
            raise CallbackRejected(self.code, "body is not a ZaloPay callback")
        raw_data, received_mac, data = parts
        if not signature.verify_callback(self._key2, raw_data, received_mac):
            raise CallbackRejected(self.code, "mac not equal")
        if str(data.get("app_id")) != self._app_id:
            raise CallbackRejected(self.code, "callback for another app")
        try:
            return mapping.event_from_callback_data(data)
        except (KeyError, ValueError, TypeError) as exc:
            raise CallbackRejected(self.code, f"malformed callback: {exc}") from exc

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """HTTP 200 with ``{"return_code", "return_message"}``."""
        code, message = _ANSWERS[result]
        return CallbackReply(
            status=200, body=json.dumps({"return_code": code, "return_message": message}).encode()
        )

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """Ask ``/v2/query`` for the order's state."""
        response = self._client.query(mapping.query_form(query, self._settings))
        until = mapping.payable_until(query.created_at, self._settings)
        return mapping.event_from_query(query, response, self._app_id, now=datetime.now(UTC), until=until)

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund all or part of a paid order by its ``zp_trans_id``."""
        response = self._client.refund(mapping.refund_form(request, self._settings, now=datetime.now(UTC)))
        return mapping.refund_result(request, response)
