"""Pure VNPay 2.1.0 request/response mapping; VND x100 conversion happens here and only here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..base import Outcome, PaymentQuery, PaymentRequest, ProviderEvent, RefundRequest, RefundResult
from ..text import safe_text
from ..vntime import vn_compact
from . import signature

VERSION = "2.1.0"
SANDBOX_PAY_URL = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"
SANDBOX_API_URL = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction"

QUERYDR_REQUEST_FIELDS = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
    "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
QUERYDR_RESPONSE_FIELDS = (
    "vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode", "vnp_TxnRef",
    "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo", "vnp_TransactionType",
    "vnp_TransactionStatus", "vnp_OrderInfo", "vnp_PromotionCode", "vnp_PromotionAmount",
)  # fmt: skip
REFUND_REQUEST_FIELDS = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType", "vnp_TxnRef",
    "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy", "vnp_CreateDate",
    "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
REFUND_RESPONSE_FIELDS = QUERYDR_RESPONSE_FIELDS[:13]

NOT_FOUND_API_CODE = "91"
# Statuses 05, 06 and 09 describe a refund of a payment that itself went through.
_SUCCEEDED_STATUSES = frozenset({"00", "05", "06", "09"})
_PENDING_STATUSES = frozenset({"01", "07"})


def to_vnp_amount(amount: int) -> str:
    """VND to VNPay's unit (x100, no separators)."""
    return str(amount * 100)


def from_vnp_amount(value: str) -> int:
    """VNPay's unit back to VND; a value that is not whole VND is malformed."""
    hundredths = int(value)
    if hundredths % 100:
        raise ValueError(f"vnp_Amount {value!r} is not a whole number of VND")
    return hundredths // 100


def order_info(request: PaymentRequest) -> str:
    """The ASCII description VNPay shows, within the character set every encoder agrees on."""
    text = safe_text(request.description, 200) or "Thanh toan le phi"
    return f"{text} {request.reference}"


def payment_params(request: PaymentRequest, settings: Mapping[str, Any]) -> dict[str, str]:
    """Every ``vnp_*`` field of a ``pay`` request, unsigned."""
    window = timedelta(minutes=int(settings.get("payment_window_minutes", 15)))
    expires_at = min(request.expires_at, request.created_at + window)
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": str(settings["tmn_code"]),
        "vnp_Amount": to_vnp_amount(request.amount),
        "vnp_CreateDate": vn_compact(request.created_at),
        "vnp_CurrCode": "VND",
        "vnp_IpAddr": request.client_ip,
        "vnp_Locale": "vn" if request.language == "vi" else "en",
        "vnp_OrderInfo": order_info(request),
        "vnp_OrderType": str(settings.get("order_type", "billpayment")),
        "vnp_ReturnUrl": request.return_url,
        "vnp_ExpireDate": vn_compact(expires_at),
        "vnp_TxnRef": request.reference,
    }
    if settings.get("bank_code"):
        params["vnp_BankCode"] = str(settings["bank_code"])
    return params


def payment_url(pay_url: str, params: Mapping[str, str], secret: str) -> str:
    """The signed redirect URL; the hash input doubles as the query string."""
    query = signature.canonical_query(params)
    return f"{pay_url}?{query}&vnp_SecureHash={signature.hmac_sha512(secret, query)}"


def payment_outcome(response_code: str, transaction_status: str) -> Outcome:
    """Success only when both codes are ``00``; 24 is the customer cancelling."""
    if response_code == "00" and transaction_status == "00":
        return Outcome.SUCCEEDED
    if response_code == "24":
        return Outcome.CANCELLED
    # 07: money taken but held for a fraud review the merchant settles in VNPay's admin.
    if response_code == "07" or transaction_status in _PENDING_STATUSES:
        return Outcome.PENDING
    return Outcome.FAILED


def query_outcome(transaction_status: str) -> Outcome:
    """Outcome of a found transaction by its ``vnp_TransactionStatus`` (02 error, 04 reversed: failed)."""
    if transaction_status in _SUCCEEDED_STATUSES:
        return Outcome.SUCCEEDED
    if transaction_status in _PENDING_STATUSES:
        return Outcome.PENDING
    return Outcome.FAILED


def _external_id(txn_ref: str, transaction_no: str, outcome: Outcome) -> str:
    # The same for an IPN and a querydr answer that say the same thing, so the later one dedupes.
    return f"{txn_ref}:{transaction_no or '-'}:{outcome.value}"


def event_from_callback(params: Mapping[str, str]) -> ProviderEvent:
    """Normalise verified IPN / return-URL parameters."""
    outcome = payment_outcome(params.get("vnp_ResponseCode", ""), params.get("vnp_TransactionStatus", ""))
    transaction_no = params.get("vnp_TransactionNo", "")
    return ProviderEvent(
        reference=params["vnp_TxnRef"],
        provider_ref=transaction_no if transaction_no not in ("", "0") else None,
        outcome=outcome,
        amount=from_vnp_amount(params["vnp_Amount"]),
        currency="VND",
        external_id=_external_id(params["vnp_TxnRef"], transaction_no, outcome),
        merchant_id=params.get("vnp_TmnCode", ""),
        raw={k: v for k, v in params.items() if k not in signature.HASH_FIELDS},
    )


