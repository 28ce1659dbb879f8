"""The delivery pipeline over the database: fan out events, build each attempt, record its result.

None of these functions commits or does network I/O; :mod:`.runner` strings them
together with the commits and the HTTP attempt in between.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from webhooks.models import OutboxEvent
from webhooks.outbox import RecordedEvent

from . import repository
from .models import TEST_EVENT_TYPE, DeliveryStatus, WebhookEndpoint
from .repository import Claim, Held
from .schedule import next_retry_delay
from .sender import AttemptOutcome, AttemptResult, OutgoingRequest
from .signing import SigningKeys, webhook_headers

logger = logging.getLogger(__name__)

#: default age past which undispatched events are left alone (keeps the sweep's scan short)
DISPATCH_HORIZON = timedelta(days=3)
_ERROR_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Prepared:
    """A held delivery ready to send, or the reason it must not be sent."""

    held: Held
    request: OutgoingRequest | None
    skip_reason: str | None = None


def event_body(event: OutboxEvent | RecordedEvent) -> str:
    """Serialise the event envelope exactly as sent (and signed): ``{id, type, created_at, data}``."""
    envelope = {
        "id": event.id,
        "type": event.event_type,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def dispatch_events(
    session: Session,
    now: datetime,
    limit: int,
    event_ids: list[str] | None = None,
    horizon: timedelta = DISPATCH_HORIZON,
) -> list[int]:
    """Fan new outbox events out into one pending delivery per subscribed endpoint; return their ids."""
    return dispatch_batch(session, now, limit, event_ids, horizon)[1]


def dispatch_batch(
    session: Session,
    now: datetime,
    limit: int,
    event_ids: list[str] | None = None,
    horizon: timedelta = DISPATCH_HORIZON,
) -> tuple[int, list[int]]:
    """Fan out up to ``limit`` new events; return how many events were found and the new delivery ids.

    Most events (``invoice.created``, say) have no subscriber: they are only marked, which is
    why callers loop on the number of events found, not on the deliveries made.
    """
    found = repository.undispatched_events(session, now - horizon, limit, event_ids)
    mine = repository.mark_dispatched(session, [e.id for e in found], now)
    events = [e for e in found if e.id in mine]
    if not events:
        return len(found), []
    by_agency: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in repository.enabled_endpoints(session, {e.agency_id for e in events}):
        by_agency[endpoint.agency_id].append(endpoint)
    pairs = [
        (event.id, endpoint.id)
        for event in events
        for endpoint in by_agency[event.agency_id]
        if event.event_type in endpoint.event_types
    ]
    return len(found), repository.insert_deliveries(session, pairs, now)


def add_test_delivery(
    session: Session, endpoint: WebhookEndpoint, event: RecordedEvent, now: datetime
) -> int:
    """Attach a ``webhook.test`` event to one endpoint only; return the delivery id."""
    assert event.event_type == TEST_EVENT_TYPE
    repository.mark_dispatched(session, [event.id], now)
    (delivery_id,) = repository.insert_deliveries(session, [(event.id, endpoint.id)], now)
    return delivery_id


def prepare(session: Session, held: Sequence[Held], now: datetime) -> list[Prepared]:
    """Build the signed request for each held delivery, or say why it must be skipped."""
    loaded = repository.endpoints_and_events(session, held) if held else {}
    prepared = []
    for item in held:
        endpoint, event = loaded[item.claim.delivery_id]
        if not endpoint.enabled:
            reason = endpoint.disabled_reason or "by owner"
            prepared.append(Prepared(item, None, skip_reason=f"endpoint disabled: {reason}"))
            continue
        body = event_body(event)
        keys = SigningKeys(endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at)
        headers = webhook_headers(event.id, now, body, keys.active(now))
        prepared.append(Prepared(item, OutgoingRequest(endpoint.url, body.encode("utf-8"), headers)))
    return prepared


def record_skip(session: Session, held: Held, reason: str, now: datetime) -> bool:
    """Close a held delivery as skipped without an attempt."""
    return repository.finish_claim(
        session,
        held.claim,
        {
            "status": DeliveryStatus.SKIPPED,
            "lease_expires_at": None,
            "last_error": reason[:_ERROR_LIMIT],
            "updated_at": now,
            "finished_at": now,
        },
    )


@dataclass(frozen=True, slots=True)
class Sent:
    """One finished HTTP attempt of a held delivery, waiting to be recorded."""

    held: Held
    result: AttemptResult
    started_at: datetime


def record_attempt(
    session: Session,
    held: Held,
    result: AttemptResult,
    started_at: datetime,
    now: datetime,
    rng: random.Random | None = None,
) -> DeliveryStatus | None:
    """Log the attempt and move the delivery on; None if the claim was lost meanwhile."""
    return record_attempts(session, [Sent(held, result, started_at)], now, rng)[held.claim]


def record_attempts(
    session: Session, sent: Sequence[Sent], now: datetime, rng: random.Random | None = None
) -> dict[Claim, DeliveryStatus | None]:
    """Log a batch of attempts and move each delivery on, in three statements; None for a lost claim.

    Every attempt is logged, even one whose claim was lost meanwhile: it did happen.
    """
    attempts = []
    results: list[tuple[Claim, dict[str, Any]]] = []
    for item in sent:
        held, result = item.held, item.result
        error = (result.error or "")[:_ERROR_LIMIT] or None
        attempts.append(
            {
                "delivery_id": held.claim.delivery_id,
                "attempt_number": held.attempt_count + 1,
                "started_at": item.started_at,
                "latency_ms": result.latency_ms,
                "outcome": result.outcome,
                "status_code": result.status_code,
                "error": error,
                "response_excerpt": result.response_excerpt,
                "address": result.address,
            }
        )
        values: dict[str, Any] = {
            "attempt_count": held.attempt_count + 1,
            "last_status_code": result.status_code,
            "last_error": error,
            "updated_at": now,
        }
        status = _next_status(session, held, result, now, values, rng)
        values["status"] = status
        if status is not DeliveryStatus.PENDING:
            values["finished_at"] = now
        results.append((held.claim, values))
    repository.add_attempts(session, attempts)
    won = repository.finish_claims(session, results)
    statuses: dict[Claim, DeliveryStatus | None] = {}
    for item, (claim, values) in zip(sent, results, strict=True):
        if claim not in won:
            logger.warning("Delivery %s lost claim %s before recording", claim.delivery_id, claim.token)
            statuses[claim] = None
            continue
        statuses[claim] = values["status"]
        if values["status"] is DeliveryStatus.DEAD:
            logger.warning(
                "Webhook delivery %s is dead after %s attempts",
                claim.delivery_id,
                values["attempt_count"],
                extra={"delivery_id": claim.delivery_id, "endpoint_id": item.held.endpoint_id, "alert": True},
            )
    return statuses


def _next_status(
    session: Session,
    held: Held,
    result: AttemptResult,
    now: datetime,
    values: dict[str, Any],
    rng: random.Random | None,
) -> DeliveryStatus:
    if result.outcome is AttemptOutcome.SUCCEEDED:
        return DeliveryStatus.SUCCEEDED
    if result.outcome is AttemptOutcome.BLOCKED:
        return DeliveryStatus.SKIPPED
    if result.outcome is AttemptOutcome.GONE:
        repository.disable_endpoint(session, held.endpoint_id, "receiver answered 410 Gone", now)
        logger.warning("Webhook endpoint %s disabled: receiver answered 410", held.endpoint_id)
        values["last_error"] = "410 Gone: endpoint disabled"
        return DeliveryStatus.DEAD
    failed = held.failed_attempts + 1
    values["failed_attempts"] = failed
    wait = next_retry_delay(failed, retry_after=result.retry_after, rng=rng)
    if wait is None:
        return DeliveryStatus.DEAD
    values["next_attempt_at"] = now + wait
    return DeliveryStatus.PENDING
