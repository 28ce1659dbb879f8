"""Portal webhook endpoints, one delivery per (event, endpoint), and the log of every attempt."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, BigIntId, UTCDateTime
from webhooks.models import OutboxEvent

#: the event types a portal may subscribe to; later issues append theirs
EVENT_TYPES: tuple[str, ...] = (
    "invoice.paid",
    "invoice.expired",
    "invoice.cancelled",
    "payment.failed",
    "payment.needs_review",
    "refund.succeeded",
    "refund.failed",
    "reconciliation.completed",
)
TEST_EVENT_TYPE = "webhook.test"  # sent by `webhooks send-test`; never subscribable


class DeliveryStatus(enum.StrEnum):
    """Where one (event, endpoint) delivery stands."""

    PENDING = "pending"  # waiting for its next attempt at next_attempt_at
    IN_FLIGHT = "in_flight"  # claimed by a worker until lease_expires_at
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # retries exhausted (or the endpoint answered 410); replayable
    SKIPPED = "skipped"  # not sent: violates security rules, or the endpoint is disabled


ACTIVE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)


class WebhookEndpoint(Base):
    """A portal's HTTPS URL that receives the event types it subscribed to."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # The signing secret must be readable to sign; it is shown to the portal only once.
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEventDispatch(Base):
    """Marks an outbox event as fanned out into deliveries, so a sweep never does it twice."""

    __tablename__ = "webhook_event_dispatches"

    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event on its way to one endpoint; the claim token makes every write a compare-and-set."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        # Only rows that still need work stay in the hot index.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'in_flight')"),
            sqlite_where=text("status IN ('pending', 'in_flight')"),
        ),
        Index("ix_webhook_deliveries_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: bumped by every claim; a worker may write only while the token it claimed is current
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    #: failures since creation or the last replay; drives the retry schedule
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One HTTP attempt, kept at least 30 days: when, answer, latency, first bytes."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt_number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(45))


# The sweep looks for undispatched events by creation time across all agencies; the
# foundation's (agency_id, created_at) index cannot serve that.
Index("ix_outbox_events_created_at", OutboxEvent.created_at)
