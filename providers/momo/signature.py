"""MoMo AIO v2 signing core: HMAC-SHA256 over ``key=value`` pairs in a fixed alphabetical order.

Values are not URL-encoded; JSON numbers are written as plain integers; empty
values (``extraData=``) still take part. ``accessKey`` is always our own key,
even when the incoming body does not carry it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

CREATE_FIELDS = (
    "accessKey", "amount", "extraData", "ipnUrl", "orderId", "orderInfo",
    "partnerCode", "redirectUrl", "requestId", "requestType",
)  # fmt: skip
IPN_FIELDS = (
    "accessKey", "amount", "extraData", "message", "orderId", "orderInfo", "orderType",
    "partnerCode", "payType", "requestId", "responseTime", "resultCode", "transId",
)  # fmt: skip
QUERY_FIELDS = ("accessKey", "orderId", "partnerCode", "requestId")
REFUND_FIELDS = ("accessKey", "amount", "description", "orderId", "partnerCode", "requestId", "transId")


def render(value: Any) -> str:
    """Write a JSON value the way MoMo's signers do (``1000``, never ``1000.0``; ``None`` empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def raw_signature(fields: tuple[str, ...], values: Mapping[str, Any], access_key: str) -> str:
    """Build the ``rawSignature`` string for ``fields`` in their fixed order."""
    merged = {**values, "accessKey": access_key}
    return "&".join(f"{name}={render(merged.get(name))}" for name in fields)


def sign(secret_key: str, fields: tuple[str, ...], values: Mapping[str, Any], access_key: str) -> str:
    """Return the lower-case hex HMAC-SHA256 signature."""
    raw = raw_signature(fields, values, access_key)
    return hmac.new(secret_key.encode("utf-8"), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(secret_key: str, fields: tuple[str, ...], values: Mapping[str, Any], access_key: str) -> bool:
    """Check the ``signature`` member of ``values``."""
    received = values.get("signature")
    if not isinstance(received, str) or not received:
        return False
    return hmac.compare_digest(sign(secret_key, fields, values, access_key), received.lower())
