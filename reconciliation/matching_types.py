"""Plain values the matcher works on and answers with; no ORM, no I/O.

The per-item values are NamedTuples rather than frozen dataclasses: just as immutable,
and several times cheaper to build, which matters at a million items a day.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from reconciliation.importers.base import Direction


class Category(enum.StrEnum):
    """Where every payment, settlement line, batch and statement entry ends up."""

    MATCHED = "matched"
    MISSING_IN_STATEMENT = "missing_in_statement"
    UNEXPECTED_IN_STATEMENT = "unexpected_in_statement"
    AMOUNT_MISMATCH = "amount_mismatch"
    DUPLICATE = "duplicate"
    AMBIGUOUS = "ambiguous"


class ItemKind(enum.StrEnum):
    """What an outcome is about."""

    PAYMENT = "payment"
    SETTLEMENT = "settlement_line"
    BATCH = "settlement_batch"
    ENTRY = "statement_line"


class Channel(enum.StrEnum):
    """How a payment's money travels to the collection account."""

    PROVIDER = "provider"  # through a provider's daily settlement batch (ways 1 and 2)
    DIRECT = "direct"  # a bank transfer (VietQR) straight to the account (way 3)


class Way(enum.StrEnum):
    """Which matching rule produced an outcome."""

    PROVIDER = "provider"  # payment <-> provider settlement line, by provider transaction id
    BATCH = "batch"  # settlement batch <-> bank credit, by batch reference or amount and date window
    REFERENCE = "reference"  # bank credit <-> direct payment, by our reference in the transfer content
    REVERSAL = "reversal"  # a reversal entry netted against the entry it reverses
    NONE = ""


class LedgerPayment(NamedTuple):
    """A payment we recorded as paid."""

    id: int
    reference: str
    amount: int
    currency: str
    paid_on: date
    account: str
    channel: Channel
    provider_code: str = ""
    provider_ref: str = ""


class SettlementItem(NamedTuple):
    """One line of a provider's settlement report."""

    id: int
    provider_code: str
    provider_ref: str
    amount: int
    currency: str
    settled_on: date
    batch_id: str
    fee: int = 0  # what the provider kept; the batch credit is net of it


class SettlementBatch(NamedTuple):
    """One daily lump sum a provider remits to a collection account."""

    id: str
    provider_code: str
    batch_ref: str
    account: str
    amount: int
    currency: str
    settled_on: date


class BankEntry(NamedTuple):
    """One booked statement entry, with the references found in its transfer content."""

    id: int
    account: str
    amount: int
    currency: str
    direction: Direction
    booking_date: date
    remittance: str = ""
    bank_ref: str = ""
    reversal: bool = False
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Tolerances of the batch rule."""

    window_business_days: int = 2
    holidays: frozenset[date] = frozenset()
    date_tolerance_days: int = 3  # provider line vs payment date: beyond this, a note


class Outcome(NamedTuple):
    """The category of one item and what it was matched or compared against."""

    kind: ItemKind
    item_id: int | str
    category: Category
    amount: int
    currency: str
    way: Way = Way.NONE
    counterpart: tuple[int | str, ...] = ()
    delta: int = 0  # statement side minus our side, for amount mismatches
    note: str = ""


@dataclass(slots=True)
class MatchResult:
    """Every outcome, plus which statement entry proves each settled payment arrived."""

    outcomes: list[Outcome] = field(default_factory=list)
    settled_by: dict[int, int] = field(default_factory=dict)  # payment id -> entry id

    def counts(self) -> Counter[Category]:
        """Count outcomes per category."""
        return Counter(outcome.category for outcome in self.outcomes)

    def of(self, kind: ItemKind, item_id: int | str) -> Outcome:
        """Return the outcome of one item (linear; for tests and small runs)."""
        for outcome in self.outcomes:
            if outcome.kind is kind and outcome.item_id == item_id:
                return outcome
        raise KeyError((kind, item_id))


def batch_id_for(provider_code: str, batch_ref: str | None, settled_on: date) -> str:
    """Name a provider's batch: its own batch reference, else its settlement day."""
    return f"{provider_code}:{batch_ref or settled_on.isoformat()}"


def group_batches(items: Iterable[SettlementItem], account_of: Mapping[str, str]) -> list[SettlementBatch]:
    """Sum settlement lines into the batches their provider remits (net of fees), one per batch id."""
    grouped: dict[str, list[SettlementItem]] = {}
    for item in items:
        grouped.setdefault(item.batch_id, []).append(item)
    batches = []
    for batch_id, lines in sorted(grouped.items()):
        provider_code, _, batch_ref = batch_id.partition(":")
        batches.append(
            SettlementBatch(
                id=batch_id,
                provider_code=provider_code,
                # A batch named after its day has no reference of its own to look for.
                batch_ref="" if batch_ref[:4].isdigit() and batch_ref.count("-") == 2 else batch_ref,
                account=account_of.get(provider_code, ""),
                amount=sum(line.amount - line.fee for line in lines),
                currency=lines[0].currency,
                settled_on=max(line.settled_on for line in lines),
            )
        )
    return batches


def add_business_days(start: date, days: int, holidays: frozenset[date]) -> date:
    """Return the date ``days`` business days after ``start`` (weekends and holidays skipped)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            days -= 1
    return current
