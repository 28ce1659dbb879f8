"""Pure MoMo AIO v2 request/response mapping (amounts are plain VND on both sides)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Outcome, PaymentQuery, PaymentRequest, ProviderEvent, RefundRequest, RefundResult
from ..text import safe_text
from . import signature

SANDBOX_BASE_URL = "https://test-payment.momo.vn"
CREATE_PATH = "/v2/gateway/api/create"
QUERY_PATH = "/v2/gateway/api/query"
REFUND_PATH = "/v2/gateway/api/refund"
REQUEST_TYPES = frozenset({"captureWallet", "payWithMethod"})

SUCCEEDED_CODES = frozenset({0, 9000})  # 9000 "authorised": final for us, we always autoCapture
PENDING_CODES = frozenset({1000, 7000, 7002, 8000})
CANCELLED_CODES = frozenset({1003, 1005, 1006, 1017})
# Request-level answers that say "try later" rather than anything about the payment.
RETRYABLE_CODES = frozenset({10, 40, 43, 99})
ORDER_UNKNOWN_CODE = 42


def result_outcome(result_code: int) -> Outcome:
    """Map a ``resultCode`` about a payment to our outcome; anything else final is a failure."""
    if result_code in SUCCEEDED_CODES:
        return Outcome.SUCCEEDED
    if result_code in PENDING_CODES:
        return Outcome.PENDING
    if result_code in CANCELLED_CODES:
        return Outcome.CANCELLED
    return Outcome.FAILED


def create_body(
    request: PaymentRequest, settings: Mapping[str, Any], *, request_type: str, ipn_url: str
) -> dict[str, Any]:
    """The signed create body; ``requestId`` and ``orderId`` are both our payment reference."""
    body: dict[str, Any] = {
        "partnerCode": str(settings["partner_code"]),
        "requestId": request.reference,
        "amount": request.amount,
        "orderId": request.reference,
        "orderInfo": f"{safe_text(request.description, 200) or 'Thanh toan le phi'} {request.reference}",
        "redirectUrl": request.return_url,
        "ipnUrl": ipn_url,
        "requestType": request_type,
        "extraData": "",
        "autoCapture": True,
        "lang": request.language,
    }
    body["signature"] = signature.sign(
        str(settings["secret_key"]), signature.CREATE_FIELDS, body, str(settings["access_key"])
    )
    return body


def event_from_result(values: Mapping[str, Any]) -> ProviderEvent:
    """Normalise a verified IPN (or query answer): the same fields describe the payment."""
    result_code = int(values["resultCode"])
    outcome = result_outcome(result_code)
    trans_id = signature.render(values.get("transId"))
    return ProviderEvent(
        reference=str(values["orderId"]),
        provider_ref=trans_id if trans_id not in ("", "0") else None,
        outcome=outcome,
        amount=int(values["amount"]),
        currency="VND",
        external_id=f"{values['orderId']}:{trans_id or '-'}:{outcome.value}",
        merchant_id=str(values.get("partnerCode", "")),
        raw={k: v for k, v in values.items() if k != "signature"},
    )


def query_body(query: PaymentQuery, settings: Mapping[str, Any], *, request_id: str) -> dict[str, Any]:
    """The signed query body."""
    body: dict[str, Any] = {
        "partnerCode": str(settings["partner_code"]),
        "requestId": request_id,
        "orderId": query.reference,
        "lang": "vi",
    }
    body["signature"] = signature.sign(
        str(settings["secret_key"]), signature.QUERY_FIELDS, body, str(settings["access_key"])
    )
    return body


def pending_event(query: PaymentQuery, partner_code: str) -> ProviderEvent:
    """No news about an order MoMo does not know (yet)."""
    return ProviderEvent(
        reference=query.reference, provider_ref=None, outcome=Outcome.PENDING, amount=query.amount,
        currency="VND", external_id=f"{query.reference}:-:not-found", merchant_id=partner_code,
    )  # fmt: skip


def refund_body(refund: RefundRequest, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The signed refund body; the refund's own reference is its new ``orderId`` and ``requestId``."""
    body: dict[str, Any] = {
        "partnerCode": str(settings["partner_code"]),
        "orderId": refund.refund_reference,
        "requestId": refund.refund_reference,
        "amount": refund.amount,
        "transId": int(refund.provider_ref),
        "lang": "vi",
        "description": safe_text(f"Hoan tien {refund.payment_reference} {refund.reason}", 200),
    }
    body["signature"] = signature.sign(
        str(settings["secret_key"]), signature.REFUND_FIELDS, body, str(settings["access_key"])
    )
    return body


def refund_result(refund: RefundRequest, response: Mapping[str, Any]) -> RefundResult:
    """Normalise a refund answer: 0 done, pending codes pending, anything else refused."""
    code = int(response.get("resultCode", -1))
    outcome = Outcome.SUCCEEDED if code == 0 else Outcome.PENDING if code in PENDING_CODES else Outcome.FAILED
    trans_id = signature.render(response.get("transId"))
    return RefundResult(
        refund_reference=refund.refund_reference,
        provider_refund_ref=trans_id or None,
        outcome=outcome,
        amount=refund.amount,
        message=f"{code} {response.get('message', '')}".strip(),
    )
