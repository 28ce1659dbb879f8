"""Job bodies shared by the Celery tasks and their CLI twins; unlike services, these commit.

A delivery needs two short transactions with the HTTP attempt between them, so no
database transaction (or pooled connection) is held while a slow receiver answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from . import delivery, repository
from .models import DeliveryStatus
from .repository import Claim
from .sender import send_once
from .settings import OutboundSettings
from .ssrf import Resolver

Clock = Callable[[], datetime]


def dispatch_and_claim(
    session: Session, settings: OutboundSettings, clock: Clock, event_ids: list[str] | None = None
) -> list[Claim]:
    """Fan out new events and claim the deliveries they made, in one committed transaction."""
    now = clock()
    ids = delivery.dispatch_events(session, now, settings.batch_size, event_ids)
    claims = repository.claim_ids(session, ids, now, now + settings.claim_lease)
    session.commit()
    return claims


def claim_due(
    session: Session, settings: OutboundSettings, clock: Clock, limit: int | None = None
) -> list[Claim]:
    """Claim due and lease-expired deliveries in one committed transaction."""
    now = clock()
    claims = repository.claim_due(session, now, now + settings.claim_lease, limit or settings.batch_size)
    session.commit()
    return claims


def deliver(
    session: Session,
    claim: Claim,
    settings: OutboundSettings,
    resolver: Resolver,
    clock: Clock,
) -> DeliveryStatus | None:
    """Attempt one claimed delivery and record the result; None if the claim is no longer ours.

    The lease is renewed first: a claim may have waited in a broker queue or behind
    slow receivers, and an expired one may already belong to another worker.
    """
    now = clock()
    if not repository.renew_claim(session, claim, now, now + settings.lease):
        session.rollback()
        return None
    prepared = delivery.prepare(session, claim, now)
    if prepared.request is None:
        done = delivery.record_skip(session, claim, prepared.skip_reason or "skipped", now)
        session.commit()
        return DeliveryStatus.SKIPPED if done else None
    session.commit()  # no transaction stays open during the network call
    result = send_once(prepared.request, settings.send_options(resolver))
    status = delivery.record_attempt(session, claim, result, started_at=now, now=clock())
    session.commit()
    return status


def deliver_due(
    session: Session, settings: OutboundSettings, resolver: Resolver, clock: Clock, *, max_rounds: int = 1000
) -> Counter[str]:
    """Fan out, claim and deliver everything due now, batch after batch; count the outcomes."""
    counts: Counter[str] = Counter()
    for _ in range(max_rounds):
        claims = dispatch_and_claim(session, settings, clock) + claim_due(session, settings, clock)
        if not claims:
            break
        for claim in claims:
            status = deliver(session, claim, settings, resolver, clock)
            counts[status or "lost"] += 1
    return counts
