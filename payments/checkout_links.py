"""The signed links that send a citizen to the hosted checkout and back."""

from __future__ import annotations

from flask import current_app

from .signing import PAY_LINK, RETURN_LINK, sign, unsign


def payment_url(invoice_public_id: str) -> str:
    """Return the citizen's checkout link for an invoice (valid until the invoice can no longer be paid)."""
    return f"{current_app.config['BASE_URL']}/pay/{sign(PAY_LINK, invoice_public_id)}"


def invoice_id_from_pay_token(token: str) -> str:
    """Return the invoice id a checkout token was signed for; raise ``LinkInvalid``/``LinkExpired``."""
    # The token outlives no invoice: the longest an invoice may stay open, plus a day of grace
    # so the citizen sees "expired" rather than "invalid link".
    max_age = int(current_app.config["INVOICE_MAX_TTL_SECONDS"]) + 24 * 3600
    return unsign(PAY_LINK, token, max_age=max_age)


def return_url_for(payment_public_id: str) -> str:
    """Return our own return page for a payment attempt (the provider sends the browser here)."""
    return f"{current_app.config['BASE_URL']}/pay/return/{sign(RETURN_LINK, payment_public_id)}"


def payment_id_from_return_token(token: str) -> str:
    """Return the payment id a return token was signed for."""
    return unsign(RETURN_LINK, token, max_age=int(current_app.config["INVOICE_MAX_TTL_SECONDS"]))


def callback_url_for(provider_code: str) -> str:
    """Return our callback endpoint for ``provider_code``."""
    return f"{current_app.config['BASE_URL']}/callbacks/{provider_code}"
