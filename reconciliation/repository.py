"""Queries and bulk writes for reconciliation; PostgreSQL gets COPY, SQLite plain executemany."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Row,
    Table,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from payments.models import Agency, Payment
from payments.state import PaymentStatus
from reconciliation.models import (
    BankStatement,
    PaymentSettlement,
    ProviderSettlementLine,
    ReconciliationException,
    ReconciliationItem,
    ReconciliationRun,
    StatementEntry,
    StatementFile,
)

#: Statement days and payment days are Vietnamese calendar days.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STREAM_BATCH = 10_000


def is_postgres(session: Session) -> bool:
    """Return True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    raw = session.connection().connection.driver_connection
    quoted = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([row[name] for name in columns])


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows given as tuples in ``columns`` order: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    raw = session.connection().connection.driver_connection
    quoted = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:  # type: ignore[union-attr]
        write_row = copy.write_row
        for row in rows:
            write_row(row)


class RowWriter:
    """Stream rows into one table: a single open COPY on PostgreSQL (the server works while we
    parse), batched executemany elsewhere. Nothing else may use the connection until closed.

    ``write(values)`` adds one row, its values in ``columns`` order; on PostgreSQL it is the
    COPY's own ``write_row``, with no call in between (it runs once per statement entry).
    """

    def __init__(self, session: Session, table: Table, columns: Sequence[str], batch: int = 5_000) -> None:
        self.session = session
        self.table = table
        self.columns = list(columns)
        self.batch = batch
        self.pending: list[tuple[Any, ...]] = []
        self._copy_cm: Any = None
        self._copy: Any = None
        self._cursor: Any = None
        self.write: Callable[[tuple[Any, ...]], None] = self._append
        # Rows already in COPY text format (formatted elsewhere, see ``parallel_import``): PostgreSQL only.
        self.write_text: Callable[[bytes], None] = self._no_copy
        if is_postgres(session):
            raw = session.connection().connection.driver_connection
            self._cursor = raw.cursor()  # type: ignore[union-attr]
            quoted = ", ".join(f'"{name}"' for name in self.columns)
            self._copy_cm = self._cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN")
            self._copy = self._copy_cm.__enter__()
            self.write = self._copy.write_row
            self.write_text = self._copy.write

    def _no_copy(self, data: bytes) -> None:
        raise TypeError("COPY text rows need PostgreSQL")

    def _append(self, values: tuple[Any, ...]) -> None:
        self.pending.append(values)
        if len(self.pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.session.execute(
                insert(self.table), [dict(zip(self.columns, row, strict=True)) for row in self.pending]
            )
            self.pending = []

    def abort(self, error: BaseException) -> None:
        """Abandon the COPY (the server discards it), so the transaction can be rolled back cleanly."""
        if self._copy_cm is not None:
            self._copy_cm.__exit__(type(error), error, error.__traceback__)
            self._cursor.close()
            self._copy_cm = self._copy = None
        self.pending = []

    def close(self) -> None:
        """Finish the COPY (or the last batch)."""
        if self._copy_cm is not None:
            self._copy_cm.__exit__(None, None, None)
            self._cursor.close()
            self._copy_cm = self._copy = None
        self._flush()


#: Server memory for the run's sorts and hashes: the streams' sorts by reference (the 4 MB default
#: spills a million rows to disk) and the plain pairs' sort by payment id (100 MB at a million
#: pairs) and grouping of the day's texts, which still spilled at 64 MB.
RUN_WORK_MEM = "128MB"


def allow_large_sorts(session: Session) -> None:
    """Give this transaction's sorts more server memory on PostgreSQL (``SET LOCAL``: ends with it)."""
    if is_postgres(session):
        session.execute(text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))


def analyze_entries(session: Session) -> None:
    """Refresh the planner's statistics of statement entries on PostgreSQL (it counts our own new rows)."""
    if is_postgres(session):
        session.execute(text("ANALYZE statement_entries"))


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """Return the UTC instants where the Vietnamese calendar ``day`` starts and ends."""
    start = datetime.combine(day, time.min, LOCAL_TZ)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def get_file_by_hash(session: Session, sha256: str) -> StatementFile | None:
    """Return the imported file with this SHA-256, if any."""
    return session.scalars(select(StatementFile).where(StatementFile.sha256 == sha256)).one_or_none()


def list_statements(session: Session, file_id: int) -> Sequence[BankStatement]:
    """Return a file's statements in file order."""
    return session.scalars(
        select(BankStatement).where(BankStatement.file_id == file_id).order_by(BankStatement.position)
    ).all()


def has_statement_for(session: Session, account: str, day: date) -> bool:
    """Tell whether any imported statement covers ``day`` on ``account`` (or books an entry that day)."""
    covering = exists().where(
        BankStatement.account == account, BankStatement.period_start <= day, BankStatement.period_end >= day
    )
    booked = exists().where(StatementEntry.account == account, StatementEntry.booking_date == day)
    return bool(session.scalar(select(or_(covering, booked))))


def accounts_for_day(session: Session, day: date) -> list[str]:
    """Return every collection account: agencies' treasury accounts and accounts with entries that day."""
    accounts = set(session.scalars(select(Agency.treasury_account).distinct()))
    accounts.update(
        session.scalars(select(StatementEntry.account).where(StatementEntry.booking_date == day).distinct())
    )
    return sorted(accounts)


def _by_reference(session: Session, column: Any) -> Any:
    # Both streams are merged in Python by reference, so both must sort bytewise.
    return column.collate("C") if is_postgres(session) else column


