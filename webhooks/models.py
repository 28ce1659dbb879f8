"""The inbound callback inbox and the outbound event outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, BigIntId, UTCDateTime, utcnow


class InboundCallback(Base):
    """Every provider callback, stored raw (secrets masked) with what we made of it.

    ``dedupe_key`` is set only on the first verified copy of a provider statement;
    the unique index makes every later copy a harmless duplicate, even under
    concurrency (NULLs never collide, so rejected or duplicate rows are kept too).
    """

    __tablename__ = "inbound_callbacks"
    __table_args__ = (Index("uq_inbound_callbacks_dedupe", "provider_code", "dedupe_key", unique=True),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    provider_code: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(255))
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    payment_reference: Mapped[str | None] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(24))  # a providers.base.CallbackResult value
    detail: Mapped[str] = mapped_column(String(255), default="")
    method: Mapped[str] = mapped_column(String(8))
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    query: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """An event for portal backends, written in the same transaction as its state change."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_agency_created", "agency_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "evt_" + uuid4 hex; the webhook-id
    agency_id: Mapped[int] = mapped_column(BigIntId)  # no foreign key (migration 0009): see Invoice.agency_id
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
