"""Apply one edge of the transition table: compare-and-set, audit entry and outbox event together.

Every status change of an invoice or a payment goes through :func:`transition`,
so the three always travel in one transaction: if the change commits, its audit
entry and its event commit with it; if it is rolled back, neither exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .change_log import Change, change, write_change
from .db import utcnow
from .models import Invoice, Payment
from .state import InvoiceStatus, PaymentStatus, allowed_sources, is_terminal

Entity = Invoice | Payment


def transition(
    session: Session,
    entity: Entity,
    to: InvoiceStatus | PaymentStatus,
    *,
    actor: str,
    event_data: Callable[[], dict[str, Any]],
    values: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move ``entity`` to ``to`` if, in the database, it is in an allowed source state.

    Returns False (and writes nothing) when the row was not in an allowed state:
    another transaction changed it first, or the edge is not in the table.
    ``event_data`` builds the outbox payload from the updated entity.
    """
    model = type(entity)
    sources = allowed_sources(to)
    if not sources:
        return False
    # Lock the row and read the status it has now: the copy in memory may be older than a
    # transaction that committed since, and the audit entry must name the edge really taken.
    # (SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already serialises writers.)
    current = select(model.status).where(model.id == entity.id).with_for_update()
    from_status = session.execute(current).scalar_one()
    if from_status not in sources:
        set_committed_value(entity, "status", from_status)
        return False
    now = utcnow()
    changes: dict[str, Any] = {"status": to, "updated_at": now, **(values or {})}
    if isinstance(entity, Payment) and is_terminal(to):
        changes.setdefault("finished_at", now)
    result = session.execute(
        update(model)
        .where(model.id == entity.id, model.status.in_(list(sources)))
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    for key, value in changes.items():
        set_committed_value(entity, key, value)
    kind = "invoice" if isinstance(entity, Invoice) else "payment"
    record_change(
        session,
        entity,
        f"{kind}.{to.value}",
        actor=actor,
        data=event_data(),
        detail={"from": from_status.value, "to": to.value, **(detail or {})},
    )
    return True


def record_change(
    session: Session, entity: Entity, action: str, *, actor: str, data: dict[str, Any], detail: dict[str, Any]
) -> None:
    """Write the audit entry and the outbox event of one change, in the caller's transaction."""
    write_change(session, change_of(entity, action, actor=actor, data=data, detail=detail))


def change_of(
    entity: Entity, action: str, *, actor: str, data: dict[str, Any], detail: dict[str, Any]
) -> Change:
    """Return the audit entry and outbox event rows of ``action`` on ``entity``, to write."""
    return change(
        kind="invoice" if isinstance(entity, Invoice) else "payment",
        public_id=entity.public_id,
        agency_id=entity.agency_id,
        action=action,
        actor=actor,
        data=data,
        detail=detail,
    )


def flag_for_review(
    session: Session,
    payment: Payment,
    reason: str,
    *,
    actor: str,
    event_data: Callable[[], dict[str, Any]],
    detail: dict[str, Any] | None = None,
) -> bool:
    """Mark ``payment`` as needing a person's review for ``reason``; False if it already was, for that reason.

    A new reason replaces an older one on the row (the latest is what a person must act on,
    e.g. a refund after an amount mismatch) and is audited and announced; the audit log keeps all.
    """
    result = session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id, or_(Payment.review_reason.is_(None), Payment.review_reason != reason)
        )
        .values(review_reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(payment, "review_reason", reason)
    record_change(
        session,
        payment,
        "payment.needs_review",
        actor=actor,
        data=event_data(),
        detail={"reason": reason, **(detail or {})},
    )
    return True
