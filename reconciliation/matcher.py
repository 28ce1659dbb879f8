"""Three-way reconciliation as one pure function over plain values.

1. Provider payments <-> provider settlement lines, 1:1 by provider transaction id.
2. Settlement batches <-> bank credits, N:1: by batch reference in the transfer content,
   else by exact amount within a window of business days.
3. Direct transfers <-> payments, by our reference found in the transfer content and
   exact amount.

Every input item gets exactly one :class:`Outcome`. Order of input never changes a
category: items are processed in a sorted order, so the same inputs always give the
same result (a re-run of a day is idempotent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from reconciliation.batch_matching import match_batches
from reconciliation.importers.base import Direction
from reconciliation.matching_types import (
    BankEntry,
    Category,
    Channel,
    ItemKind,
    LedgerPayment,
    MatchConfig,
    MatchResult,
    Outcome,
    SettlementBatch,
    SettlementItem,
    Way,
)
from reconciliation.outcome_book import OutcomeBook, batch_outcome, entry_outcome, payment_outcome


def _mark_duplicate_entries(entries: Sequence[BankEntry], book: OutcomeBook) -> None:
    """A bank reference seen twice on the same account is the same booking delivered twice."""
    seen: dict[tuple[str, str, Direction, int], int] = {}
    for entry in entries:
        if not entry.bank_ref:
            continue
        key = (entry.account, entry.bank_ref, entry.direction, entry.amount)
        if key in seen:
            book.put(
                entry_outcome(entry, Category.DUPLICATE, counterpart=(seen[key],), note="same bank reference")
            )
        else:
            seen[key] = entry.id


def _pair_reversals(entries: Sequence[BankEntry], book: OutcomeBook) -> None:
    """Net each reversal against the entry it reverses: same account, amount and reference."""
    if not any(entry.reversal for entry in entries):
        return
    originals: dict[tuple[str, str, int, Direction], list[BankEntry]] = defaultdict(list)
    for entry in entries:
        if not entry.reversal and not book.has(ItemKind.ENTRY, entry.id):
            for key_text in (entry.bank_ref, *entry.references):
                if key_text:
                    originals[(entry.account, key_text, entry.amount, entry.direction)].append(entry)
    for reversal in entries:
        if not reversal.reversal or book.has(ItemKind.ENTRY, reversal.id):
            continue
        opposite = Direction.DEBIT if reversal.direction is Direction.CREDIT else Direction.CREDIT
        original = None
        for key_text in (reversal.bank_ref, *reversal.references):
            for candidate in originals.get((reversal.account, key_text, reversal.amount, opposite), ()):
                if not book.has(ItemKind.ENTRY, candidate.id):
                    original = candidate
                    break
            if original:
                break
        if original is None:
            book.put(
                entry_outcome(reversal, Category.UNEXPECTED_IN_STATEMENT, note="reversal without original")
            )
            continue
        book.put(
            entry_outcome(
                original, Category.MATCHED, Way.REVERSAL, counterpart=(reversal.id,), note="reversed"
            )
        )
        book.put(entry_outcome(reversal, Category.MATCHED, Way.REVERSAL, counterpart=(original.id,)))


def _match_references(
    payments: Sequence[LedgerPayment], entries: Sequence[BankEntry], book: OutcomeBook
) -> None:
    """Way 3: credits naming one of our references, against the payment of that reference."""
    by_reference: dict[str, LedgerPayment] = {}
    for payment in payments:
        if payment.reference in by_reference:
            book.put(
                payment_outcome(
                    payment, Category.DUPLICATE, counterpart=(by_reference[payment.reference].id,)
                )
            )
        else:
            by_reference[payment.reference] = payment
    claims: dict[str, list[BankEntry]] = defaultdict(list)
    for entry in entries:
        if (
            book.has(ItemKind.ENTRY, entry.id)
            or entry.direction is not Direction.CREDIT
            or not entry.references
        ):
            continue
        if len(entry.references) > 1:
            book.put(
                entry_outcome(
                    entry,
                    Category.AMBIGUOUS,
                    Way.REFERENCE,
                    note="several references: " + ", ".join(entry.references),
                )
            )
        else:
            claims[entry.references[0]].append(entry)
    for reference, claiming in sorted(claims.items()):
        claimed = by_reference.get(reference)
        if claimed is None:
            for entry in claiming:
                book.put(
                    entry_outcome(
                        entry,
                        Category.UNEXPECTED_IN_STATEMENT,
                        Way.REFERENCE,
                        note=f"unknown reference {reference}",
                    )
                )
            continue
        payment = claimed
        if payment.channel is Channel.PROVIDER:
            # The citizen paid through a provider and also by transfer: money to give back.
            for entry in claiming:
                book.put(
                    entry_outcome(
                        entry,
                        Category.DUPLICATE,
                        Way.REFERENCE,
                        counterpart=(payment.id,),
                        note="paid through provider too",
                    )
                )
            continue
        exact = [e for e in claiming if e.amount == payment.amount and e.currency == payment.currency]
        if exact:
            winner = exact[0]
            book.put(payment_outcome(payment, Category.MATCHED, Way.REFERENCE, counterpart=(winner.id,)))
            book.put(entry_outcome(winner, Category.MATCHED, Way.REFERENCE, counterpart=(payment.id,)))
            book.result.settled_by[payment.id] = winner.id
            for entry in claiming:
                if entry is not winner:
                    book.put(
                        entry_outcome(
                            entry,
                            Category.DUPLICATE,
                            Way.REFERENCE,
                            counterpart=(payment.id,),
                            note="paid twice",
                        )
                    )
            continue
        first = claiming[0]
        same_currency = first.currency == payment.currency
        book.put(
            payment_outcome(
                payment,
                Category.AMOUNT_MISMATCH,
                Way.REFERENCE,
                counterpart=tuple(e.id for e in claiming),
                delta=first.amount - payment.amount if same_currency else 0,
                note="" if same_currency else f"paid in {first.currency}",
            )
        )
        for entry in claiming:
            book.put(
                entry_outcome(
                    entry,
                    Category.AMOUNT_MISMATCH,
                    Way.REFERENCE,
                    counterpart=(payment.id,),
                    delta=entry.amount - payment.amount,
                )
            )


def _match_provider_lines(
    payments: Sequence[LedgerPayment], lines: Sequence[SettlementItem], config: MatchConfig, book: OutcomeBook
) -> dict[int, int]:
    """Way 1: provider payments against settlement lines; return payment id -> line id for matches."""
    by_key: dict[tuple[str, str], SettlementItem] = {}
    for line in lines:
        key = (line.provider_code, line.provider_ref)
        if key in by_key:
            book.put(
                Outcome(
                    ItemKind.SETTLEMENT,
                    line.id,
                    Category.DUPLICATE,
                    line.amount,
                    line.currency,
                    Way.PROVIDER,
                    (by_key[key].id,),
                )
            )
        else:
            by_key[key] = line
    used: set[int] = set()
    matched: dict[int, int] = {}
    for payment in payments:
        if payment.channel is not Channel.PROVIDER or book.has(ItemKind.PAYMENT, payment.id):
            continue
        found = by_key.get((payment.provider_code, payment.provider_ref))
        if found is None:
            book.put(payment_outcome(payment, Category.MISSING_IN_STATEMENT, Way.PROVIDER))
            continue
        line = found
        if line.id in used:  # two of our payments carry one provider transaction id
            book.put(payment_outcome(payment, Category.DUPLICATE, Way.PROVIDER, counterpart=(line.id,)))
            continue
        used.add(line.id)
        same = line.amount == payment.amount and line.currency == payment.currency
        category = Category.MATCHED if same else Category.AMOUNT_MISMATCH
        delta = 0 if same else line.amount - payment.amount
        lag = abs((line.settled_on - payment.paid_on).days)
        note = f"settled {lag} days after payment" if lag > config.date_tolerance_days else ""
        book.put(
            payment_outcome(payment, category, Way.PROVIDER, counterpart=(line.id,), delta=delta, note=note)
        )
        book.put(
            Outcome(
                ItemKind.SETTLEMENT,
                line.id,
                category,
                line.amount,
                line.currency,
                Way.PROVIDER,
                (payment.id,),
                delta,
                note,
            )
        )
        if same:
            matched[payment.id] = line.id
    for line in lines:
        if not book.has(ItemKind.SETTLEMENT, line.id):
            book.put(
                Outcome(
                    ItemKind.SETTLEMENT,
                    line.id,
                    Category.UNEXPECTED_IN_STATEMENT,
                    line.amount,
                    line.currency,
                    Way.PROVIDER,
                )
            )
    return matched


def match(
    payments: Iterable[LedgerPayment],
    settlements: Iterable[SettlementItem],
    batches: Iterable[SettlementBatch],
    entries: Iterable[BankEntry],
    config: MatchConfig | None = None,
) -> MatchResult:
    """Reconcile payments, provider settlement lines and batches, and statement entries."""
    config = config or MatchConfig()
    payment_list = sorted(payments, key=lambda p: p.id)
    line_list = sorted(settlements, key=lambda s: s.id)
    batch_list = sorted(batches, key=lambda b: (b.settled_on, b.id))
    entry_list = sorted(entries, key=lambda e: (e.booking_date, e.id))
    book = OutcomeBook()
    _mark_duplicate_entries(entry_list, book)
    _pair_reversals(entry_list, book)
    _match_references(payment_list, entry_list, book)
    line_matches = _match_provider_lines(payment_list, line_list, config, book)
    batch_matches = match_batches(batch_list, entry_list, config, book)
    batch_of_line = {line.id: line.batch_id for line in line_list}
    for payment_id, line_id in line_matches.items():
        entry_id = batch_matches.get(batch_of_line[line_id])
        if entry_id is not None:
            book.result.settled_by[payment_id] = entry_id
    for entry in entry_list:
        if not book.has(ItemKind.ENTRY, entry.id):
            note = "debit" if entry.direction is Direction.DEBIT else ""
            book.put(entry_outcome(entry, Category.UNEXPECTED_IN_STATEMENT, note=note))
    for payment in payment_list:
        if not book.has(ItemKind.PAYMENT, payment.id):
            book.put(payment_outcome(payment, Category.MISSING_IN_STATEMENT, Way.REFERENCE))
    for batch in batch_list:
        if not book.has(ItemKind.BATCH, batch.id):  # pragma: no cover - every batch is decided above
            book.put(batch_outcome(batch, Category.MISSING_IN_STATEMENT))
    return book.result
