"""Way 2 of the matcher: provider settlement batches against bank credits (N:1)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from reconciliation.importers.base import Direction
from reconciliation.matching_types import (
    BankEntry,
    Category,
    ItemKind,
    MatchConfig,
    SettlementBatch,
    Way,
    add_business_days,
)
from reconciliation.outcome_book import OutcomeBook, batch_outcome, entry_outcome

WORD = re.compile(r"[^\W_]+")  # a run of letters or digits, any script


def mentions(text: str, ref: str) -> bool:
    """Return True if ``ref`` appears in ``text`` as whole words, ignoring case, spaces and punctuation."""
    target = "".join(WORD.findall(ref.upper()))
    if not target:
        return False
    words = WORD.findall(text.upper())
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if len(joined) >= len(target):
                break
        if joined == target:
            return True
    return False


def match_batches(
    batches: Sequence[SettlementBatch], entries: Sequence[BankEntry], config: MatchConfig, book: OutcomeBook
) -> dict[str, int]:
    """Way 2: each batch against one bank credit; return batch id -> entry id for matches."""
    open_credits = [
        e
        for e in entries
        if e.direction is Direction.CREDIT and not e.reversal and not book.has(ItemKind.ENTRY, e.id)
    ]
    matched: dict[str, int] = {}

    def settle(batch: SettlementBatch, entry: BankEntry, how: str) -> None:
        same = entry.amount == batch.amount and entry.currency == batch.currency
        category = Category.MATCHED if same else Category.AMOUNT_MISMATCH
        delta = 0 if same else entry.amount - batch.amount
        book.put(batch_outcome(batch, category, (entry.id,), delta, how))
        book.put(entry_outcome(entry, category, Way.BATCH, counterpart=(batch.id,), delta=delta, note=how))
        if same:
            matched[batch.id] = entry.id

    # First by batch reference in the transfer content: the strongest evidence there is.
    pending: list[SettlementBatch] = []
    for batch in batches:
        named = [
            e
            for e in open_credits
            if e.account == batch.account
            and not book.has(ItemKind.ENTRY, e.id)
            and batch.batch_ref
            and mentions(e.remittance, batch.batch_ref)
        ]
        if len(named) == 1:
            settle(batch, named[0], "by batch reference")
        elif len(named) > 1:
            book.put(
                batch_outcome(
                    batch,
                    Category.AMBIGUOUS,
                    tuple(e.id for e in named),
                    note="batch reference on several credits",
                )
            )
            for entry in named:
                book.put(entry_outcome(entry, Category.AMBIGUOUS, Way.BATCH, counterpart=(batch.id,)))
        else:
            pending.append(batch)
    # Then by exact amount inside the date window; a credit two batches could claim is ambiguous.
    by_amount: dict[tuple[str, str, int], list[BankEntry]] = defaultdict(list)
    for entry in open_credits:
        if not book.has(ItemKind.ENTRY, entry.id):
            by_amount[(entry.account, entry.currency, entry.amount)].append(entry)
    candidates: dict[str, list[BankEntry]] = {}
    claimed_by: dict[int, list[str]] = defaultdict(list)
    for batch in pending:
        last = add_business_days(batch.settled_on, config.window_business_days, config.holidays)
        found = [
            e
            for e in by_amount.get((batch.account, batch.currency, batch.amount), ())
            if batch.settled_on <= e.booking_date <= last
        ]
        candidates[batch.id] = found
        for entry in found:
            claimed_by[entry.id].append(batch.id)
    for batch in pending:
        found = candidates[batch.id]
        if len(found) == 1 and claimed_by[found[0].id] == [batch.id]:
            settle(batch, found[0], "by amount and date")
        elif found:
            book.put(batch_outcome(batch, Category.AMBIGUOUS, tuple(e.id for e in found)))
            for entry in found:
                if not book.has(ItemKind.ENTRY, entry.id):
                    book.put(
                        entry_outcome(
                            entry, Category.AMBIGUOUS, Way.BATCH, counterpart=tuple(claimed_by[entry.id])
                        )
                    )
        else:
            book.put(batch_outcome(batch, Category.MISSING_IN_STATEMENT))
    return matched
