"""Bookkeeping shared by the matching rules: one outcome per item, and outcome builders."""

from __future__ import annotations

from reconciliation.matching_types import (
    BankEntry,
    Category,
    ItemKind,
    LedgerPayment,
    MatchResult,
    Outcome,
    SettlementBatch,
    Way,
)


class OutcomeBook:
    """Collect outcomes and guarantee exactly one per item."""

    def __init__(self) -> None:
        self.result = MatchResult()
        self.done: set[tuple[ItemKind, int | str]] = set()

    def has(self, kind: ItemKind, item_id: int | str) -> bool:
        """Return True if the item already has its outcome."""
        return (kind, item_id) in self.done

    def put(self, outcome: Outcome) -> None:
        """Record an outcome; a second one for the same item is a bug."""
        key = (outcome.kind, outcome.item_id)
        if key in self.done:
            raise AssertionError(f"{key} categorised twice")
        self.done.add(key)
        self.result.outcomes.append(outcome)


def entry_outcome(
    entry: BankEntry,
    category: Category,
    way: Way = Way.NONE,
    counterpart: tuple[int | str, ...] = (),
    delta: int = 0,
    note: str = "",
) -> Outcome:
    """Build the outcome of a statement entry."""
    return Outcome(
        ItemKind.ENTRY, entry.id, category, entry.amount, entry.currency, way, counterpart, delta, note
    )


def payment_outcome(
    payment: LedgerPayment,
    category: Category,
    way: Way = Way.NONE,
    counterpart: tuple[int | str, ...] = (),
    delta: int = 0,
    note: str = "",
) -> Outcome:
    """Build the outcome of a payment."""
    return Outcome(
        ItemKind.PAYMENT,
        payment.id,
        category,
        payment.amount,
        payment.currency,
        way,
        counterpart,
        delta,
        note,
    )


def batch_outcome(
    batch: SettlementBatch,
    category: Category,
    counterpart: tuple[int | str, ...] = (),
    delta: int = 0,
    note: str = "",
) -> Outcome:
    """Build the outcome of a settlement batch."""
    return Outcome(
        ItemKind.BATCH, batch.id, category, batch.amount, batch.currency, Way.BATCH, counterpart, delta, note
    )
