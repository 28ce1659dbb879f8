"""Celery tasks for outgoing webhooks: thin wrappers around :mod:`.runner`, which their CLI twins share."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from celery import shared_task
from flask import current_app

from payments.celery_app import QueueNames, TaskNames
from payments.db import get_session

from . import repository, runner
from .models import DeliveryStatus
from .repository import Claim
from .settings import configured_resolver, outbound_settings

logger = logging.getLogger(__name__)

#: a dispatch sends this many deliveries itself; more fan out to other workers as tasks
INLINE_DELIVERIES = 3


def utcnow() -> datetime:
    """Return the current aware UTC time."""
    return datetime.now(UTC)


@shared_task(name=TaskNames.WEBHOOKS_DISPATCH, ignore_result=True)
def dispatch_events(event_ids: Sequence[str]) -> int:
    """Fan out freshly committed outbox events and deliver the result; return deliveries made."""
    settings = outbound_settings(current_app.config)
    session = get_session()
    claims = runner.dispatch_and_claim(session, settings, utcnow, list(event_ids))
    _deliver_or_enqueue(claims)
    return len(claims)


@shared_task(name=TaskNames.WEBHOOKS_DELIVER, ignore_result=True)
def deliver(delivery_id: int, token: int) -> str | None:
    """Attempt one claimed delivery; a stale claim (another worker took over) does nothing."""
    settings = outbound_settings(current_app.config)
    resolver = configured_resolver(current_app.extensions)
    status = runner.deliver(get_session(), Claim(delivery_id, token), settings, resolver, utcnow)
    return None if status is None else str(status)


@shared_task(name=TaskNames.WEBHOOKS_SWEEP, ignore_result=True)
def sweep() -> int:
    """Fan out events a lost kick missed and re-enqueue due or lease-expired deliveries."""
    settings = outbound_settings(current_app.config)
    session = get_session()
    claims = runner.dispatch_and_claim(session, settings, utcnow)
    # Bounded, so a backlog is enqueued no faster than workers drain it within a lease.
    claims += runner.claim_due(session, settings, utcnow, limit=settings.sweep_limit)
    for claim in claims:
        deliver.apply_async((claim.delivery_id, claim.token), queue=QueueNames.WEBHOOKS)
    return len(claims)


@shared_task(name=TaskNames.WEBHOOKS_PURGE_ATTEMPTS, ignore_result=True)
def purge_attempts() -> int:
    """Delete attempt log rows older than the retention period (at least 30 days)."""
    settings = outbound_settings(current_app.config)
    session = get_session()
    deleted = repository.purge_attempts(session, utcnow() - settings.attempt_retention)
    session.commit()
    return deleted


def _deliver_or_enqueue(claims: list[Claim]) -> None:
    if len(claims) > INLINE_DELIVERIES:
        for claim in claims:
            deliver.apply_async((claim.delivery_id, claim.token), queue=QueueNames.WEBHOOKS)
        return
    settings = outbound_settings(current_app.config)
    resolver = configured_resolver(current_app.extensions)
    for claim in claims:
        status = runner.deliver(get_session(), claim, settings, resolver, utcnow)
        if status is DeliveryStatus.DEAD:
            logger.warning("Delivery %s dead on its first attempt", claim.delivery_id)
