"""ZaloPay OpenAPI v2 endpoints: form-encoded POSTs."""

from __future__ import annotations

from typing import Any

from ..http import Timeouts, make_session, send
from .mapping import CREATE_PATH, QUERY_PATH, REFUND_PATH


class ZalopayClient:
    """POST MAC'd forms to ZaloPay."""

    def __init__(self, base_url: str, timeouts: Timeouts) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeouts = timeouts
        self._session = make_session()

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        url = self._base_url + path
        return send(self._session, "zalopay", "POST", url, timeouts=self._timeouts, form=form)

    def create(self, form: dict[str, str]) -> dict[str, Any]:
        """Create an order; the answer carries ``order_url``."""
        return self._post(CREATE_PATH, form)

    def query(self, form: dict[str, str]) -> dict[str, Any]:
        """Query an order by ``app_trans_id`` (valid for 48 hours)."""
        return self._post(QUERY_PATH, form)

    def refund(self, form: dict[str, str]) -> dict[str, Any]:
        """Refund (part of) an order by ``zp_trans_id``."""
        return self._post(REFUND_PATH, form)
