"""The audit entry and the outbox event of one change, written together, in one round trip on PostgreSQL.

Every state change writes both, and a new invoice writes them with its own row and its
items. On PostgreSQL those rows go in one statement (data-modifying CTEs), so a change
costs one round trip however many rows it writes; SQLite, which has no INSERT inside
WITH, gets one statement per table in the same transaction. Either way the rows commit
or roll back together with the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, insert, select, union_all
from sqlalchemy.orm import Session

from webhooks.models import OutboxEvent
from webhooks.outbox import RecordedEvent, event_row, noted

from .audit import audit_row
from .db import execute_precompiled
from .models import AuditEntry, Invoice, InvoiceItem

_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
_ITEMS: Table = InvoiceItem.__table__  # type: ignore[assignment]
# SQLite's statements, built once
_INSERT_INVOICE = insert(_INVOICES).returning(_INVOICES.c.id)
_INSERT_ITEMS = insert(_ITEMS)
_INSERT_AUDIT = insert(_AUDIT)
_INSERT_EVENT = insert(_OUTBOX)


@dataclass(frozen=True, slots=True)
class Change:
    """The audit entry and the outbox event of one change, as rows to insert."""

    audit: dict[str, Any]
    event: dict[str, Any]


def change(
    *,
    kind: str,
    public_id: str,
    agency_id: int,
    action: str,
    actor: str,
    data: dict[str, Any],
    detail: dict[str, Any],
) -> Change:
    """Build the rows recording ``action`` on the ``kind`` (invoice, payment) ``public_id``."""
    audit = audit_row(
        actor=actor, action=action, entity_type=kind, entity_id=public_id, agency_id=agency_id, detail=detail
    )
    event = event_row(
        agency_id=agency_id, event_type=action, aggregate_type=kind, aggregate_id=public_id, data=data
    )
    return Change(audit, event)


def write_change(session: Session, recorded: Change) -> RecordedEvent:
    """Write a change's audit entry and event in the caller's transaction."""
    if _is_postgresql(session):
        execute_precompiled(session, _audit_and_event(), _params(recorded))
    else:
        _insert_one_by_one(session, recorded)
    return noted(session, recorded.event)


def insert_invoice(
    session: Session, invoice: dict[str, Any], items: Sequence[dict[str, Any]], created: Change
) -> int:
    """Insert an invoice, its items (rows without ``invoice_id``) and its creation; return its id."""
    if _is_postgresql(session):
        params = _params(created)
        params.update({f"i_{key}": value for key, value in invoice.items()})
        for n, item in enumerate(items):
            params.update({f"t{n}_{key}": value for key, value in item.items()})
        ((invoice_id,),) = execute_precompiled(session, _invoice_with_change(len(items)), params)
    else:
        invoice_id = session.execute(_INSERT_INVOICE, invoice).scalar_one()
        if items:
            session.execute(_INSERT_ITEMS, [{"invoice_id": invoice_id, **item} for item in items])
        _insert_one_by_one(session, created)
    noted(session, created.event)
    return invoice_id


def _insert_one_by_one(session: Session, recorded: Change) -> None:
    # SQLite has no INSERT inside WITH: a statement per table, in the same transaction.
    session.execute(_INSERT_AUDIT, recorded.audit)
    session.execute(_INSERT_EVENT, recorded.event)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _params(recorded: Change) -> dict[str, Any]:
    params = {f"a_{key}": value for key, value in recorded.audit.items()}
    params.update({f"e_{key}": value for key, value in recorded.event.items()})
    return params


def _insert_of(table: Table, prefix: str, columns: Sequence[str]) -> Insert:
    return insert(table).values({c: bindparam(f"{prefix}_{c}", type_=table.c[c].type) for c in columns})


def _change_ctes() -> tuple[Any, Any]:
    audit = _insert_of(_AUDIT, "a", [c.key for c in _AUDIT.c if c.key != "id"]).cte("new_audit_entry")
    event = _insert_of(_OUTBOX, "e", [c.key for c in _OUTBOX.c]).returning(_OUTBOX.c.id).cte("new_event")
    return audit, event


@lru_cache(maxsize=1)
def _audit_and_event() -> Select[Any]:
    # Built once: execute_precompiled keys its compiled SQL by the statement object.
    audit, event = _change_ctes()
    return select(event.c.id).add_cte(audit)  # an unreferenced CTE is written only if added


@lru_cache(maxsize=64)
def _invoice_with_change(item_count: int) -> Select[tuple[int]]:
    """``WITH new_invoice AS (INSERT ... RETURNING id), new_items AS (INSERT ... SELECT), ...``."""
    invoice_columns = [c.key for c in _INVOICES.c if c.key != "id"]
    new_invoice = _insert_of(_INVOICES, "i", invoice_columns).returning(_INVOICES.c.id).cte("new_invoice")
    audit, event = _change_ctes()
    if not item_count:
        return select(new_invoice.c.id).add_cte(audit, event)
    item_columns = [c.key for c in _ITEMS.c if c.key not in ("id", "invoice_id")]
    rows = [
        select(new_invoice.c.id, *(bindparam(f"t{n}_{c}", type_=_ITEMS.c[c].type) for c in item_columns))
        for n in range(item_count)
    ]
    new_items = insert(_ITEMS).from_select(["invoice_id", *item_columns], union_all(*rows)).cte("new_items")
    return select(new_invoice.c.id).add_cte(new_items, audit, event)
