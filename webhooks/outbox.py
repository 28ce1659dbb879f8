"""Write outbox events; delivery reads them later, so nothing is lost if a broker is."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from .models import OutboxEvent


def record_event(
    session: Session,
    *,
    agency_id: int,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    data: dict[str, Any],
) -> OutboxEvent:
    """Add one event to the caller's transaction; it exists exactly when the change commits."""
    event = OutboxEvent(
        id=f"evt_{uuid.uuid4().hex}",
        agency_id=agency_id,
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        data=data,
    )
    session.add(event)
    return event
