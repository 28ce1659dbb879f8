"""Append-only audit entries: who changed what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEntry


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    agency_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction.

    ``actor`` names who acted: ``api_key:<key_id>``, ``provider:<code>``, ``cli:<user>``
    or ``system:<job>``. ``detail`` must not hold secrets or personal data.
    """
    entry = AuditEntry(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        agency_id=agency_id,
        detail=detail or {},
    )
    session.add(entry)
    return entry
