"""Run the daily reconciliation for one account and day, and persist what it found.

The day's data is streamed from the database sorted by payment reference and fed to
the pure matcher in chunks (a chunk ends at a reference boundary, so every entry
meets the payment it names). Everything without a reference (provider batches,
unknown transfers, provider payments and their settlement lines) goes through one
last call. Memory therefore stays bounded however large the day is.

Re-running a day is safe: it adds a run, updates the same exceptions (one per item,
keyed by the item) and never settles a payment twice. A payment settled by another
day's statement counts as matched, which is how a late statement heals earlier days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy.orm import Session

from payments.audit import record_audit
from payments.db import utcnow
from reconciliation import repository
from reconciliation.importers.base import Direction
from reconciliation.matcher import match
from reconciliation.matching_types import (
    BankEntry,
    Category,
    Channel,
    ItemKind,
    LedgerPayment,
    MatchConfig,
    MatchResult,
    Outcome,
    SettlementItem,
    Way,
    batch_id_for,
    group_batches,
)
from reconciliation.models import (
    PaymentSettlement,
    ReconciliationException,
    ReconciliationItem,
    ReconciliationRun,
)

CHUNK_PAYMENTS = 20_000


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What a run needs from configuration."""

    direct_providers: frozenset[str] = frozenset({"vietqr", "sandbox"})
    provider_accounts: dict[str, str] = field(default_factory=dict)  # provider code -> collection account
    match: MatchConfig = MatchConfig()


@dataclass(slots=True)
class RunReport:
    """What one run found; ``as_json`` is the CLI's ``--json`` summary."""

    run_id: int
    day: date
    account: str
    status: str
    counts: Counter[str] = field(default_factory=Counter)  # "payment:matched" -> n
    settled: int = 0

    def categories(self) -> dict[str, int]:
        """Count items per category, all kinds together."""
        totals: Counter[str] = Counter({category.value: 0 for category in Category})
        for key, count in self.counts.items():
            totals[key.partition(":")[2]] += count
        return dict(totals)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {
            "run_id": self.run_id,
            "day": self.day.isoformat(),
            "account": self.account,
            "status": self.status,
            "categories": self.categories(),
            "by_kind": dict(sorted(self.counts.items())),
            "settled": self.settled,
        }


DIRECTIONS = {direction.value: direction for direction in Direction}
VALUES = {member: member.value for enum_class in (Category, ItemKind, Way) for member in enum_class}
MATCHED = Category.MATCHED
DIRECT, PROVIDER = Channel.DIRECT, Channel.PROVIDER
# Vietnam keeps UTC+7 all year (no DST), so a fixed offset gives the local date cheaply.
VIETNAM_OFFSET = timedelta(hours=7)


def _entry(row: Row[Any]) -> BankEntry:
    (id_, account, amount, currency, direction, booked, remittance, bank_ref, reversal, _, found) = row
    refs = tuple(found.split(",")) if found else ()
    return BankEntry(
        id_, account, amount, currency, DIRECTIONS[direction], booked, remittance, bank_ref, reversal, refs
    )


