"""Celery tasks for outgoing webhooks: thin wrappers around :mod:`.runner`, which their CLI twins share."""

from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task
from flask import current_app

from payments.celery_app import QueueNames, TaskNames
from payments.db import get_session, utcnow

from . import repository, runner
from .repository import Claim
from .settings import configured_resolver, outbound_settings

#: a dispatch sends this many deliveries itself; more go to other workers in chunks
INLINE_DELIVERIES = 3


@shared_task(name=TaskNames.WEBHOOKS_DISPATCH, ignore_result=True)
def dispatch_events(event_ids: Sequence[str]) -> int:
    """Fan out freshly committed outbox events and send what they made; return deliveries enqueued."""
    # The common case (one event, one endpoint) is sent right here, without another broker hop.
    claims = runner.dispatch_and_deliver(
        get_session(),
        outbound_settings(current_app.config),
        configured_resolver(current_app.extensions),
        utcnow,
        list(event_ids),
        inline_limit=INLINE_DELIVERIES,
    )
    enqueue(claims)
    return len(claims)


@shared_task(name=TaskNames.WEBHOOKS_DELIVER, ignore_result=True)
def deliver(claims: Sequence[Sequence[int]]) -> int:
    """Attempt claimed deliveries given as ``[delivery_id, token]`` pairs; stale claims do nothing."""
    settings = outbound_settings(current_app.config)
    resolver = configured_resolver(current_app.extensions)
    held = [Claim(delivery_id, token) for delivery_id, token in claims]
    statuses = runner.deliver(get_session(), held, settings, resolver, utcnow)
    return sum(1 for status in statuses if status is not None)


@shared_task(name=TaskNames.WEBHOOKS_SWEEP, ignore_result=True)
def sweep() -> int:
    """Fan out events a lost kick missed and re-enqueue due or lease-expired deliveries."""
    settings = outbound_settings(current_app.config)
    session = get_session()
    claims = runner.dispatch_and_claim(session, settings, utcnow, max_events=settings.sweep_limit)
    # Bounded, so a backlog is enqueued no faster than workers drain it within a claim lease.
    claims += runner.claim_due(session, settings, utcnow, limit=settings.sweep_limit)
    enqueue(claims)
    return len(claims)


@shared_task(name=TaskNames.WEBHOOKS_PURGE_ATTEMPTS, ignore_result=True)
def purge_attempts() -> int:
    """Delete attempt log rows older than the retention period (at least 30 days)."""
    settings = outbound_settings(current_app.config)
    session = get_session()
    deleted = repository.purge_attempts(session, utcnow() - settings.attempt_retention)
    session.commit()
    return deleted


def enqueue(claims: Sequence[Claim]) -> None:
    """Send claimed deliveries to the workers, a chunk per message."""
    for chunk in runner.chunks(claims):
        pairs = [[claim.delivery_id, claim.token] for claim in chunk]
        deliver.apply_async((pairs,), queue=QueueNames.WEBHOOKS)
