"""The citizen's hosted checkout: choose a provider, go pay, come back to the truth from our database."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, g, redirect, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from providers.base import Redirect
from providers.errors import UnknownProvider

from . import attempts, i18n, repository
from .checkout_links import invoice_id_from_pay_token, payment_id_from_return_token
from .db import get_session, utcnow
from .errors import InvoiceNotPayable
from .models import Invoice, Payment
from .provider_registry import get_registry
from .return_check import provider_claim
from .signing import PAY_LINK, RETURN_LINK, LinkInvalid, sign
from .state import InvoiceStatus, PaymentStatus

bp = Blueprint("checkout", __name__, url_prefix="/pay")
bp.before_request(i18n.remember_language)


@bp.app_errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> tuple[str, int]:
    """Explain a rejected form in the citizen's words (the token expired or the cookie was lost)."""
    detail = gettext("This page was open for too long. Please go back, reload the page and try again.")
    return render_template("error.html", status=400, detail=detail), 400


def _invoice_for(token: str) -> Invoice:
    try:
        public_id = invoice_id_from_pay_token(token)
    except LinkInvalid:  # LinkExpired included: the page cannot tell the citizen more than "invalid"
        abort(404)
    invoice = repository.get_invoice_by_public_id(get_session(), public_id)
    if invoice is None:
        abort(404)
    g.page_language = invoice.language
    return invoice


def _status_page(invoice: Invoice, token: str) -> tuple[str, int]:
    status = invoice.status.value
    if invoice.status is InvoiceStatus.OPEN:
        status = "expired"  # open but past expires_at: the expiry job has not run yet
    agency = repository.get_agency(get_session(), invoice.agency_id)
    page = render_template("invoice_status.html", invoice=invoice, agency=agency, status=status, token=token)
    return page, 200


@bp.get("/<token>")
def show(token: str) -> tuple[str, int]:
    """Show the invoice and the providers the agency accepts, or why it cannot be paid."""
    invoice = _invoice_for(token)
    if invoice.status is not InvoiceStatus.OPEN or invoice.expires_at <= utcnow():
        return _status_page(invoice, token)
    agency = repository.get_agency(get_session(), invoice.agency_id)
    registry = get_registry()
    providers = []
    for code in agency.enabled_providers:
        try:
            # Brand names have no catalogue entry and pass through; the sandbox bank's has one.
            # for_agency, not adapter_class: a provider without credentials is not offered.
            providers.append((code, gettext(registry.for_agency(code, agency.code).display_name)))
        except UnknownProvider:
            continue
    return render_template(
        "checkout.html",
        invoice=invoice,
        agency=agency,
        providers=providers,
        token=token,
        nonce=secrets.token_urlsafe(16),
    ), 200


@bp.post("/<token>")
def start(token: str) -> Response | tuple[str, int]:
    """Create a payment attempt with the chosen provider and send the citizen there."""
    invoice = _invoice_for(token)
    session = get_session()
    agency = repository.get_agency(session, invoice.agency_id)
    provider_code = request.form.get("provider", "")
    try:
        if provider_code not in agency.enabled_providers:
            raise UnknownProvider(provider_code)
        adapter = get_registry().for_agency(provider_code, agency.code)  # no credentials: not listed
    except UnknownProvider:
        abort(400, description=gettext("Please choose one of the listed payment methods."))
    try:
        payment = attempts.create_attempt(
            session, invoice, provider_code, nonce=request.form.get("nonce") or None, actor="citizen"
        )
    except InvoiceNotPayable:
        return _status_page(invoice, token)
    session.commit()  # phase 1: the attempt exists before the provider hears of it
    client_ip = request.remote_addr or ""
    attempts.launch_attempt(
        session, adapter, payment, invoice, client_ip=client_ip, language=i18n.chosen_language()
    )
    session.commit()  # phase 2: what the provider said
    return _next_step(payment, invoice, token)


def _next_step(payment: Payment, invoice: Invoice, token: str) -> Response | tuple[str, int]:
    if payment.status is not PaymentStatus.PENDING or not payment.next_action:
        return redirect(f"/pay/return/{sign(RETURN_LINK, payment.public_id)}", code=303)
    action = attempts.next_action_from_dict(payment.next_action)
    if isinstance(action, Redirect) and action.method == "GET":
        return redirect(action.url, code=303)
    if isinstance(action, Redirect):
        return render_template("redirect_form.html", action=action, invoice=invoice), 200
    return render_template(
        "qr.html",
        action=action,
        invoice=invoice,
        payment=payment,
        token=token,
        return_token=sign(RETURN_LINK, payment.public_id),
    ), 200


@bp.get("/return/<token>")
def returned(token: str) -> tuple[str, int]:
    """Show the outcome as our database knows it (never as the query string claims)."""
    try:
        public_id = payment_id_from_return_token(token)
    except LinkInvalid:
        abort(404)
    session = get_session()
    payment = repository.get_payment_by_public_id(session, public_id)
    if payment is None:
        abort(404)
    invoice = repository.get_invoice_by_id(session, payment.invoice_id)
    g.page_language = invoice.language
    agency = repository.get_agency(session, invoice.agency_id)
    claim = provider_claim(payment, agency, request.args.to_dict()) if payment.status in _OPEN else None
    return render_template(
        "return.html",
        payment=payment,
        invoice=invoice,
        agency=agency,
        pay_token=sign(PAY_LINK, invoice.public_id),
        provider_claim=claim.value if claim else None,
    ), 200


_OPEN = (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.UNKNOWN)