class _Persister:
    """Write a run's outcomes: items (a pair on one row), exceptions and settlements."""

    def __init__(self, session: Session, run: ReconciliationRun, actor: str) -> None:
        self.session = session
        self.run = run
        self.actor = actor
        self.report = RunReport(run.id, run.day, run.account, "done")
        self.exceptions = repository.exceptions_by_key(session, run.account)
        # Only exceptions open before this run can be healed by it; checked first, as a set, for speed.
        self.open_before = {key for key, row in self.exceptions.items() if row.status == "open"}

    def matched_elsewhere(self, payment: Row[Any]) -> None:
        """Record a payment already settled by another day's entry as matched."""
        self.report.counts["payment:matched"] += 1
        row = {
            "run_id": self.run.id,
            "category": Category.MATCHED.value,
            "way": Way.REFERENCE.value,
            "payment_id": payment.id,
            "entry_id": payment.entry_id,
            "settlement_line_id": None,
            "batch_key": None,
            "amount": payment.amount,
            "currency": payment.currency,
            "delta": 0,
            "note": f"settled by the statement of {payment.settled_on}",
        }
        repository.bulk_insert(self.session, ReconciliationItem.__table__, [row])  # type: ignore[arg-type]
        self._heal(f"payment:{payment.id}")

    def write(self, result: MatchResult, entries: Sequence[BankEntry], already_settled: set[int]) -> None:
        """Persist one matcher call's result."""
        # Only this chunk's entries: a day can hold millions.
        entry_day = {entry.id: (entry.booking_date, entry.bank_ref) for entry in entries}
        rows: list[dict[str, Any]] = []
        paired: set[tuple[ItemKind, int | str]] = set()
        counts = self.report.counts
        for outcome in result.outcomes:
            counts[f"{VALUES[outcome.kind]}:{VALUES[outcome.category]}"] += 1
        # A pair that settles its payment now is recorded once, as the settlement row (it names the run).
        settling = {pid: eid for pid, eid in result.settled_by.items() if pid not in already_settled}
        for outcome in result.outcomes:
            if (outcome.kind, outcome.item_id) in paired:
                continue
            partner = self._partner(outcome)
            if partner is not None:
                paired.add(partner)
                if outcome.way is Way.REFERENCE and settling.get(outcome.item_id) == partner[1]:  # type: ignore[arg-type]
                    self._track_exception(outcome, partner)
                    continue
            row = self._row(outcome)
            if partner is not None:
                column = {ItemKind.ENTRY: "entry_id", ItemKind.SETTLEMENT: "settlement_line_id"}[partner[0]]
                row[column] = partner[1]
            rows.append(row)
            self._track_exception(outcome, partner)
        repository.bulk_insert(self.session, ReconciliationItem.__table__, rows)  # type: ignore[arg-type]
        settlements = []
        for payment_id, entry_id in settling.items():
            booked, bank_ref = entry_day[entry_id]
            settlements.append(
                {
                    "payment_id": payment_id,
                    "entry_id": entry_id,
                    "settled_on": booked,
                    "statement_ref": bank_ref or f"entry:{entry_id}",
                    "run_id": self.run.id,
                    "created_at": utcnow(),
                }
            )
        repository.bulk_insert(self.session, PaymentSettlement.__table__, settlements)  # type: ignore[arg-type]
        self.report.settled += len(settlements)

    def _row(self, outcome: Outcome) -> dict[str, Any]:
        kind = VALUES[outcome.kind]
        return {
            "run_id": self.run.id,
            "category": VALUES[outcome.category],
            "way": VALUES[outcome.way],
            "payment_id": outcome.item_id if kind == "payment" else None,
            "entry_id": outcome.item_id if kind == "statement_line" else None,
            "settlement_line_id": outcome.item_id if kind == "settlement_line" else None,
            "batch_key": outcome.item_id if kind == "settlement_batch" else None,
            "amount": outcome.amount,
            "currency": outcome.currency,
            "delta": outcome.delta,
            "note": outcome.note[:255],
        }

    @staticmethod
    def _partner(outcome: Outcome) -> tuple[ItemKind, int | str] | None:
        """The other side of a 1:1 pair, written on the same row."""
        if (
            outcome.category not in (Category.MATCHED, Category.AMOUNT_MISMATCH)
            or len(outcome.counterpart) != 1
        ):
            return None
        if outcome.kind is ItemKind.PAYMENT and outcome.way is Way.REFERENCE:
            return ItemKind.ENTRY, outcome.counterpart[0]
        if outcome.kind is ItemKind.PAYMENT and outcome.way is Way.PROVIDER:
            return ItemKind.SETTLEMENT, outcome.counterpart[0]
        if outcome.kind is ItemKind.BATCH:
            return ItemKind.ENTRY, outcome.counterpart[0]
        return None

    def _track_exception(self, outcome: Outcome, partner: tuple[ItemKind, int | str] | None) -> None:
        key = f"{VALUES[outcome.kind]}:{outcome.item_id}"
        if outcome.category is not MATCHED:
            self._open(key, outcome)  # one work item per problem: a mismatched pair is one
            return
        self._heal(key)
        if partner is not None:
            self._heal(f"{partner[0].value}:{partner[1]}")

    def _open(self, key: str, outcome: Outcome) -> None:
        existing = self.exceptions.get(key)
        if existing is None:
            row = ReconciliationException(
                item_key=key,
                category=outcome.category.value,
                day=self.run.day,
                account=self.run.account,
                amount=outcome.amount,
                currency=outcome.currency,
                delta=outcome.delta,
                note=outcome.note[:255],
                status="open",
                first_run_id=self.run.id,
                last_run_id=self.run.id,
            )
            self.session.add(row)
            self.exceptions[key] = row
            return
        # The same item again: refresh what it looks like now; a person's resolution stands.
        existing.category = outcome.category.value
        existing.delta = outcome.delta
        existing.note = outcome.note[:255]
        existing.last_run_id = self.run.id

    def _heal(self, key: str) -> None:
        if key not in self.open_before:
            return
        self.open_before.discard(key)
        existing = self.exceptions.get(key)
        if existing is None or existing.status != "open":
            return
        existing.status = "resolved"
        existing.resolution = "auto_matched"
        existing.resolution_note = f"matched by run {self.run.id}"
        existing.resolved_by = self.actor
        existing.resolved_at = utcnow()
        existing.last_run_id = self.run.id
        record_audit(
            self.session,
            actor=self.actor,
            action="reconciliation_exception.auto_matched",
            entity_type="reconciliation_exception",
            entity_id=str(existing.id),
            detail={"item": key, "run_id": self.run.id},
        )


