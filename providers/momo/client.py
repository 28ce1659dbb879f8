"""MoMo AIO v2 endpoints: JSON POSTs under ``/v2/gateway/api``."""

from __future__ import annotations

from typing import Any

from ..http import Timeouts, make_session, send
from .mapping import CREATE_PATH, QUERY_PATH, REFUND_PATH


class MomoClient:
    """POST signed JSON bodies to MoMo."""

    def __init__(self, base_url: str, timeouts: Timeouts) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeouts = timeouts
        self._session = make_session()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return send(
            self._session, "momo", "POST", self._base_url + path, timeouts=self._timeouts, json_body=body
        )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a payment; the answer carries ``payUrl``."""
        return self._post(CREATE_PATH, body)

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        """Query a payment by ``orderId``."""
        return self._post(QUERY_PATH, body)

    def refund(self, body: dict[str, Any]) -> dict[str, Any]:
        """Refund (part of) a payment by ``transId``."""
        return self._post(REFUND_PATH, body)
