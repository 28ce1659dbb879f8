"""Use cases for portal webhook endpoints and for operators: register, change, rotate, replay, test.

Services never commit; the view, CLI command or task that calls them commits once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.audit import record_audit
from payments.errors import InvalidTransition, NotFound, ValidationFailed
from webhooks.outbox import record_event

from . import delivery, repository
from .models import EVENT_TYPES, TEST_EVENT_TYPE, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .settings import OutboundSettings
from .signing import SigningKeys, generate_secret, rotate
from .ssrf import Resolver, UnsafeUrl, parse_target, resolve_checked


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What a portal sends to register or change an endpoint; None means unchanged."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class Rotation:
    """The new secret (shown once) and until when the old one keeps signing."""

    secret: str
    previous_expires_at: datetime


def check_url(url: str, settings: OutboundSettings, resolver: Resolver) -> None:
    """Refuse a URL whose shape or current addresses violate the security rules."""
    try:
        resolve_checked(parse_target(url, settings.policy), settings.policy, resolver)
    except UnsafeUrl as exc:
        raise ValidationFailed.field("url", str(exc)) from None


def create_endpoint(
    session: Session,
    agency_id: int,
    spec: EndpointSpec,
    settings: OutboundSettings,
    resolver: Resolver,
    now: datetime,
    *,
    actor: str,
) -> WebhookEndpoint:
    """Register an endpoint with a fresh signing secret (the caller shows it once)."""
    if spec.url is None:
        raise ValidationFailed.field("url", "Missing data for required field.")
    if not spec.event_types:
        raise ValidationFailed.field("event_types", "Subscribe to at least one event type.")
    check_url(spec.url, settings, resolver)
    endpoint = WebhookEndpoint(
        agency_id=agency_id,
        url=spec.url,
        description=spec.description or "",
        event_types=_event_types(spec.event_types),
        secret=generate_secret(),
        enabled=True if spec.enabled is None else spec.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    _audit(session, actor, "webhook_endpoint.created", endpoint, {"url": endpoint.url})
    return endpoint


def get_endpoint(session: Session, agency_id: int, endpoint_id: int) -> WebhookEndpoint:
    """Return the agency's endpoint or raise :class:`NotFound` (also for other agencies' ids)."""
    endpoint = repository.get_endpoint(session, agency_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found.")
    return endpoint


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    spec: EndpointSpec,
    settings: OutboundSettings,
    resolver: Resolver,
    now: datetime,
    *,
    actor: str,
) -> WebhookEndpoint:
    """Change an endpoint's URL, event types, description or enabled flag."""
    if spec.url is not None and spec.url != endpoint.url:
        check_url(spec.url, settings, resolver)
        endpoint.url = spec.url
    if spec.event_types is not None:
        endpoint.event_types = _event_types(spec.event_types)
    if spec.description is not None:
        endpoint.description = spec.description
    if spec.enabled is not None:
        endpoint.enabled = spec.enabled
        endpoint.disabled_reason = None if spec.enabled else "disabled by owner"
    endpoint.updated_at = now
    changed = {k: v for k, v in dataclasses.asdict(spec).items() if v is not None}
    _audit(session, actor, "webhook_endpoint.updated", endpoint, changed)
    return endpoint


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, settings: OutboundSettings, now: datetime, *, actor: str
) -> Rotation:
    """Issue a new secret; both old and new sign deliveries until the overlap window ends."""
    current = SigningKeys(endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at)
    rotated = rotate(current, generate_secret(), now, settings.rotation_overlap)
    endpoint.secret = rotated.current
    endpoint.previous_secret = rotated.previous
    endpoint.previous_secret_expires_at = rotated.previous_expires_at
    endpoint.updated_at = now
    assert rotated.previous_expires_at is not None
    _audit(
        session,
        actor,
        "webhook_endpoint.secret_rotated",
        endpoint,
        {"overlap_until": str(rotated.previous_expires_at)},
    )
    return Rotation(secret=rotated.current, previous_expires_at=rotated.previous_expires_at)


def replay(
    session: Session,
    ident: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    agency_id: int | None = None,
) -> list[WebhookDelivery]:
    """Queue finished deliveries again: one by delivery id, or all of an event's by event id.

    ``agency_id`` limits the search to one agency's endpoints (the API); the CLI sees all.
    """
    if not reason.strip():
        raise ValidationFailed.field("reason", "Say why the delivery is replayed.")
    query = select(WebhookDelivery)
    if ident.isdigit():
        query = query.where(WebhookDelivery.id == int(ident))
    else:
        query = query.where(WebhookDelivery.event_id == ident)
    if agency_id is not None:
        query = query.join(WebhookEndpoint).where(WebhookEndpoint.agency_id == agency_id)
    found = session.scalars(query.with_for_update()).all()
    if not found:
        raise NotFound(f"No webhook delivery or event {ident!r}.")
    replayable = [d for d in found if d.status not in (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)]
    if not replayable:
        raise InvalidTransition(f"Delivery of {ident!r} is still pending; it needs no replay.")
    for item in replayable:
        endpoint = session.get(WebhookEndpoint, item.endpoint_id)
        assert endpoint is not None
        if not endpoint.enabled:
            raise InvalidTransition(f"endpoint {endpoint.id} is disabled; enable it before replaying")
        before = item.status
        item.status = DeliveryStatus.PENDING
        item.next_attempt_at = now
        item.failed_attempts = 0
        item.lease_expires_at = None
        item.finished_at = None
        item.updated_at = now
        record_audit(
            session,
            actor=actor,
            action="webhook_delivery.replay",
            entity_type="webhook_delivery",
            entity_id=str(item.id),
            agency_id=endpoint.agency_id,
            detail={"from": before, "event_id": item.event_id, "reason": reason},
        )
    session.flush()
    return replayable


def create_test_event(session: Session, endpoint: WebhookEndpoint, now: datetime) -> int:
    """Queue a ``webhook.test`` event for this one endpoint; return the delivery id."""
    event = record_event(
        session,
        agency_id=endpoint.agency_id,
        event_type=TEST_EVENT_TYPE,
        aggregate_type="webhook_endpoint",
        aggregate_id=str(endpoint.id),
        data={"endpoint_id": endpoint.id, "message": "Test event from feegate"},
        created_at=now,
    )
    return delivery.add_test_delivery(session, endpoint, event, now)


def _audit(
    session: Session, actor: str, action: str, endpoint: WebhookEndpoint, detail: dict[str, object]
) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        entity_type="webhook_endpoint",
        entity_id=str(endpoint.id),
        agency_id=endpoint.agency_id,
        detail=detail,
    )


def _event_types(requested: Sequence[str]) -> list[str]:
    unknown = sorted(set(requested) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed.field("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(requested))