def querydr_body(
    query: PaymentQuery, settings: Mapping[str, Any], *, request_id: str, now: datetime, ip: str
) -> dict[str, str]:
    """The signed querydr JSON body."""
    body = {
        "vnp_RequestId": request_id,
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": str(settings["tmn_code"]),
        "vnp_TxnRef": query.reference,
        "vnp_OrderInfo": f"Truy van {query.reference}",
        "vnp_TransactionDate": vn_compact(query.created_at),
        "vnp_CreateDate": vn_compact(now),
        "vnp_IpAddr": ip,
    }
    if query.provider_ref:
        body["vnp_TransactionNo"] = query.provider_ref
    secret = str(settings["hash_secret"])
    body["vnp_SecureHash"] = signature.pipe_hash(secret, (body[f] for f in QUERYDR_REQUEST_FIELDS))
    return body


def response_is_authentic(response: Mapping[str, Any], fields: tuple[str, ...], secret: str) -> bool:
    """Check a querydr/refund answer's checksum (missing values count as empty strings)."""
    values = ("" if response.get(f) is None else str(response.get(f)) for f in fields)
    return signature.verify_pipe_hash(secret, values, str(response.get("vnp_SecureHash", "")))


def payable_until(created_at: datetime, settings: Mapping[str, Any]) -> datetime:
    """After this, VNPay takes no more money for the attempt: its ``vnp_ExpireDate`` plus a margin."""
    window = int(settings.get("payment_window_minutes", 15))
    margin = int(settings.get("abandon_margin_minutes", 15))  # clock skew, a bank slow to answer VNPay
    return created_at + timedelta(minutes=window + margin)


def event_from_querydr(
    query: PaymentQuery, response: Mapping[str, Any], *, now: datetime, until: datetime
) -> ProviderEvent:
    """Normalise an authentic querydr answer whose ``vnp_ResponseCode`` is 00 or 91.

    "Not found" or "not completed" once the attempt can no longer be paid (``until``)
    means the citizen abandoned it: cancelled. Before that it is only "no news".
    """
    if response.get("vnp_ResponseCode") == NOT_FOUND_API_CODE:
        # VNPay records nothing until the customer submits a payment method.
        outcome = Outcome.CANCELLED if now > until else Outcome.PENDING
        return ProviderEvent(
            reference=query.reference, provider_ref=None, outcome=outcome, amount=query.amount,
            currency="VND", external_id=f"{query.reference}:-:{outcome.value}",
            merchant_id=str(response.get("vnp_TmnCode", "")), raw=dict(response),
        )  # fmt: skip
    status = str(response.get("vnp_TransactionStatus", ""))
    outcome = query_outcome(status)
    if status == "01" and now > until:  # "not completed", and it no longer can be
        outcome = Outcome.CANCELLED
    transaction_no = str(response.get("vnp_TransactionNo", "") or "")
    return ProviderEvent(
        reference=str(response.get("vnp_TxnRef", query.reference)),
        provider_ref=transaction_no if transaction_no not in ("", "0") else None,
        outcome=outcome,
        amount=from_vnp_amount(str(response.get("vnp_Amount", "0"))),
        currency="VND",
        external_id=_external_id(query.reference, transaction_no, outcome),
        merchant_id=str(response.get("vnp_TmnCode", "")),
        raw={k: v for k, v in response.items() if k != "vnp_SecureHash"},
    )


def refund_body(
    refund: RefundRequest, settings: Mapping[str, Any], *, request_id: str, now: datetime, ip: str
) -> dict[str, str]:
    """The signed refund JSON body: type 02 for the full amount, 03 for part of it."""
    body = {
        "vnp_RequestId": request_id,
        "vnp_Version": VERSION,
        "vnp_Command": "refund",
        "vnp_TmnCode": str(settings["tmn_code"]),
        "vnp_TransactionType": "02" if refund.amount == refund.original_amount else "03",
        "vnp_TxnRef": refund.payment_reference,
        "vnp_Amount": to_vnp_amount(refund.amount),
        "vnp_TransactionNo": refund.provider_ref or "0",
        "vnp_TransactionDate": vn_compact(refund.payment_created_at or refund.paid_at),
        "vnp_CreateBy": str(settings.get("refund_operator", "feegate")),
        "vnp_CreateDate": vn_compact(now),
        "vnp_IpAddr": ip,
        "vnp_OrderInfo": safe_text(f"Hoan tien {refund.refund_reference} {refund.reason}", 200),
    }
    secret = str(settings["hash_secret"])
    body["vnp_SecureHash"] = signature.pipe_hash(secret, (body[f] for f in REFUND_REQUEST_FIELDS))
    return body


def refund_result(refund: RefundRequest, response: Mapping[str, Any]) -> RefundResult:
    """Normalise an authentic refund answer."""
    code = str(response.get("vnp_ResponseCode", ""))
    if code == "00":
        outcome = Outcome.SUCCEEDED
    elif code == "94":  # a refund of this transaction is already being processed
        outcome = Outcome.PENDING
    else:
        outcome = Outcome.FAILED
    return RefundResult(
        refund_reference=refund.refund_reference,
        provider_refund_ref=str(response.get("vnp_TransactionNo") or "") or None,
        outcome=outcome,
        amount=refund.amount,
        message=f"{code} {response.get('vnp_Message', '')}".strip(),
    )
