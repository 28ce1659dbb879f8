"""Job bodies shared by the Celery tasks and their CLI twins; unlike services, these commit.

A batch of deliveries needs two short transactions with the HTTP attempts between them, so
no database transaction (or pooled connection) is held while a slow receiver answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from . import delivery, repository
from .models import DeliveryStatus
from .repository import Claim
from .sender import send_once
from .settings import OutboundSettings
from .ssrf import Resolver

Clock = Callable[[], datetime]

#: deliveries one worker sends in a row under one lease (and one broker message)
CHUNK = 10


def chunks(claims: Sequence[Claim]) -> list[list[Claim]]:
    """Split claims into groups of at most :data:`CHUNK`."""
    return [list(claims[start : start + CHUNK]) for start in range(0, len(claims), CHUNK)]


def dispatch_and_claim(
    session: Session,
    settings: OutboundSettings,
    clock: Clock,
    event_ids: list[str] | None = None,
    max_events: int | None = None,
) -> list[Claim]:
    """Fan out new events and claim the deliveries they made, a committed transaction per batch.

    Stops when a batch comes back short, or after ``max_events`` (default: one batch).
    """
    limit = max_events or settings.batch_size
    claims: list[Claim] = []
    seen = 0
    while seen < limit:
        now = clock()
        batch = min(settings.batch_size, limit - seen)
        found, ids = delivery.dispatch_batch(session, now, batch, event_ids, settings.dispatch_horizon)
        claims += repository.claim_ids(session, ids, now, now + settings.claim_lease)
        session.commit()
        seen += found
        if found < batch:
            break
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
    claims: Sequence[Claim],
    settings: OutboundSettings,
    resolver: Resolver,
    clock: Clock,
) -> list[DeliveryStatus | None]:
    """Attempt claimed deliveries one after another; None for a claim that is no longer ours.

    The leases are renewed first, in one statement: a claim may have waited in a broker
    queue, and an expired one may already belong to another worker. The new lease covers
    every attempt in the batch timing out, so no claim can expire while it waits its turn.
    The results are recorded together, in one transaction, once the batch has been sent.
    """
    now = clock()
    statuses, to_send = _hold(session, claims, settings, now)
    session.commit()  # no transaction stays open during the network calls
    _send(session, to_send, statuses, settings, resolver, clock)
    return [statuses.get(claim) for claim in claims]


def dispatch_and_deliver(
    session: Session,
    settings: OutboundSettings,
    resolver: Resolver,
    clock: Clock,
    event_ids: list[str],
    inline_limit: int,
) -> list[Claim]:
    """Fan out freshly committed events; send up to ``inline_limit`` deliveries right here.

    Fan-out, claims and leases share one transaction, so the common case (an event for
    one endpoint) costs two commits. More deliveries than ``inline_limit`` are only
    claimed, and returned for the caller to hand to other workers.
    """
    now = clock()
    _, ids = delivery.dispatch_batch(session, now, settings.batch_size, event_ids, settings.dispatch_horizon)
    if len(ids) > inline_limit:
        claims = repository.claim_ids(session, ids, now, now + settings.claim_lease)
        session.commit()
        return claims
    # Claimed straight with the attempt lease: nothing waits in a queue in between.
    held = repository.claim_and_hold(session, ids, now, _attempt_lease_until(settings, now, len(ids)))
    statuses, to_send = _prepared(session, held, now)
    session.commit()
    _send(session, to_send, statuses, settings, resolver, clock)
    return []


def _attempt_lease_until(settings: OutboundSettings, now: datetime, count: int) -> datetime:
    # Covers every attempt of the batch timing out, so no claim expires while it waits its turn.
    return now + settings.lease + timedelta(seconds=settings.timeout_seconds) * max(0, count - 1)


def _hold(
    session: Session, claims: Sequence[Claim], settings: OutboundSettings, now: datetime
) -> tuple[dict[Claim, DeliveryStatus | None], list[delivery.Prepared]]:
    held = repository.renew_claims(session, claims, now, _attempt_lease_until(settings, now, len(claims)))
    return _prepared(session, held, now)


def _prepared(
    session: Session, held: Sequence[repository.Held], now: datetime
) -> tuple[dict[Claim, DeliveryStatus | None], list[delivery.Prepared]]:
    statuses: dict[Claim, DeliveryStatus | None] = {}
    to_send = []
    for item in delivery.prepare(session, held, now):
        if item.request is None:
            done = delivery.record_skip(session, item.held, item.skip_reason or "skipped", now)
            statuses[item.held.claim] = DeliveryStatus.SKIPPED if done else None
        else:
            to_send.append(item)
    return statuses, to_send


def _send(
    session: Session,
    to_send: list[delivery.Prepared],
    statuses: dict[Claim, DeliveryStatus | None],
    settings: OutboundSettings,
    resolver: Resolver,
    clock: Clock,
) -> None:
    options = settings.send_options(resolver)
    sent = []
    for item in to_send:
        assert item.request is not None
        started_at = clock()
        sent.append(delivery.Sent(item.held, send_once(item.request, options), started_at))
    if sent:
        # One transaction records the whole batch; a crash before it commits only means
        # the batch is sent again after its lease (at least once, same webhook-id).
        statuses.update(delivery.record_attempts(session, sent, now=clock()))
        session.commit()


def deliver_due(
    session: Session, settings: OutboundSettings, resolver: Resolver, clock: Clock, *, max_rounds: int = 1000
) -> Counter[str]:
    """Fan out, claim and deliver everything due now, batch after batch; count the outcomes."""
    counts: Counter[str] = Counter()
    for _ in range(max_rounds):
        claims = dispatch_and_claim(session, settings, clock, max_events=settings.sweep_limit)
        claims += claim_due(session, settings, clock)
        if not claims:
            break
        for chunk in chunks(claims):
            for status in deliver(session, chunk, settings, resolver, clock):
                counts[status or "lost"] += 1
    return counts
