"""The built-in sandbox bank: a real adapter behind the same Protocol as every provider.

It redirects to feegate's own simulated bank pages (``providers.sandbox.bank``),
where a tester approves or declines; the simulated bank then sends a signed
server-to-server callback and sends the browser back. Callbacks that fail
verification are answered 400; the bank does not retry, so any other answer is 200.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from providers.base import (
    CallbackReply,
    CallbackRequest,
    CallbackResult,
    Outcome,
    PaymentQuery,
    PaymentRequest,
    ProviderEvent,
    Redirect,
    StartResult,
)
from providers.errors import CallbackRejected

from .signature import SIGNATURE_HEADER, BadSignature, sign_params, verify_body

#: the simulated bank itself only sends the first two; tests replay every outcome a real provider can
_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "failed": Outcome.FAILED,
    "cancelled": Outcome.CANCELLED,
    "pending": Outcome.PENDING,
}


class SandboxAdapter:
    """Adapter for the simulated bank that ships with feegate."""

    code: ClassVar[str] = "sandbox"
    display_name: ClassVar[str] = "Sandbox bank"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._secret = str(settings.get("secret", ""))
        self._base_url = str(settings.get("bank_url") or f"{settings.get('base_url', '')}/sandbox-bank")
        self._merchant_id = str(settings.get("merchant_id") or settings.get("agency_code", ""))

    @property
    def merchant_id(self) -> str:
        """The merchant id: the agency code unless configured otherwise."""
        return self._merchant_id

    @classmethod
    def callback_merchant_id(cls, callback: CallbackRequest) -> str | None:
        """Read the merchant a callback claims, before verification."""
        try:
            body = json.loads(callback.body)
        except ValueError:
            return None
        merchant = body.get("merchant") if isinstance(body, dict) else None
        return merchant if isinstance(merchant, str) else None

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Redirect to the simulated bank with signed parameters."""
        params = {
            "merchant": self._merchant_id,
            "reference": request.reference,
            "amount": str(request.amount),
            "currency": request.currency,
            "description": request.description[:120],
            "return_url": request.return_url,
            "callback_url": request.callback_url,
            "expires": str(int(request.expires_at.timestamp())),
            "lang": request.language,
        }
        params["sig"] = sign_params(self._secret, params)
        return StartResult(Redirect(f"{self._base_url}/pay?{urlencode(params)}"))

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify the signature over the raw body, then read the statement."""
        header = callback.headers.get(SIGNATURE_HEADER, "")
        try:
            verify_body(self._secret, callback.body, header)
            body = json.loads(callback.body)
            outcome = _OUTCOMES[body["status"]]
            amount = body["amount"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise ValueError("amount must be an integer")
            if body["merchant"] != self._merchant_id:
                raise ValueError("wrong merchant")
            return ProviderEvent(
                reference=str(body["reference"]),
                provider_ref=str(body["transaction_id"]),
                outcome=outcome,
                amount=amount,
                currency=str(body["currency"]),
                external_id=f"{body['transaction_id']}:{body['status']}",
                merchant_id=self._merchant_id,
                raw=dict(body),
            )
        except BadSignature as exc:
            raise CallbackRejected(self.code, str(exc)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(self.code, f"malformed callback: {exc}") from None

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """Answer 200 with what we did; 400 for a rejected callback, 500 when it should retry."""
        status = {CallbackResult.REJECTED: 400, CallbackResult.ERROR: 500}.get(result, 200)
        return CallbackReply(status, json.dumps({"result": result.value}).encode())

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """The simulated bank keeps no ledger: an attempt it never called back about is still pending."""
        return ProviderEvent(
            reference=query.reference,
            provider_ref=query.provider_ref,
            outcome=Outcome.PENDING,
            amount=query.amount,
            currency="VND",
            external_id=f"query:{query.reference}:pending",
            merchant_id=self._merchant_id,
        )
