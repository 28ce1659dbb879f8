"""Payment attempts: start one with a provider, and apply what a provider says about it.

Starting is done in two phases with a commit between them (Brandur's atomic
phases): the attempt is recorded before the provider is called, so a crash or a
timeout while waiting leaves an ``unknown`` attempt that mop-up resolves, never
a lost one. Applying an event is one transaction: compare-and-set, audit entry
and outbox event, with the database's partial unique index as the last word on
"at most one success per invoice".
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from providers.base import (
    CallbackResult,
    Outcome,
    PaymentRequest,
    ProviderAdapter,
    ProviderEvent,
    Redirect,
    ShowQR,
    StartResult,
)
from providers.errors import ProviderRejected, ProviderUnavailable

from . import repository
from .checkout_links import callback_url_for, return_url_for
from .db import utcnow
from .errors import InvoiceNotPayable
from .ids import new_payment_reference, new_public_id
from .models import Invoice, Payment
from .schemas import PaymentSchema
from .state import InvoiceStatus, PaymentStatus, is_terminal
from .transitions import flag_for_review, record_change, transition

_payment_schema = PaymentSchema()


class Applied(enum.StrEnum):
    """What applying a provider event did; stored on the inbox row."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # a late or out-of-order statement about a final attempt
    FLAGGED = "flagged"  # money moved where it should not have: a person must look
    NOT_FOUND = "not_found"
    AMOUNT_MISMATCH = "amount_mismatch"
    REJECTED = "rejected"

    @property
    def reply(self) -> CallbackResult:
        """The answer the provider gets for this result."""
        return {
            Applied.APPLIED: CallbackResult.RECORDED,
            Applied.FLAGGED: CallbackResult.RECORDED,
            Applied.DUPLICATE: CallbackResult.DUPLICATE,
            Applied.IGNORED: CallbackResult.DUPLICATE,
            Applied.NOT_FOUND: CallbackResult.NOT_FOUND,
            Applied.AMOUNT_MISMATCH: CallbackResult.AMOUNT_MISMATCH,
            Applied.REJECTED: CallbackResult.REJECTED,
        }[self]


def payment_data(payment: Payment, invoice: Invoice) -> dict[str, Any]:
    """Return the attempt as events show it."""
    data: dict[str, Any] = _payment_schema.dump(payment)
    data["invoice_id"] = invoice.public_id
    return data


def ensure_payable(invoice: Invoice) -> None:
    """Raise :class:`InvoiceNotPayable` unless the invoice is open and not past its expiry."""
    if invoice.status is not InvoiceStatus.OPEN or invoice.expires_at <= utcnow():
        raise InvoiceNotPayable(f"Invoice {invoice.public_id} is {invoice.status.value}.")


