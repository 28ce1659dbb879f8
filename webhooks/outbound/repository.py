"""Typed queries for endpoints and deliveries, including the claim that makes workers safe to race.

Every write to a claimed delivery is a compare-and-set on ``(id, claim_token)``: a
worker whose lease expired and was re-claimed elsewhere can no longer change the row.
On PostgreSQL the claim also skips rows another worker has locked (``SKIP LOCKED``);
SQLite serialises writers, so the same statements are safe there without row locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webhooks.models import OutboxEvent

from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventDispatch

_deliveries = cast(Table, WebhookDelivery.__table__)


@dataclass(frozen=True, slots=True, order=True)
class Claim:
    """A worker's right to attempt one delivery, valid while ``token`` is the row's claim token."""

    delivery_id: int
    token: int


@dataclass(frozen=True, slots=True)
class Held:
    """A renewed claim with the delivery's counters; only the token holder changes them."""

    claim: Claim
    event_id: str
    endpoint_id: int
    attempt_count: int
    failed_attempts: int


def get_endpoint(session: Session, agency_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    """Return the agency's endpoint, or None (other agencies' endpoints do not exist for it)."""
    return session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.agency_id == agency_id
        )
    )


def list_endpoints(session: Session, agency_id: int) -> Sequence[WebhookEndpoint]:
    """Return the agency's endpoints, oldest first."""
    return session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.agency_id == agency_id).order_by(WebhookEndpoint.id)
    ).all()


def undispatched_events(
    session: Session, since: datetime, limit: int, event_ids: Iterable[str] | None = None
) -> Sequence[OutboxEvent]:
    """Return outbox events created since ``since`` that were not fanned out yet, oldest first."""
    query = (
        select(OutboxEvent)
        .outerjoin(WebhookEventDispatch, WebhookEventDispatch.event_id == OutboxEvent.id)
        .where(WebhookEventDispatch.event_id.is_(None), OutboxEvent.created_at >= since)
    )
    if event_ids is not None:
        query = query.where(OutboxEvent.id.in_(list(event_ids)))
    return session.scalars(query.order_by(OutboxEvent.created_at, OutboxEvent.id).limit(limit)).all()


def mark_dispatched(session: Session, event_ids: Sequence[str], now: datetime) -> set[str]:
    """Insert dispatch marks, skipping ones that exist; return the event ids this call marked."""
    if not event_ids:
        return set()
    rows = [{"event_id": event_id, "dispatched_at": now} for event_id in sorted(event_ids)]
    # Rows as executemany parameters, not a VALUES list: the statement compiles once, whatever the count.
    stmt = (
        _insert_for(session)(WebhookEventDispatch)
        .on_conflict_do_nothing()
        .returning(WebhookEventDispatch.event_id)
    )
    return set(session.scalars(stmt, rows).all())


def endpoints_and_events(
    session: Session, held: Sequence[Held]
) -> dict[int, tuple[WebhookEndpoint, OutboxEvent]]:
    """Load held deliveries' endpoints (fresh: one may just have been disabled) and events, by delivery id."""
    rows = session.execute(
        select(WebhookDelivery.id, WebhookEndpoint, OutboxEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_([h.claim.delivery_id for h in held]))
        .execution_options(populate_existing=True)
    ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def disable_endpoint(session: Session, endpoint_id: int, reason: str, now: datetime) -> None:
    """Disable an endpoint (its pending deliveries are then skipped)."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def insert_deliveries(session: Session, pairs: Sequence[tuple[str, int]], now: datetime) -> list[int]:
    """Create pending deliveries for ``(event_id, endpoint_id)`` pairs that have none; return new ids."""
    if not pairs:
        return []
    rows = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": now,
            "claim_token": 0,
            "attempt_count": 0,
            "failed_attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for event_id, endpoint_id in pairs
    ]
    stmt = _insert_for(session)(WebhookDelivery).on_conflict_do_nothing().returning(WebhookDelivery.id)
    return sorted(session.scalars(stmt, rows).all())


def _insert_for(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def enabled_endpoints(session: Session, agency_ids: Iterable[int]) -> Sequence[WebhookEndpoint]:
    """Return the enabled endpoints of these agencies."""
    return session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.agency_id.in_(set(agency_ids)), WebhookEndpoint.enabled.is_(True)
        )
    ).all()


def _due(now: datetime) -> Any:
    return or_(
        and_(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == DeliveryStatus.IN_FLIGHT, WebhookDelivery.lease_expires_at < now),
    )


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Claim up to ``limit`` due or lease-expired deliveries, skipping rows others hold."""
    ids = session.scalars(
        select(WebhookDelivery.id)
        .where(_due(now))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return claim_ids(session, ids, now, lease_until)


def claim_ids(session: Session, ids: Sequence[int], now: datetime, lease_until: datetime) -> list[Claim]:
    """Claim these deliveries if they are still due (compare-and-set); return the claims won."""
    return [held.claim for held in claim_and_hold(session, ids, now, lease_until)]


def claim_and_hold(session: Session, ids: Sequence[int], now: datetime, lease_until: datetime) -> list[Held]:
    """Claim these deliveries if still due, answering what an attempt needs (no renewal round trip)."""
    if not ids:
        return []
    rows = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(ids)), _due(now))
        .values(
            status=DeliveryStatus.IN_FLIGHT,
            claim_token=WebhookDelivery.claim_token + 1,
            lease_expires_at=lease_until,
            updated_at=now,
        )
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.claim_token,
            WebhookDelivery.event_id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.attempt_count,
            WebhookDelivery.failed_attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    held = [Held(Claim(row[0], row[1]), row[2], row[3], row[4], row[5]) for row in rows]
    return sorted(held, key=lambda h: h.claim)


