"""Refunds of succeeded attempts: recorded first, then sent, never more in total than was paid.

Like starting a payment, a refund has two phases with a commit between them:
:func:`request_refund` records it under a lock on the payment (so two concurrent
refunds cannot both fit in what is left), then :func:`send_refund` asks the
provider outside any transaction and records its answer. A refund the provider
did not answer stays ``unknown`` and keeps its amount reserved: it may have
happened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from providers.base import Outcome, RefundRequest, SupportsRefund
from providers.errors import ProviderError, ProviderUnavailable
from providers.registry import ProviderRegistry
from webhooks.outbox import record_event

from .audit import record_audit
from .db import utcnow
from .errors import InvalidTransition, NotFound, ValidationFailed
from .ids import CROCKFORD, new_public_id
from .models import Agency, Payment, Refund
from .state import REFUND_HOLDS_AMOUNT, PaymentStatus, RefundStatus

REFUNDABLE = (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED_DUPLICATE)
_OUTCOME_STATUS = {
    Outcome.SUCCEEDED: RefundStatus.SUCCEEDED,
    Outcome.PENDING: RefundStatus.PENDING,
    Outcome.FAILED: RefundStatus.FAILED,
    Outcome.CANCELLED: RefundStatus.FAILED,
}


def new_refund_reference() -> str:
    """``RF`` + 10 Crockford characters: fits every provider's refund id."""
    return "RF" + "".join(secrets.choice(CROCKFORD) for _ in range(10))


@dataclass(frozen=True, slots=True)
class PlannedRefund:
    """A recorded refund and everything needed to send it, read inside phase 1."""

    refund_id: int
    refund_public_id: str
    provider_code: str
    agency_code: str
    request: RefundRequest


@dataclass(frozen=True, slots=True)
class RefundAnswer:
    """What the provider said (or that it said nothing)."""

    status: RefundStatus
    provider_refund_ref: str | None
    message: str


def refund_data(refund: Refund, payment: Payment) -> dict[str, Any]:
    """The refund as events show it."""
    return {
        "id": refund.public_id,
        "reference": refund.reference,
        "payment_id": payment.public_id,
        "amount": refund.amount,
        "currency": payment.currency,
        "status": refund.status.value,
        "reason": refund.reason,
    }


def refundable_amount(session: Session, payment: Payment) -> int:
    """What is left to refund: the amount paid minus every refund not known to have failed."""
    held = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(list(REFUND_HOLDS_AMOUNT))
        )
    )
    return payment.amount - int(held or 0)


def request_refund(
    session: Session, payment_public_id: str, amount: int, *, reason: str, actor: str
) -> PlannedRefund:
    """Phase 1: record a refund of ``amount`` VND if it fits in what is left of the payment."""
    # The row lock serialises concurrent refunds of one payment on PostgreSQL; SQLite's
    # BEGIN IMMEDIATE already serialises every writer.
    payment = session.scalars(
        select(Payment).where(Payment.public_id == payment_public_id).with_for_update()
    ).one_or_none()
    if payment is None:
        raise NotFound(f"No payment {payment_public_id}.")
    if payment.status not in REFUNDABLE:
        raise InvalidTransition(f"Payment {payment_public_id} is {payment.status.value}: nothing to refund.")
    if amount <= 0:
        raise ValidationFailed.field("amount", "Must be a positive number of VND.")
    left = refundable_amount(session, payment)
    if amount > left:
        raise ValidationFailed.field("amount", f"At most {left} VND of this payment is left to refund.")
    now = utcnow()
    refund = Refund(
        public_id=new_public_id("rfd"),
        reference=new_refund_reference(),
        payment_id=payment.id,
        agency_id=payment.agency_id,
        amount=amount,
        status=RefundStatus.CREATED,
        reason=reason[:255],
        requested_by=actor[:128],
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="refund.created",
        entity_type="refund",
        entity_id=refund.public_id,
        agency_id=refund.agency_id,
        detail={"payment": payment.public_id, "amount": amount},
    )
    agency_code = session.scalars(select(Agency.code).where(Agency.id == payment.agency_id)).one()
    request = RefundRequest(
        refund_reference=refund.reference,
        payment_reference=payment.reference,
        provider_ref=payment.provider_ref or "",
        amount=amount,
        original_amount=payment.amount,
        paid_at=payment.finished_at or payment.updated_at,
        reason=reason,
        payment_created_at=payment.created_at,
    )
    return PlannedRefund(refund.id, refund.public_id, payment.provider_code, agency_code, request)


def send_refund(registry: ProviderRegistry, planned: PlannedRefund) -> RefundAnswer:
    """Phase 2: ask the provider. No database work: call it with no transaction open."""
    adapter = registry.for_agency(planned.provider_code, planned.agency_code)
    if not isinstance(adapter, SupportsRefund):
        return RefundAnswer(RefundStatus.FAILED, None, f"{planned.provider_code} has no refund API")
    if not planned.request.provider_ref:
        return RefundAnswer(RefundStatus.FAILED, None, "the provider's transaction id is unknown")
    try:
        result = adapter.refund(planned.request)
    except ProviderUnavailable as exc:
        return RefundAnswer(RefundStatus.UNKNOWN, None, exc.message)
    except ProviderError as exc:
        return RefundAnswer(RefundStatus.FAILED, None, exc.message)
    return RefundAnswer(_OUTCOME_STATUS[result.outcome], result.provider_refund_ref, result.message)


def record_refund_answer(
    session: Session, planned: PlannedRefund, answer: RefundAnswer, *, actor: str
) -> Refund:
    """Phase 3: store the provider's answer, with its audit entry and event."""
    refund = session.get_one(Refund, planned.refund_id)
    result = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status.in_([RefundStatus.CREATED, RefundStatus.UNKNOWN]))
        .values(
            status=answer.status,
            provider_refund_ref=answer.provider_refund_ref,
            provider_message=answer.message[:255],
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(refund)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return refund  # answered already (a concurrent retry of the same refund)
    payment = session.get_one(Payment, refund.payment_id)
    record_audit(
        session,
        actor=actor,
        action=f"refund.{answer.status.value}",
        entity_type="refund",
        entity_id=refund.public_id,
        agency_id=refund.agency_id,
        detail={"message": answer.message[:200]},
    )
    record_event(
        session,
        agency_id=refund.agency_id,
        event_type=f"refund.{answer.status.value}",
        aggregate_type="refund",
        aggregate_id=refund.public_id,
        data=refund_data(refund, payment),
    )
    return refund
