"""What a provider's signed return-URL parameters claim: verified and shown, never applied.

VNPay (and MoMo) send the browser back with the payment result signed like the
IPN. The browser can skip or replay that redirect, so it never changes our
records; but once the signature verifies, the return page may tell the citizen
that the provider reports success while its server-to-server confirmation is on
its way, instead of leaving them to wonder whether to pay again.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.base import CallbackRequest, Outcome
from providers.errors import ProviderError

from .models import Agency, Payment
from .provider_registry import get_registry


def provider_claim(payment: Payment, agency: Agency, query: Mapping[str, str]) -> Outcome | None:
    """The outcome the signed return parameters state about ``payment``, or None if they do not verify."""
    if not query:
        return None
    try:
        adapter = get_registry().for_agency(payment.provider_code, agency.code)
        event = adapter.parse_callback(CallbackRequest("GET", "/pay/return", {}, dict(query), b""))
    except ProviderError:
        return None
    return event.outcome if event.reference == payment.reference else None
