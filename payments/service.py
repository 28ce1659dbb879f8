"""Invoice use cases: create, read, list, cancel, expire. Services flush; callers commit."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from . import repository
from .change_log import change
from .checkout_links import payment_url
from .db import utcnow
from .errors import InvalidTransition, NotFound, ValidationFailed
from .ids import new_public_id
from .models import Agency, Invoice
from .schemas import CreateInvoice, ItemInput
from .state import InvoiceStatus, PaymentStatus
from .transitions import transition
from .urls import return_url_allowed


def invoice_data(invoice: Invoice | SimpleNamespace) -> dict[str, Any]:
    """Return the invoice as the API shows it (the data of invoice events).

    The document :class:`~payments.schemas.InvoiceSchema` dumps (which documents it),
    written out: marshmallow's generic dump cost 50 us of CPU on the busiest request, this
    a tenth of it. ``tests/payments/test_invoice_data.py`` holds the two equal.
    """
    return {
        "id": invoice.public_id,
        "object": "invoice",
        "reference": invoice.reference,
        "description": invoice.description,
        "status": str(invoice.status),
        "total": invoice.total,
        "currency": invoice.currency,
        "items": [
            {
                "fee_code": item.fee_code,
                "description": item.description,
                "amount": item.amount,
                "chapter_code": item.chapter_code,
                "sub_item_code": item.sub_item_code,
            }
            for item in invoice.items
        ],
        "payer": {
            "name": invoice.payer_name,
            "id_number": invoice.payer_id_number,
            "phone": invoice.payer_phone,
            "email": invoice.payer_email,
        },
        "return_url": invoice.return_url,
        "language": invoice.language,
        "metadata": dict(invoice.metadata_),
        "expires_at": invoice.expires_at.isoformat(),
        "created_at": invoice.created_at.isoformat(),
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at is not None else None,
        "payment_url": payment_url(invoice.public_id),
    }


@dataclass(frozen=True, slots=True)
class CreatedInvoice:
    """A new invoice's ids and its data as the API shows it (which its ``invoice.created`` event carries)."""

    id: int
    public_id: str
    data: dict[str, Any]


def create_invoice(session: Session, agency: Agency, command: CreateInvoice, *, actor: str) -> Invoice:
    """Create an open invoice with its items, an audit entry and an ``invoice.created`` event."""
    created = create_invoice_with_data(session, agency, command, actor=actor)
    return repository.get_invoice_by_id(session, created.id)


def create_invoice_with_data(
    session: Session, agency: Agency, command: CreateInvoice, *, actor: str
) -> CreatedInvoice:
    """Create an invoice, returning its data for the API: the busiest write, so no ORM objects are built."""
    if not return_url_allowed(command.return_url, agency.return_origins):
        raise ValidationFailed.field("return_url", "Must be on one of the agency's registered origins.")
    now = utcnow()
    expires_at = command.expires_at or now + timedelta(
        seconds=current_app.config["INVOICE_DEFAULT_TTL_SECONDS"]
    )
    _check_expiry(expires_at, now)
    invoice: dict[str, Any] = {
        "public_id": new_public_id("inv"),
        "agency_id": agency.id,
        "reference": command.reference,
        "description": command.description,
        "total": sum(item.amount for item in command.items),
        "currency": "VND",
        "payer_name": command.payer.get("name"),
        "payer_id_number": command.payer.get("id_number"),
        "payer_phone": command.payer.get("phone"),
        "payer_email": command.payer.get("email"),
        "return_url": command.return_url,
        "language": command.language,
        "metadata_": command.metadata,
        "status": InvoiceStatus.OPEN,
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
        "paid_at": None,
    }
    items = [_item_fields(n, item) for n, item in enumerate(command.items)]
    # Dumped once, before the INSERT (it needs no database id): the event carries what the API answers.
    data = invoice_data(SimpleNamespace(**invoice, items=[SimpleNamespace(**item) for item in items]))
    created = change(
        kind="invoice",
        public_id=invoice["public_id"],
        agency_id=agency.id,
        action="invoice.created",
        actor=actor,
        data=data,
        detail={"total": invoice["total"], "reference": command.reference},
    )
    invoice_id = repository.insert_new_invoice(session, invoice, items, created)
    return CreatedInvoice(invoice_id, invoice["public_id"], data)