def stream_payments(session: Session, account: str, day: date, run_id: int) -> Iterator[Row[Any]]:
    """Yield the account's succeeded payments paid on ``day`` or named by that day's entries, by reference.

    Each row carries the entry and day of an existing settlement, so a payment already
    proven by another day's statement is not reported missing again. Payments settled
    by run ``run_id`` itself (its plain pairs, settled in the database) are left out.
    """
    start, end = day_bounds_utc(day)
    named_today = select(StatementEntry.reference).where(
        StatementEntry.account == account,
        StatementEntry.booking_date == day,
        StatementEntry.reference.is_not(None),
    )
    stmt = (
        select(
            Payment.id,
            Payment.reference,
            Payment.amount,
            Payment.currency,
            # Raw timestamps: the aware-UTC TypeDecorator costs a Python call per row, and only
            # the local date is used (Vietnam is UTC+7 all year).
            type_coerce(Payment.finished_at, DateTime()).label("finished_at"),
            Payment.provider_code,
            Payment.provider_ref,
            PaymentSettlement.entry_id,
            PaymentSettlement.settled_on,
        )
        .join(Agency, Agency.id == Payment.agency_id)
        .outerjoin(PaymentSettlement, PaymentSettlement.payment_id == Payment.id)
        .where(
            Payment.status == PaymentStatus.SUCCEEDED,
            Agency.treasury_account == account,
            or_(
                and_(Payment.finished_at >= start, Payment.finished_at < end),
                Payment.reference.in_(named_today),
            ),
            or_(PaymentSettlement.run_id.is_(None), PaymentSettlement.run_id != run_id),
        )
        .order_by(_by_reference(session, Payment.reference))
        .execution_options(yield_per=STREAM_BATCH)
    )
    yield from session.execute(stmt)


def count_day_items(session: Session, account: str, day: date) -> int:
    """Count the day's entries and the payments paid that day, to size a progress bar."""
    start, end = day_bounds_utc(day)
    entries = session.scalar(
        select(func.count()).where(StatementEntry.account == account, StatementEntry.booking_date == day)
    )
    payments = session.scalar(
        select(func.count())
        .select_from(Payment)
        .join(Agency, Agency.id == Payment.agency_id)
        .where(
            Agency.treasury_account == account,
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.finished_at >= start,
            Payment.finished_at < end,
        )
    )
    return int(entries or 0) + int(payments or 0)


ENTRY_COLUMNS = (
    StatementEntry.id,
    StatementEntry.account,
    StatementEntry.amount,
    StatementEntry.currency,
    StatementEntry.direction,
    StatementEntry.booking_date,
    StatementEntry.remittance,
    StatementEntry.bank_ref,
    StatementEntry.reversal,
    StatementEntry.reference,
    StatementEntry.found_references,
)


def stream_entries(
    session: Session, account: str, day: date, *, with_reference: bool, run_id: int | None = None
) -> Iterator[Row[Any]]:
    """Yield the booked entries of ``day``: those naming one reference (by reference) or all the others.

    Entries that settled a payment in run ``run_id`` (its plain pairs) are left out.
    """
    condition: ColumnElement[bool] = (
        StatementEntry.reference.is_not(None) if with_reference else StatementEntry.reference.is_(None)
    )
    if run_id is not None:
        settled_now = exists().where(
            PaymentSettlement.entry_id == StatementEntry.id, PaymentSettlement.run_id == run_id
        )
        condition = and_(condition, ~settled_now)
    stmt = (
        select(*ENTRY_COLUMNS)
        .where(
            StatementEntry.account == account,
            StatementEntry.booking_date == day,
            StatementEntry.status == "BOOK",
            condition,
        )
        .order_by(_by_reference(session, StatementEntry.reference), StatementEntry.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    yield from session.execute(stmt)


def list_settlement_lines(session: Session, providers: Sequence[str], first: date, last: date) -> list[Any]:
    """Return provider settlement lines settled between ``first`` and ``last`` for these providers."""
    return list(
        session.scalars(
            select(ProviderSettlementLine).where(
                ProviderSettlementLine.provider_code.in_(providers),
                ProviderSettlementLine.settled_on >= first,
                ProviderSettlementLine.settled_on <= last,
            )
        )
    )


def batches_matched_elsewhere(session: Session, account: str, day: date) -> set[str]:
    """Return batch keys matched by the latest runs of other days for ``account``."""
    stmt = (
        select(ReconciliationItem.batch_key)
        .join(ReconciliationRun, ReconciliationRun.id == ReconciliationItem.run_id)
        .where(
            ReconciliationRun.account == account,
            ReconciliationRun.day != day,
            ReconciliationRun.status == "done",
            ReconciliationItem.batch_key.is_not(None),
            ReconciliationItem.category == "matched",
        )
    )
    return {key for key in session.scalars(stmt) if key}


def exceptions_by_key(session: Session, account: str) -> dict[str, ReconciliationException]:
    """Return the account's exceptions by item key (they are few: only what did not match)."""
    rows = session.scalars(select(ReconciliationException).where(ReconciliationException.account == account))
    return {row.item_key: row for row in rows}


def list_exceptions(
    session: Session, *, only_open: bool, day: date | None = None
) -> Sequence[ReconciliationException]:
    """Return exceptions, oldest first, optionally only open ones or one day's."""
    stmt = select(ReconciliationException).order_by(ReconciliationException.id)
    if only_open:
        stmt = stmt.where(ReconciliationException.status == "open")
    if day is not None:
        stmt = stmt.where(ReconciliationException.day == day)
    return session.scalars(stmt).all()


def get_run(session: Session, run_id: int) -> ReconciliationRun | None:
    """Return run ``run_id``."""
    return session.get(ReconciliationRun, run_id)
