"""ZaloPay v2 signing core: HMAC-SHA256 (lower-case hex) over ``|``-joined fields.

Requests are MAC'd with key1; callbacks with key2 over the raw ``data`` string
exactly as received (never re-serialised).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def mac(key: str, data: str) -> str:
    """Return the lower-case hex HMAC-SHA256 of ``data`` under ``key``."""
    return hmac.new(key.encode("utf-8"), data.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_fields(key: str, values: Iterable[object]) -> str:
    """MAC the values joined by ``|`` (create, query, refund, query_refund)."""
    return mac(key, "|".join(str(value) for value in values))


def create_mac(
    key1: str, app_id: str, app_trans_id: str, app_user: str, amount: int, app_time: int,
    embed_data: str, item: str,
) -> str:  # fmt: skip
    """MAC of an order create: ``app_id|app_trans_id|app_user|amount|app_time|embed_data|item``."""
    return mac_fields(key1, (app_id, app_trans_id, app_user, amount, app_time, embed_data, item))


def query_mac(key1: str, app_id: str, app_trans_id: str) -> str:
    """MAC of a status query: ``app_id|app_trans_id|key1`` (key1 is part of the data)."""
    return mac_fields(key1, (app_id, app_trans_id, key1))


def refund_mac(
    key1: str, app_id: str, zp_trans_id: str, amount: int, description: str, timestamp: int
) -> str:
    """MAC of a refund: ``app_id|zp_trans_id|amount|description|timestamp``."""
    return mac_fields(key1, (app_id, zp_trans_id, amount, description, timestamp))


def verify_callback(key2: str, data: str, received: str) -> bool:
    """Check a callback's ``mac`` over the raw ``data`` string."""
    return bool(received) and hmac.compare_digest(mac(key2, data), received.lower())
