"""Pure ZaloPay v2 request/response mapping (amounts are plain VND)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..base import Outcome, PaymentQuery, PaymentRequest, ProviderEvent, RefundRequest, RefundResult
from ..text import safe_text
from ..vntime import epoch_ms, vn_yymmdd
from . import signature

SANDBOX_BASE_URL = "https://sb-openapi.zalopay.vn"
CREATE_PATH = "/v2/create"
QUERY_PATH = "/v2/query"
REFUND_PATH = "/v2/refund"
RETURN_SUCCESS, RETURN_FAIL, RETURN_PROCESSING = 1, 2, 3
MIN_EXPIRY_SECONDS, MAX_EXPIRY_SECONDS = 300, 2_592_000


def app_trans_id(reference: str, created_at: datetime) -> str:
    """``yymmdd_<reference>``, the date in GMT+7 as ZaloPay requires."""
    return f"{vn_yymmdd(created_at)}_{reference}"


def reference_of(trans_id: str) -> str:
    """Our reference back out of an ``app_trans_id``."""
    prefix, sep, reference = trans_id.partition("_")
    if not (sep and len(prefix) == 6 and prefix.isdigit() and reference):
        raise ValueError(f"app_trans_id {trans_id!r} is not yymmdd_<reference>")
    return reference


def _compact_json(value: object) -> str:
    # These JSON strings are MAC'd byte for byte: one fixed serialisation, no spaces.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def create_form(request: PaymentRequest, settings: Mapping[str, Any]) -> dict[str, str]:
    """The MAC'd create form."""
    window = int(settings.get("payment_window_minutes", 15)) * 60
    remaining = int((request.expires_at - request.created_at).total_seconds())
    expiry = max(MIN_EXPIRY_SECONDS, min(MAX_EXPIRY_SECONDS, remaining, window))
    app_id = str(settings["app_id"])
    form = {
        "app_id": app_id,
        "app_user": safe_text(str(settings.get("app_user", "feegate")), 50) or "feegate",
        "app_trans_id": app_trans_id(request.reference, request.created_at),
        "app_time": str(epoch_ms(request.created_at)),
        "expire_duration_seconds": str(expiry),
        "amount": str(request.amount),
        "item": "[]",
        "embed_data": _compact_json({"redirecturl": request.return_url}),
        "description": safe_text(f"{request.description or 'Thanh toan le phi'} {request.reference}", 256),
        "bank_code": str(settings.get("bank_code", "")),
        "callback_url": request.callback_url,
    }
    form["mac"] = signature.create_mac(
        str(settings["key1"]), app_id, form["app_trans_id"], form["app_user"], request.amount,
        int(form["app_time"]), form["embed_data"], form["item"],
    )  # fmt: skip
    return form


def event_from_callback_data(data: Mapping[str, Any]) -> ProviderEvent:
    """Normalise a verified callback's ``data``: ZaloPay calls back only once it has the money."""
    trans_id = str(data["app_trans_id"])
    zp_trans_id = str(data["zp_trans_id"])
    return ProviderEvent(
        reference=reference_of(trans_id),
        provider_ref=zp_trans_id,
        outcome=Outcome.SUCCEEDED,
        amount=int(data["amount"]),
        currency="VND",
        external_id=f"{trans_id}:{zp_trans_id}:{Outcome.SUCCEEDED.value}",
        merchant_id=str(data.get("app_id", "")),
        raw=dict(data),
    )


def query_form(query: PaymentQuery, settings: Mapping[str, Any]) -> dict[str, str]:
    """The MAC'd status query form."""
    app_id = str(settings["app_id"])
    trans_id = app_trans_id(query.reference, query.created_at)
    return {
        "app_id": app_id,
        "app_trans_id": trans_id,
        "mac": signature.query_mac(str(settings["key1"]), app_id, trans_id),
    }


def payable_until(created_at: datetime, settings: Mapping[str, Any]) -> datetime:
    """After this the order has expired at ZaloPay: its expiry (at most the window) plus a margin."""
    window = max(MIN_EXPIRY_SECONDS, int(settings.get("payment_window_minutes", 15)) * 60)
    margin = int(settings.get("abandon_margin_minutes", 15)) * 60
    return created_at + timedelta(seconds=window + margin)


def event_from_query(
    query: PaymentQuery, response: Mapping[str, Any], app_id: str, *, now: datetime, until: datetime
) -> ProviderEvent:
    """Normalise a query answer: 1 paid; 3 processing or not yet paid; 2 failed.

    While the order is open the citizen may retry on ZaloPay's page after a failed
    try, and ZaloPay calls back only on success, so "failed" is final only once the
    order has expired (``until``); before that it is "no news".
    """
    code = int(response.get("return_code", 0))
    if code == RETURN_SUCCESS:
        outcome = Outcome.SUCCEEDED
    elif code == RETURN_FAIL and now > until:
        outcome = Outcome.FAILED
    else:
        outcome = Outcome.PENDING
    trans_id = app_trans_id(query.reference, query.created_at)
    zp_trans_id = str(response.get("zp_trans_id") or "")
    has_amount = outcome is Outcome.SUCCEEDED or response.get("amount") not in (None, 0)
    return ProviderEvent(
        reference=query.reference,
        provider_ref=zp_trans_id if zp_trans_id not in ("", "0") else None,
        outcome=outcome,
        amount=int(response["amount"]) if has_amount else query.amount,
        currency="VND",
        external_id=f"{trans_id}:{zp_trans_id or '-'}:{outcome.value}",
        merchant_id=app_id,
        raw=dict(response),
    )


def refund_form(refund: RefundRequest, settings: Mapping[str, Any], *, now: datetime) -> dict[str, str]:
    """The MAC'd refund form; ``m_refund_id`` is ``yymmdd_appid_<our refund reference>``."""
    app_id = str(settings["app_id"])
    timestamp = epoch_ms(now)
    description = safe_text(f"Hoan tien {refund.payment_reference} {refund.reason}", 100)
    return {
        "m_refund_id": f"{vn_yymmdd(now)}_{app_id}_{refund.refund_reference}",
        "app_id": app_id,
        "zp_trans_id": refund.provider_ref,
        "amount": str(refund.amount),
        "timestamp": str(timestamp),
        "description": description,
        "mac": signature.refund_mac(
            str(settings["key1"]), app_id, refund.provider_ref, refund.amount, description, timestamp
        ),
    }


def refund_result(refund: RefundRequest, response: Mapping[str, Any]) -> RefundResult:
    """Normalise a refund answer: 1 done, 3 processing, anything else refused."""
    code = int(response.get("return_code", 0))
    outcome = {RETURN_SUCCESS: Outcome.SUCCEEDED, RETURN_PROCESSING: Outcome.PENDING}.get(
        code, Outcome.FAILED
    )
    return RefundResult(
        refund_reference=refund.refund_reference,
        provider_refund_ref=str(response.get("refund_id") or "") or None,
        outcome=outcome,
        amount=refund.amount,
        message=f"{code} {response.get('return_message', '')}".strip(),
    )
