"""Write one imported statement: its row, then its entries streamed into the database.

The per-entry path of a million-entry import lives here and is kept lean: an entry
becomes one tuple (with the payment reference found in its transfer content)
written straight into the statement's COPY, and the statement's totals are counted
on the way for the balance check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy.orm import Session

from reconciliation import repository
from reconciliation.importers import Direction, Statement, StatementLine, StatementSummary
from reconciliation.models import BankStatement, StatementEntry
from reconciliation.reference import reference_candidates

ENTRY_COLUMNS = (
    "statement_id", "entry_number", "account", "amount", "currency", "direction", "booking_date",
    "value_date", "bank_ref", "end_to_end_id", "remittance", "counterparty", "reversal", "status",
    "batch_count", "reference", "found_references",
)  # fmt: skip

_DIRECTION_VALUES = {direction: direction.value for direction in Direction}  # ``.value`` is slow per call
_CREDIT = Direction.CREDIT


class EntryCounts(Protocol):
    """What a statement's import counts: its entries, and its booked credits and debits."""

    entries: int
    total_credit: int
    total_debit: int


def count_entry(counts: EntryCounts, line: StatementLine) -> None:
    """Count one stored entry; only booked ones move the totals."""
    counts.entries += 1
    if line.status == "BOOK":
        if line.direction is _CREDIT:
            counts.total_credit += line.amount
        else:
            counts.total_debit += line.amount


def entry_row(
    line: StatementLine, statement_pk: int, account: str, fallback_day: date | None
) -> tuple[Any, ...]:
    """Return an entry's values in ``ENTRY_COLUMNS`` order; ValueError when it has no day to book on."""
    booked = line.booking_date or line.value_date or fallback_day
    if booked is None:
        raise ValueError("entry has no booking date and its statement no period")
    # A batch entry carries many transfers' texts: it is a provider lump sum, never one payment.
    is_batch = (line.batch_count or 0) > 1
    found: tuple[str, ...] = ()
    if not is_batch:
        found = reference_candidates(f"{line.remittance} {line.end_to_end_id}")
    return (
        statement_pk,
        line.entry_number,
        account,
        line.amount,
        line.currency,
        _DIRECTION_VALUES[line.direction],
        booked,
        line.value_date,
        line.bank_ref[:128],
        line.end_to_end_id[:128],
        line.remittance,
        line.counterparty[:255],
        line.reversal,
        line.status[:8],
        line.batch_count,
        found[0] if len(found) == 1 else None,
        ",".join(found)[:255],
    )


@dataclass(slots=True)
class StatementWriter:
    """One statement being imported: its row, running totals and the open COPY of its entries.

    While it is open nothing else may use the session's connection: close it first.
    """

    row: BankStatement
    summary: StatementSummary
    writer: repository.RowWriter
    # The row's values every entry repeats, read once (an ORM attribute costs a call per read).
    statement_pk: int = 0
    account: str = ""
    fallback_day: date | None = None

    def __post_init__(self) -> None:
        self.statement_pk, self.account = self.row.id, self.row.account
        self.fallback_day = self.summary.statement.period_end

    @classmethod
    def start(cls, session: Session, file_id: int, item: Statement, account: str) -> StatementWriter:
        """Record the statement of file ``file_id`` for ``account`` and open the COPY of its entries."""
        row = BankStatement(
            file_id=file_id,
            position=item.index,
            statement_id=item.statement_id[:64],
            account=account,
            currency=item.currency or "VND",
            opening_balance=item.opening_balance,
            closing_balance=item.closing_balance,
            period_start=item.period_start,
            period_end=item.period_end,
            balance_check="absent",
        )
        session.add(row)
        session.flush()
        writer = repository.RowWriter(session, StatementEntry.__table__, ENTRY_COLUMNS)  # type: ignore[arg-type]
        return cls(row, StatementSummary(item), writer)

    def add(self, line: StatementLine) -> None:
        """Write one entry and count it; ValueError if it cannot be stored."""
        row = entry_row(line, self.statement_pk, self.account, self.fallback_day)
        count_entry(self.summary, line)
        self.writer.write(row)

    def write_copy_text(self, data: bytes) -> None:
        """Write entries already formatted as COPY text rows (PostgreSQL; the caller counts them)."""
        self.writer.write_text(data)

    def close(self) -> None:
        """Finish the COPY of the entries."""
        self.writer.close()

    def abort(self, error: BaseException) -> None:
        """Abandon the COPY, so the transaction can be rolled back cleanly."""
        self.writer.abort(error)
