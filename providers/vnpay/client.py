"""VNPay's merchant web API (querydr and refund share one JSON endpoint)."""

from __future__ import annotations

from typing import Any

from ..http import Timeouts, make_session, send


class VnpayClient:
    """POST signed JSON bodies to ``merchant_webapi/api/transaction``."""

    def __init__(self, api_url: str, timeouts: Timeouts) -> None:
        self._api_url = api_url
        self._timeouts = timeouts
        self._session = make_session()

    def transaction(self, body: dict[str, str]) -> dict[str, Any]:
        """Send a querydr or refund body and return VNPay's JSON answer."""
        return send(self._session, "vnpay", "POST", self._api_url, timeouts=self._timeouts, json_body=body)
