"""Append-only audit entries: who changed what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditEntry

_AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
# Built once, executed as Core: a unit-of-work flush of one row costs several times the INSERT.
_INSERT_AUDIT = insert(_AUDIT_LOG)


def audit_row(
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    agency_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the row of an audit entry made now.

    ``actor`` names who acted: ``api_key:<key_id>``, ``provider:<code>``, ``cli:<user>``
    or ``system:<job>``. ``detail`` must not hold secrets or personal data.
    """
    return {
        "occurred_at": utcnow(),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "agency_id": agency_id,
        "detail": detail or {},
    }


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    agency_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write an audit entry (see :func:`audit_row`) in the caller's transaction."""
    row = audit_row(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        agency_id=agency_id,
        detail=detail,
    )
    session.execute(_INSERT_AUDIT, row)
