"""Append-only audit entries: who changed what, when."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditEntry

_AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
# Built once, executed as Core: a unit-of-work flush of one row costs several times the INSERT.
_INSERT_AUDIT = insert(_AUDIT_LOG)


class AuditFields(TypedDict):
    """What an audit entry says, named once for :func:`audit_row` and :func:`record_audit`.

    ``actor`` names who acted: ``api_key:<key_id>``, ``provider:<code>``, ``cli:<user>``
    or ``system:<job>``. ``detail`` must not hold secrets or personal data.
    """

    actor: str
    action: str
    entity_type: str
    entity_id: str
    agency_id: NotRequired[int | None]
    detail: NotRequired[dict[str, Any] | None]


def audit_row(**fields: Unpack[AuditFields]) -> dict[str, Any]:
    """Return the row of an audit entry made now."""
    return {
        "occurred_at": utcnow(),
        "actor": fields["actor"],
        "action": fields["action"],
        "entity_type": fields["entity_type"],
        "entity_id": fields["entity_id"],
        "agency_id": fields.get("agency_id"),
        "detail": fields.get("detail") or {},
    }


def record_audit(session: Session, **fields: Unpack[AuditFields]) -> None:
    """Write an audit entry (see :func:`audit_row`) in the caller's transaction."""
    session.execute(_INSERT_AUDIT, audit_row(**fields))
