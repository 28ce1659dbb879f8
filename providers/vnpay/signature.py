"""VNPay 2.1.0 signing core: HMAC-SHA512 over the sorted, PHP-urlencoded query, and the pipe form.

Built exactly as VNPay's official demos build it (see docs/providers/vnpay.md):
every non-empty ``vnp_*`` parameter except the hash fields, sorted by key in byte
order, each ``urlencode(key)=urlencode(value)``, joined with ``&``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote_plus

HASH_FIELDS = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})


def php_urlencode(value: str) -> str:
    """Encode like PHP ``urlencode``: space as ``+``, everything but ``[A-Za-z0-9._-]`` escaped."""
    return quote_plus(value, safe="").replace("~", "%7E")


def canonical_query(params: Mapping[str, str]) -> str:
    """Return the hash input, which is also the query string VNPay receives."""
    items = sorted(
        (key, str(value))
        for key, value in params.items()
        if key.startswith("vnp_") and key not in HASH_FIELDS and str(value) != ""
    )
    return "&".join(f"{php_urlencode(key)}={php_urlencode(value)}" for key, value in items)


def hmac_sha512(secret: str, data: str) -> str:
    """Lower-case hex HMAC-SHA512 of ``data`` under ``secret`` (both UTF-8)."""
    return hmac.new(secret.encode("utf-8"), data.encode("utf-8"), hashlib.sha512).hexdigest()


def sign_params(secret: str, params: Mapping[str, str]) -> str:
    """Return ``vnp_SecureHash`` for a payment URL, return URL or IPN."""
    return hmac_sha512(secret, canonical_query(params))


def verify_params(secret: str, params: Mapping[str, str]) -> bool:
    """Check the ``vnp_SecureHash`` carried in ``params`` (decoded query values)."""
    received = params.get("vnp_SecureHash", "")
    if not received:
        return False
    return hmac.compare_digest(sign_params(secret, params), received.lower())


def pipe_hash(secret: str, values: Iterable[object]) -> str:
    """Return the querydr/refund checksum: HMAC-SHA512 over the values joined by ``|``."""
    return hmac_sha512(secret, "|".join("" if value is None else str(value) for value in values))


def verify_pipe_hash(secret: str, values: Iterable[object], received: str) -> bool:
    """Check a querydr/refund response checksum."""
    return bool(received) and hmac.compare_digest(pipe_hash(secret, values), received.lower())
