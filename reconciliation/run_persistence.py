"""Write what a run found: items (a pair on one row), exceptions (one per item) and settlements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from payments.audit import record_audit
from payments.db import utcnow
from reconciliation import repository
from reconciliation.matching_types import BankEntry, Category, ItemKind, MatchResult, Outcome, Way
from reconciliation.models import (
    PaymentSettlement,
    ReconciliationException,
    ReconciliationItem,
    ReconciliationRun,
)
from reconciliation.plain_pairs import SETTLEMENT_COLUMNS, settled_pairs_among
from reconciliation.run_report import RunReport

VALUES = {member: member.value for enum_class in (Category, ItemKind, Way) for member in enum_class}
MATCHED = Category.MATCHED
EXCEPTION_COLUMNS = (
    "item_key", "category", "day", "account", "amount", "currency", "delta", "note", "status",
    "first_run_id", "last_run_id", "created_at",
)  # fmt: skip


class RunPersister:
    """Write a run's outcomes: items (a pair on one row), exceptions and settlements."""

    def __init__(self, session: Session, run: ReconciliationRun, actor: str) -> None:
        self.session = session
        self.run = run
        self.actor = actor
        self.report = RunReport(run.id, run.day, run.account, "done")
        self.exceptions = repository.exceptions_by_key(session, run.account)
        # Only exceptions open before this run can be healed by it; checked first, as a set, for speed.
        self.open_before = {key for key, row in self.exceptions.items() if row.status == "open"}
        self.new_exceptions: dict[str, tuple[Any, ...]] = {}  # item key -> row, written with the next write

    def settled_in_database(self, pairs: int) -> None:
        """Count the plain pairs the database settled for this run, and heal what they answer."""
        if not pairs:
            return
        counts = self.report.counts
        counts["payment:matched"] += pairs
        counts["statement_line:matched"] += pairs
        self.report.settled += pairs
        if not self.open_before:
            return
        ids: dict[str, set[int]] = {"payment": set(), "statement_line": set()}
        for key in self.open_before:
            kind, _, item_id = key.partition(":")
            if kind in ids:
                ids[kind].add(int(item_id))
        for payment_id, entry_id in settled_pairs_among(
            self.session, self.run.id, ids["payment"], ids["statement_line"]
        ):
            self._heal(f"payment:{payment_id}")
            self._heal(f"statement_line:{entry_id}")

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
        now = utcnow()
        run_id = self.run.id
        settlements = []
        for payment_id, entry_id in settling.items():
            booked, bank_ref = entry_day[entry_id]
            settlements.append((payment_id, entry_id, booked, bank_ref or f"entry:{entry_id}", run_id, now))
        repository.insert_rows(self.session, PaymentSettlement.__table__, SETTLEMENT_COLUMNS, settlements)  # type: ignore[arg-type]
        self.report.settled += len(settlements)
        exceptions = list(self.new_exceptions.values())
        repository.insert_rows(self.session, ReconciliationException.__table__, EXCEPTION_COLUMNS, exceptions)  # type: ignore[arg-type]
        self.new_exceptions.clear()

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
        if outcome.category is not MATCHED:
            # One work item per problem: a mismatched pair is one.
            self._open(f"{VALUES[outcome.kind]}:{outcome.item_id}", outcome)
            return
        if not self.open_before:
            return  # nothing was open before this run, so nothing to heal: the common case, kept cheap
        self._heal(f"{VALUES[outcome.kind]}:{outcome.item_id}")
        if partner is not None:
            self._heal(f"{VALUES[partner[0]]}:{partner[1]}")

    def _open(self, key: str, outcome: Outcome) -> None:
        existing = self.exceptions.get(key)
        if existing is None:
            # New ones go in together by COPY at the end of the write (a first run can open thousands).
            run_id, note = self.run.id, outcome.note[:255]
            self.new_exceptions[key] = (key, outcome.category.value, self.run.day, self.run.account,
                                        outcome.amount, outcome.currency, outcome.delta, note, "open",
                                        run_id, run_id, utcnow())  # fmt: skip
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
