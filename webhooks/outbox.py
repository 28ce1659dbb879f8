"""Write outbox events; delivery reads them later, so nothing is lost if a broker is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from payments.db import utcnow

from .models import OutboxEvent

#: ``session.info`` key: ids of the events written in the session's open transaction (read by the kick)
NEW_EVENT_IDS = "feegate.outbox.new_event_ids"

_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
# Built once, executed as Core: an event is written on every state change, and a unit-of-work
# flush of one row costs several times the INSERT itself.
_INSERT_EVENT = insert(_OUTBOX)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event written in the caller's transaction."""

    id: str
    event_type: str
    created_at: datetime
    data: dict[str, Any]


class EventFields(TypedDict):
    """What an event says, named once for :func:`event_row` and :func:`record_event`."""

    agency_id: int
    event_type: str
    aggregate_type: str
    aggregate_id: str
    data: dict[str, Any]
    created_at: NotRequired[datetime | None]


def event_row(**fields: Unpack[EventFields]) -> dict[str, Any]:
    """Return the row of a new event with a fresh id (``evt_`` + uuid4 hex: its webhook-id)."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "agency_id": fields["agency_id"],
        "event_type": fields["event_type"],
        "aggregate_type": fields["aggregate_type"],
        "aggregate_id": fields["aggregate_id"],
        "data": fields["data"],
        "created_at": fields.get("created_at") or utcnow(),
    }


def record_event(session: Session, **fields: Unpack[EventFields]) -> RecordedEvent:
    """Write one event in the caller's transaction; it exists exactly when the change commits."""
    row = event_row(**fields)
    session.execute(_INSERT_EVENT, row)
    return noted(session, row)


def noted(session: Session, row: dict[str, Any]) -> RecordedEvent:
    """Remember an event row just written in ``session``'s transaction, for the kick after commit."""
    session.info.setdefault(NEW_EVENT_IDS, []).append(row["id"])
    return RecordedEvent(row["id"], row["event_type"], row["created_at"], row["data"])