def _item_fields(position: int, item: ItemInput) -> dict[str, Any]:
    # Not dataclasses.asdict, which deep-copies every value.
    return {
        "position": position,
        "fee_code": item.fee_code,
        "description": item.description,
        "amount": item.amount,
        "chapter_code": item.chapter_code,
        "sub_item_code": item.sub_item_code,
    }


def _check_expiry(expires_at: datetime, now: datetime) -> None:
    longest = timedelta(seconds=current_app.config["INVOICE_MAX_TTL_SECONDS"])
    if expires_at <= now + timedelta(minutes=5):
        raise ValidationFailed.field("expires_at", "Must be at least 5 minutes in the future.")
    if expires_at > now + longest:
        raise ValidationFailed.field("expires_at", f"Must be at most {longest.days} days in the future.")


def get_invoice(session: Session, agency: Agency, public_id: str) -> Invoice:
    """Return the agency's invoice or raise :class:`NotFound` (also for another agency's)."""
    invoice = repository.get_invoice(session, agency.id, public_id)
    if invoice is None:
        raise NotFound(f"No invoice {public_id}.")
    return invoice


@dataclass(frozen=True, slots=True)
class InvoicePage:
    """One page of a listing."""

    data: list[Invoice]
    has_more: bool
    next_cursor: str | None


def list_invoices(session: Session, agency: Agency, filters: dict[str, Any]) -> InvoicePage:
    """List the agency's invoices newest first, filtered, one cursor page at a time."""
    before_id = _decode_cursor(filters["cursor"]) if filters.get("cursor") else None
    limit = int(filters.get("limit", 50))
    rows = repository.list_invoices(
        session,
        agency.id,
        reference=filters.get("reference"),
        status=filters.get("status"),
        created_from=filters.get("created_from"),
        created_to=filters.get("created_to"),
        before_id=before_id,
        limit=limit + 1,
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    return InvoicePage(rows, has_more, _encode_cursor(rows[-1].id) if has_more else None)


def _encode_cursor(invoice_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{invoice_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "i" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.field("cursor", "Not a cursor this API returned.") from None


def cancel_invoice(session: Session, agency: Agency, public_id: str, *, actor: str) -> Invoice:
    """Cancel an open invoice (idempotently); a paid or expired one is a conflict."""
    invoice = get_invoice(session, agency, public_id)
    if transition(
        session, invoice, InvoiceStatus.CANCELLED, actor=actor, event_data=lambda: invoice_data(invoice)
    ):
        _close_unstarted_payments(session, invoice, PaymentStatus.CANCELLED, actor=actor)
        return invoice
    session.refresh(invoice)
    if invoice.status is InvoiceStatus.CANCELLED:
        return invoice
    raise InvalidTransition(f"Invoice {public_id} is {invoice.status.value} and cannot be cancelled.")


def expire_invoices(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Expire open invoices past ``expires_at``; return how many were expired."""
    now = now or utcnow()
    expired = 0
    for invoice in repository.list_expirable_invoices(session, now, limit):
        if transition(
            session,
            invoice,
            InvoiceStatus.EXPIRED,
            actor="system:expiry",
            event_data=partial(invoice_data, invoice),
        ):
            _close_unstarted_payments(session, invoice, PaymentStatus.EXPIRED, actor="system:expiry")
            expired += 1
    return expired


def _close_unstarted_payments(session: Session, invoice: Invoice, to: PaymentStatus, *, actor: str) -> None:
    # Only attempts the citizen never took to a provider are closed here; pending and unknown
    # ones may still succeed at the provider, so the status mop-up resolves them instead.
    from .attempts import payment_data

    for payment in repository.list_payments(session, invoice.id, statuses=[PaymentStatus.CREATED]):
        transition(session, payment, to, actor=actor, event_data=partial(payment_data, payment, invoice))