def _chunks(
    payments: Iterator[Row[Any]], entries: Iterator[Row[Any]], settings: RunSettings, persister: _Persister
) -> Iterator[tuple[list[LedgerPayment], list[BankEntry], set[int], list[LedgerPayment]]]:
    """Yield (direct payments, their entries, already-settled ids, provider payments) by reference range."""
    pending_entry: Row[Any] | None = next(entries, None)
    boundary = ""
    while True:
        direct: list[LedgerPayment] = []
        via_provider: list[LedgerPayment] = []
        settled_here: set[int] = set()
        consumed = 0
        day, account, direct_providers = persister.run.day, persister.run.account, settings.direct_providers
        for row in islice(payments, CHUNK_PAYMENTS):
            consumed += 1
            (
                id_,
                reference,
                amount,
                currency,
                finished_at,
                provider_code,
                provider_ref,
                entry_id,
                settled_on,
            ) = row
            boundary = reference
            if entry_id is not None:
                if settled_on != day:
                    persister.matched_elsewhere(row)
                    continue
                settled_here.add(id_)
            channel = DIRECT if provider_code in direct_providers else PROVIDER
            paid_on = (finished_at + VIETNAM_OFFSET).date() if finished_at else day
            payment = LedgerPayment(
                id_, reference, amount, currency, paid_on, account, channel, provider_code, provider_ref or ""
            )
            (direct if channel is DIRECT else via_provider).append(payment)
        exhausted = consumed == 0
        chunk_entries: list[BankEntry] = []
        while pending_entry is not None and (exhausted or pending_entry.reference <= boundary):
            chunk_entries.append(_entry(pending_entry))
            pending_entry = next(entries, None)
        yield direct, chunk_entries, settled_here, via_provider
        if exhausted:
            return


def run_day(
    session: Session,
    day: date,
    account: str,
    *,
    settings: RunSettings,
    actor: str,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Reconcile one collection account for one day and persist the outcome."""
    mark_stale_runs(session, day, account)
    run = ReconciliationRun(day=day, account=account, status="running", actor=actor, counts={})
    session.add(run)
    session.flush()
    if not repository.has_statement_for(session, account, day):
        run.status = "no_statement"
        run.finished_at = utcnow()
        return RunReport(run.id, day, account, "no_statement")
    persister = _Persister(session, run, actor)
    payments = repository.stream_payments(session, account, day)
    referenced = repository.stream_entries(session, account, day, with_reference=True)
    provider_payments: list[LedgerPayment] = []
    settled_before: set[int] = set()
    seen = 0
    for direct, entries, settled_here, via_provider in _chunks(payments, referenced, settings, persister):
        provider_payments.extend(via_provider)
        settled_before |= settled_here
        persister.write(match(direct, [], [], entries, settings.match), entries, settled_here)
        seen += len(direct) + len(entries)
        if progress is not None:
            progress(seen)
    # The rest: entries without one reference, provider payments, settlement lines and batches.
    rest = [_entry(row) for row in repository.stream_entries(session, account, day, with_reference=False)]
    providers = [code for code, acc in settings.provider_accounts.items() if acc == account]
    providers += sorted({p.provider_code for p in provider_payments} - set(providers))
    window_start = day - timedelta(days=7 + 2 * settings.match.window_business_days)
    lines = repository.list_settlement_lines(session, providers, window_start, day)
    items = [
        SettlementItem(
            line.id,
            line.provider_code,
            line.provider_ref,
            line.amount,
            line.currency,
            line.settled_on,
            batch_id_for(line.provider_code, line.batch_ref, line.settled_on),
            line.fee,
        )
        for line in lines
    ]
    account_of = {code: settings.provider_accounts.get(code, account) for code in providers}
    done_elsewhere = repository.batches_matched_elsewhere(session, account, day)
    batches = [b for b in group_batches(items, account_of) if b.id not in done_elsewhere]
    todays = [item for item in items if item.settled_on == day]
    result = match(provider_payments, todays, batches, rest, settings.match)
    persister.write(result, rest, settled_before)
    session.flush()
    report = persister.report
    run.status = "done"
    run.counts = dict(report.counts)
    run.finished_at = utcnow()
    record_audit(
        session,
        actor=actor,
        action="reconciliation.run",
        entity_type="reconciliation_run",
        entity_id=str(run.id),
        detail={
            "day": day.isoformat(),
            "account": account,
            "categories": report.categories(),
            "settled": report.settled,
        },
    )
    return report


def mark_stale_runs(session: Session, day: date, account: str) -> None:
    """Mark earlier runs of the same day and account as superseded (history stays)."""
    session.execute(
        update(ReconciliationRun)
        .where(
            ReconciliationRun.day == day,
            ReconciliationRun.account == account,
            ReconciliationRun.status == "done",
        )
        .values(status="superseded")
    )