def renew_claims(
    session: Session, claims: Sequence[Claim], now: datetime, lease_until: datetime
) -> list[Held]:
    """Set the lease for the attempts about to start; drop claims another worker took over.

    An expired lease is still ours while the token is: a sweep that re-claims it bumps the
    token in the same row, and the two updates serialise, so exactly one of them wins.
    """
    if not claims:
        return []
    tokens = {c.delivery_id: c.token for c in claims}
    rows = session.execute(
        update(WebhookDelivery)
        .where(
            tuple_(WebhookDelivery.id, WebhookDelivery.claim_token).in_(
                [(c.delivery_id, c.token) for c in claims]
            ),
            WebhookDelivery.status == DeliveryStatus.IN_FLIGHT,
        )
        .values(lease_expires_at=lease_until, updated_at=now)
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.event_id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.attempt_count,
            WebhookDelivery.failed_attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    held = [Held(Claim(row[0], tokens[row[0]]), row[1], row[2], row[3], row[4]) for row in rows]
    return sorted(held, key=lambda h: h.claim)


def finish_claim(session: Session, claim: Claim, values: dict[str, Any]) -> bool:
    """Write the attempt's result to the delivery if the claim is still current."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claim.delivery_id,
            WebhookDelivery.claim_token == claim.token,
            WebhookDelivery.status == DeliveryStatus.IN_FLIGHT,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


#: a delivery result's columns; None in the three kept ones leaves the column as it was
RESULT_COLUMNS = (
    "status",
    "attempt_count",
    "last_status_code",
    "last_error",
    "updated_at",
    "failed_attempts",
    "next_attempt_at",
    "finished_at",
)
_KEPT_WHEN_NONE = ("failed_attempts", "next_attempt_at", "finished_at")

# One executemany statement for a batch of results; compiled once.
_finish_many = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("b_id"))
    .values(
        lease_expires_at=None,
        **{
            name: (
                func.coalesce(bindparam(f"b_{name}", type_=_deliveries.c[name].type), _deliveries.c[name])
                if name in _KEPT_WHEN_NONE
                else bindparam(f"b_{name}", type_=_deliveries.c[name].type)
            )
            for name in RESULT_COLUMNS
        },
    )
)


def finish_claims(session: Session, results: Sequence[tuple[Claim, dict[str, Any]]]) -> set[Claim]:
    """Write a batch of attempt results where the claims are still current; return those claims.

    The rows still ours are locked first (in id order, so two batches cannot deadlock),
    which makes the executemany update that follows a compare-and-set for the whole batch.
    """
    if not results:
        return set()
    if len(results) == 1:  # the common inline case: one compare-and-set statement
        ((claim, values),) = results
        return {claim} if finish_claim(session, claim, {**values, "lease_expires_at": None}) else set()
    current = set(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                tuple_(WebhookDelivery.id, WebhookDelivery.claim_token).in_(
                    [(claim.delivery_id, claim.token) for claim, _ in results]
                ),
                WebhookDelivery.status == DeliveryStatus.IN_FLIGHT,
            )
            .order_by(WebhookDelivery.id)
            .with_for_update()
        ).all()
    )
    won = [(claim, values) for claim, values in results if claim.delivery_id in current]
    if won:
        rows = [
            {"b_id": claim.delivery_id, **{f"b_{name}": values.get(name) for name in RESULT_COLUMNS}}
            for claim, values in won
        ]
        session.connection().execute(_finish_many, rows)
    return {claim for claim, _ in won}


def add_attempts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append attempt log rows in one statement."""
    if rows:
        session.execute(insert(WebhookAttempt), list(rows))


def recent_deliveries(
    session: Session,
    *,
    status: str | None,
    limit: int,
    agency_id: int | None = None,
    endpoint_id: int | None = None,
) -> Sequence[WebhookDelivery]:
    """Return recent deliveries, newest first, optionally of one status, agency or endpoint."""
    query = select(WebhookDelivery)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if agency_id is not None:
        query = query.join(WebhookEndpoint).where(WebhookEndpoint.agency_id == agency_id)
    return session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()


def attempts_for(session: Session, delivery_id: int) -> Sequence[WebhookAttempt]:
    """Return a delivery's attempts in order."""
    return session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)
    ).all()


def purge_attempts(session: Session, before: datetime) -> int:
    """Delete attempt log rows that started before ``before``; return how many."""
    result = session.execute(delete(WebhookAttempt).where(WebhookAttempt.started_at < before))
    return int(getattr(result, "rowcount", 0))
