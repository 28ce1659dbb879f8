"""Typed ``select()`` helpers for the payments context, and the invoice INSERT on the API's hot path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

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


_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_ITEMS: Table = InvoiceItem.__table__  # type: ignore[assignment]
_INVOICE_COLUMNS = _column_keys(Invoice)
_ITEM_COLUMNS = [(attr, col) for attr, col in _column_keys(InvoiceItem) if attr != "invoice_id"]
# Built once: a statement object caches its compiled form and cache key.
_INSERT_INVOICE = insert(_INVOICES).returning(_INVOICES.c.id)
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, sort_by_parameter_order=True)


def _values(obj: Invoice | InvoiceItem, columns: list[tuple[str, str]], table: Table) -> dict[str, Any]:
    # An unset attribute would be expired (and lazily SELECTed) once the object is persistent,
    # and a column default would be skipped: so unset is allowed only for a plain nullable column.
    loaded = obj.__dict__
    values: dict[str, Any] = {}
    for attr, col in columns:
        if attr not in loaded:
            if table.c[col].default is not None or not table.c[col].nullable:
                raise ValueError(f"{type(obj).__name__}.{attr} must be set before insert_new_invoice")
            setattr(obj, attr, None)
        values[col] = loaded[attr]
    return values


def insert_new_invoice(session: Session, invoice: Invoice) -> None:
    """INSERT a new invoice and its items in the session's transaction and make them persistent.

    The same rows and the same persistent objects as ``session.add(invoice); session.flush()``,
    with two Core statements instead of a unit-of-work flush, which costs several times more
    CPU on the busiest write of the API. Every column but ``id`` must be set on the objects.
    Mapper ``before_insert``/``after_insert`` events do not fire for these two tables (none
    are registered); session flush events still fire for the audit entry and the event.
    """
    items = list(invoice.items)
    if session.autoflush:
        session.flush()  # whatever the caller left pending goes first, as in a unit-of-work flush
    values = _values(invoice, _INVOICE_COLUMNS, _INVOICES)
    invoice_id = session.execute(_INSERT_INVOICE, values).scalar_one()
    rows = [{"invoice_id": invoice_id, **_values(item, _ITEM_COLUMNS, _ITEMS)} for item in items]
    item_ids = session.execute(_INSERT_ITEMS, rows).scalars().all() if rows else []
    invoice.id = invoice_id
    for item, item_id in zip(items, item_ids, strict=True):
        item.id = item_id
        item.invoice_id = invoice_id
        make_transient_to_detached(item)
    make_transient_to_detached(invoice)
    session.add(invoice)