def create_attempt(
    session: Session, invoice: Invoice, provider_code: str, *, nonce: str | None, actor: str
) -> Payment:
    """Phase 1: record a ``created`` attempt (or return the one this form render already made)."""
    if nonce:
        existing = repository.get_payment_by_nonce(session, nonce)
        if existing is not None and existing.invoice_id == invoice.id:
            return existing
    ensure_payable(invoice)
    now = utcnow()
    payment = Payment(
        public_id=new_public_id("pay"),
        reference=new_payment_reference(),
        invoice_id=invoice.id,
        agency_id=invoice.agency_id,
        provider_code=provider_code,
        amount=invoice.total,
        currency=invoice.currency,
        status=PaymentStatus.CREATED,
        checkout_nonce=nonce,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    record_change(
        session,
        payment,
        "payment.created",
        actor=actor,
        data=payment_data(payment, invoice),
        detail={"provider": provider_code, "invoice": invoice.public_id},
    )
    return payment


def launch_attempt(
    session: Session,
    adapter: ProviderAdapter,
    payment: Payment,
    invoice: Invoice,
    *,
    client_ip: str,
    language: str | None = None,
) -> Payment:
    """Phase 2: ask the provider to start the attempt; record ``pending``, ``unknown`` or ``failed``.

    ``language`` is the citizen's own choice on the checkout page, which beats the invoice's.
    """
    if payment.status is not PaymentStatus.CREATED:
        return payment  # a double submit: the first request already launched it
    request = PaymentRequest(
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        description=invoice.description,
        language="en" if (language or invoice.language) == "en" else "vi",
        return_url=return_url_for(payment.public_id),
        callback_url=callback_url_for(payment.provider_code),
        expires_at=invoice.expires_at,
        created_at=payment.created_at,
        client_ip=client_ip,
        invoice_reference=invoice.reference,
    )
    actor = f"provider:{payment.provider_code}"
    event_data = lambda: payment_data(payment, invoice)  # noqa: E731
    try:
        started = adapter.start_payment(request)
    except ProviderUnavailable as exc:
        # We cannot know whether the provider created it: unknown, and mop-up will ask.
        transition(
            session,
            payment,
            PaymentStatus.UNKNOWN,
            actor=actor,
            event_data=event_data,
            detail={"error": exc.message[:200]},
        )
        return payment
    except ProviderRejected as exc:
        transition(
            session,
            payment,
            PaymentStatus.FAILED,
            actor=actor,
            event_data=event_data,
            detail={"error": exc.message[:200]},
        )
        return payment
    transition(
        session,
        payment,
        PaymentStatus.PENDING,
        actor=actor,
        event_data=event_data,
        values={"provider_ref": started.provider_ref, "next_action": next_action_to_dict(started)},
    )
    return payment


def next_action_to_dict(started: StartResult) -> dict[str, Any]:
    """Serialise the provider's next action for storage on the attempt."""
    return {"kind": started.action.kind, **dataclasses.asdict(started.action)}


def next_action_from_dict(data: dict[str, Any]) -> Redirect | ShowQR:
    """Rebuild the next action stored on an attempt."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    return ShowQR(**fields) if data.get("kind") == ShowQR.kind else Redirect(**fields)


def apply_provider_event(
    session: Session,
    event: ProviderEvent,
    *,
    provider_code: str,
    merchant_ok: Callable[[Payment], bool] = lambda _payment: True,
) -> Applied:
    """Apply a verified provider statement to our records, exactly once.

    The amount and currency are checked against our record first: a mismatch flags
    the attempt for review and changes no status. Late and out-of-order statements
    never move a final attempt.
    """
    payment = repository.get_payment_by_reference(session, event.reference)
    if payment is None or payment.provider_code != provider_code:
        return Applied.NOT_FOUND
    if not merchant_ok(payment):
        return Applied.REJECTED
    invoice = repository.get_invoice_by_id(session, payment.invoice_id)
    actor = f"provider:{provider_code}"
    event_data = lambda: payment_data(payment, invoice)  # noqa: E731
    if event.amount != payment.amount or event.currency != payment.currency:
        flag_for_review(
            session,
            payment,
            "amount_mismatch",
            actor=actor,
            event_data=event_data,
            detail={"expected": payment.amount, "received": event.amount, "currency": event.currency},
        )
        return Applied.AMOUNT_MISMATCH
    if event.outcome is Outcome.SUCCEEDED:
        return _apply_success(session, payment, invoice, event, actor)
    target = {
        Outcome.FAILED: PaymentStatus.FAILED,
        Outcome.CANCELLED: PaymentStatus.CANCELLED,
        Outcome.PENDING: PaymentStatus.PENDING,
    }[event.outcome]
    values = {"provider_ref": event.provider_ref} if event.provider_ref else {}
    if transition(session, payment, target, actor=actor, event_data=event_data, values=values):
        return Applied.APPLIED
    session.refresh(payment)
    return Applied.DUPLICATE if payment.status is target else Applied.IGNORED


def _apply_success(
    session: Session, payment: Payment, invoice: Invoice, event: ProviderEvent, actor: str
) -> Applied:
    event_data = lambda: payment_data(payment, invoice)  # noqa: E731
    values = {"provider_ref": event.provider_ref or payment.provider_ref}
    try:
        with session.begin_nested():
            moved = transition(
                session, payment, PaymentStatus.SUCCEEDED, actor=actor, event_data=event_data, values=values
            )
    except IntegrityError:
        # Another attempt of this invoice succeeded first (the partial unique index said so):
        # the citizen paid twice. Record it as a duplicate that needs a refund.
        session.refresh(payment)
        if transition(
            session,
            payment,
            PaymentStatus.SUCCEEDED_DUPLICATE,
            actor=actor,
            event_data=event_data,
            values=values,
        ):
            flag_for_review(
                session,
                payment,
                "refund_required",
                actor=actor,
                event_data=event_data,
                detail={"why": "invoice already paid by another attempt"},
            )
            return Applied.FLAGGED
        moved = False
    if moved:
        paid = transition(
            session,
            invoice,
            InvoiceStatus.PAID,
            actor=actor,
            event_data=lambda: _invoice_data(invoice),
            values={"paid_at": utcnow()},
        )
        if paid:
            return Applied.APPLIED
        session.refresh(invoice)
        flag_for_review(
            session,
            payment,
            "refund_required",
            actor=actor,
            event_data=event_data,
            detail={"why": f"paid after the invoice was {invoice.status.value}"},
        )
        return Applied.FLAGGED
    session.refresh(payment)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED_DUPLICATE):
        return Applied.DUPLICATE
    if is_terminal(payment.status):
        # The provider took the money after we closed the attempt: never drop it silently.
        flag_for_review(
            session,
            payment,
            "late_success",
            actor=actor,
            event_data=event_data,
            detail={"status": payment.status.value},
        )
        return Applied.FLAGGED
    return Applied.IGNORED


def _invoice_data(invoice: Invoice) -> dict[str, Any]:
    from .service import invoice_data

    return invoice_data(invoice)
