"""VietQR bank transfer (NAPAS247): a dynamic QR on our checkout, confirmed by a signed bank notification."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import segno

from ..base import (
    CallbackReply,
    CallbackRequest,
    CallbackResult,
    Outcome,
    PaymentQuery,
    PaymentRequest,
    ProviderEvent,
    ShowQR,
    StartResult,
)
from ..errors import CallbackRejected
from ..text import safe_text
from . import emvco, notification
from .matching import find_reference

_HTTP_STATUS = {CallbackResult.REJECTED: 401, CallbackResult.ERROR: 503}


def qr_svg(payload: str, *, scale: int = 4) -> str:
    """Render ``payload`` as an inline SVG (error correction M, quiet zone included)."""
    return str(segno.make(payload, error="m", micro=False).svg_inline(scale=scale, title="VietQR"))


class VietqrAdapter:
    """VietQR adapter; settings: ``bank_bin``, ``bank_name``, ``account_number``, ``account_name``,
    ``notification_secret`` (Standard Webhooks ``whsec_...``, shared with the bank or aggregator)."""

    code: ClassVar[str] = "vietqr"
    display_name: ClassVar[str] = "Bank transfer (VietQR)"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._bank_bin = str(settings["bank_bin"])
        self._bank_name = str(settings.get("bank_name", self._bank_bin))
        self._account_number = str(settings["account_number"])
        self._account_name = safe_text(str(settings.get("account_name", "")), 50).upper()
        self._secret = str(settings["notification_secret"])
        if not (len(self._bank_bin) == 6 and self._bank_bin.isdigit()):
            raise ValueError("vietqr bank_bin must be a 6-digit BIN")

    @property
    def merchant_id(self) -> str:
        """``bank_bin:account_number`` of the agency's collection account."""
        return f"{self._bank_bin}:{self._account_number}"

    @classmethod
    def callback_merchant_id(cls, callback: CallbackRequest) -> str | None:
        """The (unverified) collection account a notification names."""
        return notification.claimed_account(callback.body)

    def start_payment(self, request: PaymentRequest) -> StartResult:
        """Show a dynamic QR carrying the amount and our reference; nothing is sent anywhere."""
        payload = emvco.build(
            emvco.VietQR(
                bank_bin=self._bank_bin,
                account_number=self._account_number,
                amount=request.amount,
                bill_number=request.reference,
                # Many bank apps copy 62.08 into the transfer content: keep it to the reference alone.
                purpose=request.reference,
            )
        )
        action = ShowQR(
            payload=payload,
            bank_name=self._bank_name,
            account_number=self._account_number,
            account_name=self._account_name,
            amount=request.amount,
            transfer_content=request.reference,
        )
        return StartResult(action=action)

    def parse_callback(self, callback: CallbackRequest) -> ProviderEvent:
        """Verify a bank credit notification and find our reference in its transfer content."""
        try:
            credit = notification.verify(self._secret, callback.headers, callback.body)
        except notification.InvalidNotification as exc:
            raise CallbackRejected(self.code, str(exc)) from exc
        if (credit.bank_bin, credit.account_number) != (self._bank_bin, self._account_number):
            raise CallbackRejected(self.code, "notification for another account")
        # No reference (or an ambiguous one) gives "" and so "not found": the credit stays in
        # the callback inbox for a person or for statement reconciliation to match.
        reference = find_reference(credit.content) or ""
        return ProviderEvent(
            reference=reference,
            provider_ref=credit.transaction_id,
            outcome=Outcome.SUCCEEDED,
            amount=credit.amount,
            currency=credit.currency,
            external_id=f"{credit.bank_bin}:{credit.transaction_id}",
            merchant_id=self.merchant_id,
            raw={
                "transaction_id": credit.transaction_id,
                "amount": credit.amount,
                "content": credit.content,
                "booked_at": credit.booked_at,
            },
        )

    def answer_callback(self, result: CallbackResult) -> CallbackReply:
        """2xx with ``{"result": ...}`` once handled; 401 bad signature; 503 asks the sender to retry."""
        body = json.dumps({"result": result.value}).encode()
        return CallbackReply(status=_HTTP_STATUS.get(result, 200), body=body)

    def query_status(self, query: PaymentQuery) -> ProviderEvent:
        """A transfer cannot be looked up: report no news, and let expiry or the statement decide."""
        return ProviderEvent(
            reference=query.reference, provider_ref=None, outcome=Outcome.PENDING, amount=query.amount,
            currency="VND", external_id=f"{query.reference}:-:no-news", merchant_id=self.merchant_id,
        )  # fmt: skip
