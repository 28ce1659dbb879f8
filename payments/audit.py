"""Append-only audit entries: who changed what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditEntry

_AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
# Built once, executed as Core: every state change writes one, and a unit-of-work flush of
# one row costs several times the INSERT itself.
_INSERT_AUDIT = insert(_AUDIT_LOG)


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
    """Write an audit entry in the caller's transaction.

    ``actor`` names who acted: ``api_key:<key_id>``, ``provider:<code>``, ``cli:<user>``
    or ``system:<job>``. ``detail`` must not hold secrets or personal data.
    """
    session.execute(
        _INSERT_AUDIT,
        {
            "occurred_at": utcnow(),
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "agency_id": agency_id,
            "detail": detail or {},
        },
    )
