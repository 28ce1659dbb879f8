"""Drive a payment attempt to the sandbox bank and play the bank's signed callbacks back at us.

The callbacks are built exactly as ``providers.sandbox.bank`` builds them (compact
JSON, ``X-Sandbox-Signature: t=...,v1=...``), so a test can send any outcome,
in any order, as often as it likes, and tamper with any part of it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from payments.models import AuditEntry, Invoice, Payment
from providers.sandbox.signature import SIGNATURE_HEADER, sign_body
from tests.factories import AgencyWithKey, csrf_token, form_fields
from webhooks.models import InboundCallback, OutboxEvent

CALLBACK_PATH = "/callbacks/sandbox"


def path_of(url: str) -> str:
    """Return the path and query of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass(frozen=True)
class Attempt:
    """A sandbox attempt as the bank saw it in the signed redirect."""

    invoice_id: str
    reference: str
    merchant: str
    amount: int
    currency: str


def start_sandbox_attempt(client: FlaskClient, invoice: dict[str, Any]) -> Attempt:
    """Choose the sandbox on the invoice's checkout page; return the attempt the bank is asked to pay."""
    html = client.get(path_of(invoice["payment_url"])).get_data(as_text=True)
    chosen = client.post(
        path_of(invoice["payment_url"]),
        data={"csrf_token": csrf_token(html), "provider": "sandbox", "nonce": form_fields(html)["nonce"]},
    )
    assert chosen.status_code == 303, chosen.get_data(as_text=True)
    params = {k: v[0] for k, v in parse_qs(urlsplit(chosen.headers["Location"]).query).items()}
    return Attempt(
        invoice_id=invoice["id"],
        reference=params["reference"],
        merchant=params["merchant"],
        amount=int(params["amount"]),
        currency=params["currency"],
    )


def new_transaction_id() -> str:
    """Return a transaction id in the bank's format."""
    return "SBX" + secrets.token_hex(8).upper()


def callback_body(
    attempt: Attempt,
    status: str = "succeeded",
    *,
    transaction_id: str | None = None,
    **overrides: Any,
) -> bytes:
    """Return the raw JSON body the bank would send for ``attempt`` (fields overridable)."""
    fields: dict[str, Any] = {
        "merchant": attempt.merchant,
        "reference": attempt.reference,
        "transaction_id": transaction_id or new_transaction_id(),
        "status": status,
        "amount": attempt.amount,
        "currency": attempt.currency,
    }
    fields.update(overrides)
    return json.dumps(fields, separators=(",", ":")).encode()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Return the headers the bank sends with ``body``."""
    return {SIGNATURE_HEADER: sign_body(secret, body, timestamp), "Content-Type": "application/json"}


def sandbox_secret(client: FlaskClient) -> str:
    """Return the shared secret the app verifies sandbox callbacks with."""
    return str(client.application.config["PROVIDERS"]["sandbox"]["secret"])


def post_callback(
    client: FlaskClient,
    body: bytes,
    headers: dict[str, str],
    *,
    path: str = CALLBACK_PATH,
    method: str = "POST",
) -> TestResponse:
    """Deliver a raw callback the way the bank does."""
    return client.open(path, method=method, data=body, headers=headers)


def send_callback(
    client: FlaskClient,
    attempt: Attempt,
    status: str = "succeeded",
    *,
    transaction_id: str | None = None,
    **overrides: Any,
) -> TestResponse:
    """Build, sign and deliver one callback about ``attempt``."""
    body = callback_body(attempt, status, transaction_id=transaction_id, **overrides)
    return post_callback(client, body, signed_headers(sandbox_secret(client), body))


def snapshot(session: Session) -> dict[str, Any]:
    """Return everything a callback may change except the inbox, then end the read transaction.

    Ending it matters on SQLite, where every transaction holds the write lock the app needs next.
    """
    try:
        return {
            "invoices": session.execute(
                select(Invoice.public_id, Invoice.status, Invoice.paid_at).order_by(Invoice.id)
            ).all(),
            "payments": session.execute(
                select(
                    Payment.reference, Payment.status, Payment.review_reason, Payment.provider_ref
                ).order_by(Payment.id)
            ).all(),
            "audit": session.execute(
                select(AuditEntry.action, AuditEntry.entity_id).order_by(AuditEntry.id)
            ).all(),
            "events": sorted(session.execute(select(OutboxEvent.event_type, OutboxEvent.aggregate_id)).all()),
        }
    finally:
        session.rollback()


def inbox_rows(session: Session) -> list[InboundCallback]:
    """Return every stored callback, oldest first (detached from the read transaction)."""
    try:
        rows = list(session.scalars(select(InboundCallback).order_by(InboundCallback.id)))
        session.expunge_all()
        return rows
    finally:
        session.rollback()


def payment_row(session: Session, reference: str) -> Payment:
    """Return the attempt with ``reference`` as the database has it now."""
    try:
        payment = session.scalars(select(Payment).where(Payment.reference == reference)).one()
        session.expunge(payment)
        return payment
    finally:
        session.rollback()


def result_of(response: TestResponse) -> str:
    """Return what the sandbox answer says we did with the callback."""
    assert response.content_type == "application/json"
    return str(json.loads(response.get_data())["result"])


def invoice_status(client: FlaskClient, agency: AgencyWithKey, invoice_id: str) -> str:
    """Return the invoice's status as the API reports it."""
    return str(client.get(f"/api/v1/invoices/{invoice_id}", headers=agency.headers).get_json()["status"])
