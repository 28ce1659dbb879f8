"""Standard Webhooks signatures for outgoing deliveries, with an overlap window for rotation.

The HMAC itself is the ``standardwebhooks`` library's; this module only decides which
secrets sign a message and assembles the three headers.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """An endpoint's current secret and, during a rotation, the one it replaces."""

    current: str
    previous: str | None = None
    previous_expires_at: datetime | None = None  # aware UTC; the end of the overlap window

    def active(self, now: datetime) -> list[str]:
        """Return the secrets that sign a message sent at ``now``, newest first."""
        keys = [self.current]
        if self.previous and self.previous_expires_at is not None and now < self.previous_expires_at:
            keys.append(self.previous)
        return keys


def generate_secret() -> str:
    """Return a new endpoint secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def rotate(keys: SigningKeys, new_secret: str, now: datetime, overlap: timedelta) -> SigningKeys:
    """Make ``new_secret`` current and keep the old one signing until ``now + overlap``."""
    return SigningKeys(current=new_secret, previous=keys.current, previous_expires_at=now + overlap)


def signature_header(msg_id: str, timestamp: datetime, body: str, keys: Sequence[str]) -> str:
    """Return ``webhook-signature``: one space-separated ``v1,<base64>`` entry per secret."""
    return " ".join(Webhook(key).sign(msg_id=msg_id, timestamp=timestamp, data=body) for key in keys)


def webhook_headers(msg_id: str, timestamp: datetime, body: str, keys: Sequence[str]) -> dict[str, str]:
    """Return the Standard Webhooks headers for one attempt; ``timestamp`` must be aware UTC."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(msg_id, timestamp, body, keys),
    }
