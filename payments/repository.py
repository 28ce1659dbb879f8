"""Typed ``select()`` helpers for the payments context, and the invoice INSERT on the API's hot path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import change_log
from .change_log import Change
from .models import Agency, ApiKey, Invoice, InvoiceItem, Payment
from .state import InvoiceStatus, PaymentStatus


def get_agency_by_code(session: Session, code: str) -> Agency | None:
    """Return the agency with ``code``."""
    return session.scalars(select(Agency).where(Agency.code == code)).one_or_none()


def get_agency(session: Session, agency_id: int) -> Agency:
    """Return the agency with primary key ``agency_id``."""
    return session.get_one(Agency, agency_id)


# Built once: every API request runs it, and building it (and its cache key) anew costs more than running it.
_API_KEY_BY_KEY_ID = select(ApiKey).where(ApiKey.key_id == bindparam("key_id"))


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    """Return the API key with public id ``key_id`` (revoked or not), with its agency."""
    return session.scalars(_API_KEY_BY_KEY_ID, {"key_id": key_id}).one_or_none()


def list_api_keys(session: Session, agency_id: int) -> Sequence[ApiKey]:
    """Return an agency's API keys, oldest first."""
    return session.scalars(select(ApiKey).where(ApiKey.agency_id == agency_id).order_by(ApiKey.id)).all()


def get_invoice(session: Session, agency_id: int, public_id: str) -> Invoice | None:
    """Return the agency's invoice ``public_id``; another agency's is None."""
    return session.scalars(
        select(Invoice).where(Invoice.public_id == public_id, Invoice.agency_id == agency_id)
    ).one_or_none()


def get_invoice_by_public_id(session: Session, public_id: str) -> Invoice | None:
    """Return invoice ``public_id`` whatever its agency (for the signed checkout link)."""
    return session.scalars(select(Invoice).where(Invoice.public_id == public_id)).one_or_none()


def get_invoice_by_id(session: Session, invoice_id: int) -> Invoice:
    """Return the invoice with primary key ``invoice_id``."""
    return session.get_one(Invoice, invoice_id)


def list_invoices(
    session: Session,
    agency_id: int,
    *,
    reference: str | None,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Invoice]:
    """Return the agency's invoices matching the filters, newest first, ids below ``before_id``."""
    query = select(Invoice).where(Invoice.agency_id == agency_id)
    if reference is not None:
        query = query.where(Invoice.reference == reference)
    if status is not None:
        query = query.where(Invoice.status == InvoiceStatus(status))
    if created_from is not None:
        query = query.where(Invoice.created_at >= created_from)
    if created_to is not None:
        query = query.where(Invoice.created_at < created_to)
    if before_id is not None:
        query = query.where(Invoice.id < before_id)
    return list(session.scalars(query.order_by(Invoice.id.desc()).limit(limit)))


def list_expirable_invoices(session: Session, now: datetime, limit: int) -> Sequence[Invoice]:
    """Return open invoices whose ``expires_at`` has passed."""
    return session.scalars(
        select(Invoice)
        .where(Invoice.status == InvoiceStatus.OPEN, Invoice.expires_at <= now)
        .order_by(Invoice.expires_at)
        .limit(limit)
    ).all()


def get_payment_by_reference(session: Session, reference: str) -> Payment | None:
    """Return the payment attempt with our reference ``reference``."""
    return session.scalars(select(Payment).where(Payment.reference == reference)).one_or_none()


def get_payment_by_public_id(session: Session, public_id: str) -> Payment | None:
    """Return the payment attempt ``public_id``."""
    return session.scalars(select(Payment).where(Payment.public_id == public_id)).one_or_none()


def get_payment_by_nonce(session: Session, nonce: str) -> Payment | None:
    """Return the attempt a checkout form render created, if any."""
    return session.scalars(select(Payment).where(Payment.checkout_nonce == nonce)).one_or_none()


def list_payments(
    session: Session, invoice_id: int, *, statuses: Sequence[PaymentStatus] | None = None
) -> Sequence[Payment]:
    """Return an invoice's attempts, oldest first, optionally only in ``statuses``."""
    query = select(Payment).where(Payment.invoice_id == invoice_id)
    if statuses is not None:
        query = query.where(Payment.status.in_(list(statuses)))
    return session.scalars(query.order_by(Payment.id)).all()


def get_succeeded_payment(session: Session, invoice_id: int) -> Payment | None:
    """Return the one succeeded attempt of an invoice, if it has one."""
    return session.scalars(
        select(Payment).where(Payment.invoice_id == invoice_id, Payment.status == PaymentStatus.SUCCEEDED)
    ).one_or_none()


def _column_keys(model: type[Invoice] | type[InvoiceItem]) -> list[tuple[str, str]]:
    """(attribute, column) pairs of every mapped column but the generated primary key."""
    return [(prop.key, prop.columns[0].key) for prop in model.__mapper__.column_attrs if prop.key != "id"]


_INVOICE_COLUMNS = _column_keys(Invoice)
_ITEM_COLUMNS = [(attr, col) for attr, col in _column_keys(InvoiceItem) if attr != "invoice_id"]


def _row(fields: dict[str, Any], columns: list[tuple[str, str]], model: str) -> dict[str, Any]:
    try:
        return {col: fields[attr] for attr, col in columns}
    except KeyError as missing:
        raise ValueError(f"{model}.{missing.args[0]} must be given to insert_new_invoice") from None


def insert_new_invoice(
    session: Session, invoice: dict[str, Any], items: list[dict[str, Any]], created: Change
) -> int:
    """INSERT a new invoice and its items, with its creation's audit entry and event; return its id.

    ``invoice`` and each item give every mapped attribute but the ids (and the items'
    ``invoice_id``). Written in one round trip on PostgreSQL (:func:`change_log.insert_invoice`):
    no ORM objects and no unit-of-work flush, which cost several times the INSERTs on the
    busiest write of the API. Mapper events do not fire for these two tables (none are registered).
    """
    if session.autoflush:
        session.flush()  # whatever the caller left pending goes first, as in a unit-of-work flush
    invoice_row = _row(invoice, _INVOICE_COLUMNS, "Invoice")
    item_rows = [_row(item, _ITEM_COLUMNS, "InvoiceItem") for item in items]
    return change_log.insert_invoice(session, invoice_row, item_rows, created)
