"""The bank credit notification: one documented, HMAC-signed JSON format (docs/providers/vietqr.md).

NAPAS sends nothing to the beneficiary, so a bank's or an aggregator's webhook
tells us that money arrived. It is signed with Standard Webhooks v1
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``
over ``id.timestamp.body``, 5-minute tolerance), verified by the
``standardwebhooks`` library; the body is a :class:`BankCredit`.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

CREDIT_TYPE = "bank.credit"


class InvalidNotification(ValueError):
    """Bad signature, stale timestamp or a body that is not a bank credit."""


@dataclass(frozen=True, slots=True)
class BankCredit:
    """Money credited to a collection account."""

    bank_bin: str
    account_number: str
    transaction_id: str  # the bank's id for the credit, unique per bank
    amount: int  # integer VND
    currency: str
    content: str  # the transfer content as the payer typed it
    booked_at: str  # ISO 8601 with offset, as the bank reports it


def claimed_account(body: bytes) -> str | None:
    """``bank_bin:account_number`` a notification names, unverified (for routing only)."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(decoded, dict) or not decoded.get("bank_bin") or not decoded.get("account_number"):
        return None
    return f"{decoded['bank_bin']}:{decoded['account_number']}"


def _field(values: Mapping[str, Any], name: str, kind: type) -> Any:
    value = values.get(name)
    # bool is an int: refuse it as an amount rather than read True as 1 VND.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidNotification(f"{name} must be a {kind.__name__}")
    return value


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> BankCredit:
    """Verify the signature and timestamp, then read the credit; raise :class:`InvalidNotification`."""
    try:
        values = Webhook(secret).verify(body, dict(headers))
    except (WebhookVerificationError, ValueError, binascii.Error, UnicodeDecodeError) as exc:
        # ValueError also covers a malformed signature entry and an undecodable JSON body.
        raise InvalidNotification(str(exc) or type(exc).__name__) from exc
    if not isinstance(values, dict) or values.get("type") != CREDIT_TYPE:
        raise InvalidNotification(f"type must be {CREDIT_TYPE!r}")
    amount = _field(values, "amount", int)
    if amount <= 0:
        raise InvalidNotification("amount must be positive")
    return BankCredit(
        bank_bin=_field(values, "bank_bin", str),
        account_number=_field(values, "account_number", str),
        transaction_id=_field(values, "transaction_id", str),
        amount=amount,
        currency=_field(values, "currency", str),
        content=_field(values, "content", str),
        booked_at=_field(values, "booked_at", str),
    )
