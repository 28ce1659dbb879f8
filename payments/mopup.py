"""Status mop-up: ask providers about attempts left pending or unknown, and close what cannot be paid.

A provider's answer goes through the same path as its callback: recorded in the
inbox under the same dedupe key (so a callback arriving later is a harmless
duplicate), then :func:`payments.attempts.apply_provider_event`. Attempts of an
invoice that can no longer be paid (expired, cancelled, or paid by another
attempt) are cancelled once their provider says nothing was paid. An attempt
whose provider cannot be reached is left as it is: it might have been paid.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from providers.base import Outcome, PaymentQuery, ProviderEvent
from providers.errors import ProviderError, ProviderUnavailable
from providers.registry import ProviderRegistry
from webhooks.models import InboundCallback

from . import repository
from .attempts import Applied, apply_provider_event, payment_data
from .db import insert_ignore, utcnow
from .models import Agency, Invoice, Payment
from .service import expire_invoices
from .state import InvoiceStatus, PaymentStatus
from .transitions import transition

log = logging.getLogger(__name__)
ACTOR = "system:mop-up"
OPEN_ATTEMPT = (PaymentStatus.PENDING, PaymentStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class StaleAttempt:
    """What mop-up needs to ask about one attempt, read before any provider call."""

    payment_id: int
    reference: str
    provider_code: str
    agency_code: str
    provider_ref: str | None
    amount: int
    created_at: datetime


def find_stale_attempts(
    session: Session, *, now: datetime, grace: timedelta, limit: int
) -> list[StaleAttempt]:
    """Attempts pending or unknown for longer than ``grace``, or of an invoice no longer payable."""
    rows = session.execute(
        select(Payment, Agency.code)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .join(Agency, Agency.id == Payment.agency_id)
        .where(
            Payment.status.in_(OPEN_ATTEMPT),
            or_(
                Payment.created_at <= now - grace,
                Invoice.status != InvoiceStatus.OPEN,
                Invoice.expires_at <= now,
            ),
        )
        .order_by(Payment.created_at)
        .limit(limit)
    ).all()
    return [
        StaleAttempt(p.id, p.reference, p.provider_code, code, p.provider_ref, p.amount, p.created_at)
        for p, code in rows
    ]


def ask_provider(registry: ProviderRegistry, attempt: StaleAttempt) -> ProviderEvent | None:
    """Query the provider (no database work here); None when it refused to answer.

    :raises ProviderUnavailable: it did not answer in time (transport error, 5xx, 429).
    """
    query = PaymentQuery(attempt.reference, attempt.provider_ref, attempt.amount, attempt.created_at)
    try:
        return registry.for_agency(attempt.provider_code, attempt.agency_code).query_status(query)
    except ProviderUnavailable as exc:
        log.info(
            "Mop-up could not reach %s for %s: %s", attempt.provider_code, attempt.reference, exc.message
        )
        raise
    except ProviderError as exc:
        log.warning(
            "Mop-up query for %s refused by %s: %s", attempt.reference, attempt.provider_code, exc.message
        )
    return None


def mark_unknown(session: Session, attempt: StaleAttempt) -> bool:
    """Move a pending attempt whose status query went unanswered to ``unknown``."""
    payment = session.get_one(Payment, attempt.payment_id)
    invoice = repository.get_invoice_by_id(session, payment.invoice_id)
    return transition(
        session,
        payment,
        PaymentStatus.UNKNOWN,
        actor=ACTOR,
        event_data=lambda: payment_data(payment, invoice),
        detail={"why": "status query unanswered"},
    )


def apply_answer(session: Session, attempt: StaleAttempt, event: ProviderEvent, *, now: datetime) -> str:
    """Record and apply the provider's answer; cancel the attempt if nothing was paid and it cannot be."""
    if event.reference != attempt.reference:
        log.warning("Mop-up answer for %s names %s; ignored", attempt.reference, event.reference)
        return "mismatched"
    if event.outcome is Outcome.PENDING:
        # "No news" is not a statement worth an inbox row, but it does turn unknown into pending.
        result = apply_provider_event(session, event, provider_code=attempt.provider_code).value
    else:
        result = _record_and_apply(session, attempt, event)
    payment = session.get_one(Payment, attempt.payment_id)
    session.refresh(payment)
    invoice = repository.get_invoice_by_id(session, payment.invoice_id)
    payable = invoice.status is InvoiceStatus.OPEN and invoice.expires_at > now
    if payment.status in OPEN_ATTEMPT and not payable and event.outcome is Outcome.PENDING:
        why = f"invoice {invoice.status.value}, provider reports nothing paid"
        moved = transition(
            session,
            payment,
            PaymentStatus.CANCELLED,
            actor=ACTOR,
            event_data=lambda: payment_data(payment, invoice),
            detail={"why": why},
        )
        if moved:
            return "cancelled"
    return "still_pending" if event.outcome is Outcome.PENDING else result


def _record_and_apply(session: Session, attempt: StaleAttempt, event: ProviderEvent) -> str:
    inbox_id = insert_ignore(
        session,
        InboundCallback,
        {
            "provider_code": attempt.provider_code,
            "external_id": event.external_id,
            "dedupe_key": event.external_id,
            "payment_reference": attempt.reference,
            "outcome": "received",
            "detail": "status query (mop-up)",
            "method": "QUERY",
            "remote_addr": "",
            "headers": {},
            "query": {},
            "body": "",
        },
    )
    if inbox_id is None:
        return Applied.DUPLICATE.value  # the callback with the same statement got here first
    result = apply_provider_event(session, event, provider_code=attempt.provider_code)
    session.execute(
        update(InboundCallback).where(InboundCallback.id == inbox_id).values(outcome=result.value)
    )
    return result.value


def run_mop_up(
    session: Session, registry: ProviderRegistry, *, grace: timedelta, limit: int, now: datetime | None = None
) -> Counter[str]:
    """Expire overdue invoices, then resolve stale attempts; a job, so it commits per unit of work.

    Each provider call happens outside any transaction (SQLite's BEGIN IMMEDIATE
    would otherwise hold the write lock for the length of the call), and each
    answer is committed on its own so one slow provider cannot undo the others.
    """
    now = now or utcnow()
    report: Counter[str] = Counter()
    report["invoices_expired"] = expire_invoices(session, now=now)
    attempts = find_stale_attempts(session, now=now, grace=grace, limit=limit)
    session.commit()
    for attempt in attempts:
        try:
            event = ask_provider(registry, attempt)
        except ProviderUnavailable:
            # No answer in time: we know less than before, so a pending attempt becomes unknown
            # (never failed); the next mop-up asks again.
            report["unreachable"] += 1
            mark_unknown(session, attempt)
            session.commit()
            continue
        if event is None:
            report["refused"] += 1
            continue
        try:
            report[apply_answer(session, attempt, event, now=now)] += 1
            session.commit()
        except Exception:
            session.rollback()
            log.exception("Mop-up could not apply the answer for %s", attempt.reference)
            report["error"] += 1
    return report
