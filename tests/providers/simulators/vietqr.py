"""A bank (or aggregator) that sends signed credit notifications for a VietQR collection account.

It signs with its own Standard Webhooks v1 code (base64 HMAC-SHA256 over
``id.timestamp.body``, key = base64-decoded ``whsec_`` secret). There is no API to
time out: VietQR has no server-to-server call, so only the callback faults apply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from datetime import datetime, timedelta, timezone

from .base import Faults, SimCallback

SECRET = "whsec_" + base64.b64encode(b"vietqr-simulator-secret-32-bytes").decode()


class BankSimulator:
    """Credits to one collection account, announced by signed notifications."""

    def __init__(
        self, bank_bin: str = "970403", account_number: str = "0011012345678", secret: str = SECRET
    ) -> None:
        self.bank_bin, self.account_number, self.secret = bank_bin, account_number, secret
        self.faults = Faults()
        self._ids = itertools.count(1)

    def settings(self) -> dict[str, object]:
        """Adapter settings for this account."""
        return {
            "bank_bin": self.bank_bin,
            "bank_name": "Sacombank",
            "account_number": self.account_number,
            "account_name": "So Tai chinh Ha Noi",
            "notification_secret": self.secret,
        }

    def _sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        if self.faults.wrong_signature:
            digest = bytes([digest[0] ^ 1]) + digest[1:]
        return "v1," + base64.b64encode(digest).decode()

    def credit(self, amount: int, content: str, *, timestamp: int | None = None) -> list[SimCallback]:
        """Money arrives with the payer's transfer ``content``; return the notification(s)."""
        number = next(self._ids)
        body = json.dumps(
            {
                "type": "bank.credit",
                "bank_bin": self.bank_bin,
                "account_number": self.account_number,
                "transaction_id": f"FT2633{number:07d}",
                "amount": amount + (1000 if self.faults.wrong_amount else 0),
                "currency": "VND",
                "content": content,
                "booked_at": datetime.now(timezone(timedelta(hours=7))).isoformat(timespec="seconds"),
            }
        ).encode()
        msg_id = f"msg_{number:06d}"
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": self._sign(msg_id, stamp, body),
        }
        callback = SimCallback(method="POST", body=body, headers=headers)
        return [callback, callback] if self.faults.duplicate else [callback]
