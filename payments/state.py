"""The one transition table for invoices and payments, and its compare-and-set guard.

Every status change in feegate is a single ``UPDATE ... WHERE id = :id AND
status IN (<allowed sources>)`` built from this table (see
:func:`payments.repository.compare_and_set`). Zero rows updated means another
transaction got there first, or the edge is not allowed: the caller re-reads.
"""

from __future__ import annotations

import enum


class InvoiceStatus(enum.StrEnum):
    """Lifecycle of a fee invoice."""

    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    """Lifecycle of one payment attempt with one provider."""

    CREATED = "created"
    PENDING = "pending"
    UNKNOWN = "unknown"  # the provider did not answer in time; mop-up will ask again
    SUCCEEDED = "succeeded"
    #: a second success for an invoice already paid: money to hand back, never a second payment
    SUCCEEDED_DUPLICATE = "succeeded_duplicate"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RefundStatus(enum.StrEnum):
    """Lifecycle of one refund of a succeeded attempt."""

    CREATED = "created"  # recorded, the provider not asked yet
    PENDING = "pending"  # the provider accepted it and finishes later
    UNKNOWN = "unknown"  # the provider did not answer: it may or may not have refunded
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: refunds that count against what is left to refund (all but the failed ones)
REFUND_HOLDS_AMOUNT = frozenset(
    {RefundStatus.CREATED, RefundStatus.PENDING, RefundStatus.UNKNOWN, RefundStatus.SUCCEEDED}
)

Status = InvoiceStatus | PaymentStatus

_P = PaymentStatus
_OPEN_ATTEMPT = frozenset({_P.CREATED, _P.PENDING, _P.UNKNOWN})

#: per entity: target status -> the statuses it may be reached from. Keyed by entity because the
#: two enums share values ("cancelled", "expired") and StrEnum members equal to one string collide.
TRANSITIONS: dict[str, dict[Status, frozenset[Status]]] = {
    "invoice": {
        InvoiceStatus.PAID: frozenset({InvoiceStatus.OPEN}),
        InvoiceStatus.EXPIRED: frozenset({InvoiceStatus.OPEN}),
        InvoiceStatus.CANCELLED: frozenset({InvoiceStatus.OPEN}),
    },
    "payment": {
        _P.PENDING: frozenset({_P.CREATED, _P.UNKNOWN}),
        _P.UNKNOWN: frozenset({_P.CREATED, _P.PENDING}),
        _P.SUCCEEDED: _OPEN_ATTEMPT,
        _P.SUCCEEDED_DUPLICATE: _OPEN_ATTEMPT,
        _P.FAILED: _OPEN_ATTEMPT,
        _P.CANCELLED: _OPEN_ATTEMPT,
        _P.EXPIRED: _OPEN_ATTEMPT,
    },
}


def entity_of(status: Status) -> str:
    """Return ``"invoice"`` or ``"payment"``: which entity a status belongs to."""
    return "invoice" if isinstance(status, InvoiceStatus) else "payment"


def is_terminal(status: Status) -> bool:
    """Tell whether no edge leaves ``status``."""
    table = TRANSITIONS[entity_of(status)]
    return not any(status in sources for sources in table.values())


class IllegalTransition(Exception):
    """An edge outside :data:`TRANSITIONS` was asked for."""

    def __init__(self, entity_id: str, from_: Status, to: Status) -> None:
        super().__init__(f"{entity_id}: {from_} -> {to} is not an allowed transition")
        self.entity_id = entity_id
        self.from_ = from_
        self.to = to


def allowed_sources(to: Status) -> frozenset[Status]:
    """Return the statuses from which ``to`` may be reached (empty for initial states)."""
    return TRANSITIONS[entity_of(to)].get(to, frozenset())


def is_allowed(from_: Status, to: Status) -> bool:
    """Tell whether ``from_ -> to`` is an edge of the table (both of one entity)."""
    return entity_of(from_) == entity_of(to) and from_ in allowed_sources(to)
