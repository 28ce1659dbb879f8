"""Use cases: import a statement file, and work the exceptions. Callers commit; nothing here does."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from payments.audit import record_audit
from payments.db import insert_ignore, utcnow
from providers.base import SettlementLine
from reconciliation import parallel_import, repository
from reconciliation.gc_pause import paused_gc
from reconciliation.importers import (
    LineError,
    SplitMismatch,
    Statement,
    StatementFormat,
    StatementLine,
    StatementRefused,
    read_statement_file,
)
from reconciliation.models import (
    PaymentSettlement,
    ProviderSettlementLine,
    ReconciliationException,
    StatementEntry,
    StatementFile,
)
from reconciliation.statement_writer import StatementWriter

log = logging.getLogger(__name__)

#: A file this large changes the entries' statistics enough to mislead the planner of the next run.
ANALYZE_AFTER_ENTRIES = 10_000
STORED_ERRORS = 200  # the file row keeps the first ones; the count is always complete


class ReconciliationError(Exception):
    """A reconciliation request that cannot be carried out; the message says why."""


class ExceptionResolution:
    """How a person closes an exception."""

    MANUAL_MATCH = "manual_match"
    WRITE_OFF = "write_off"
    REFUND_REQUIRED = "refund_required"
    PROVIDER_DISPUTE = "provider_dispute"
    ALL = (MANUAL_MATCH, WRITE_OFF, REFUND_REQUIRED, PROVIDER_DISPUTE)


@dataclass(slots=True)
class ImportReport:
    """What an import did; ``as_json`` is the CLI's ``--json`` line."""

    format: str
    account: str
    file_id: int
    entries: int = 0
    total_credit: int = 0
    total_debit: int = 0
    balance_check: str = "absent"
    skipped_duplicates: int = 0  # entries not imported again because the same file was imported before
    errors: list[LineError] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {
            "format": self.format,
            "account": self.account,
            "file_id": self.file_id,
            "entries": self.entries,
            "total_credit": self.total_credit,
            "total_debit": self.total_debit,
            "balance_check": self.balance_check,
            "skipped_duplicates": self.skipped_duplicates,
            "errors": [{"entry": e.entry_number, "message": e.message} for e in self.errors],
            "statements": self.statements,
        }


def file_sha256(path: Path) -> str:
    """Hash a file in blocks, so a large statement is never read into memory at once."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalise_account(account: str) -> str:
    return "".join(account.split()).upper()


def _overall_check(checks: list[str]) -> str:
    if "mismatch" in checks:
        return "mismatch"
    return "ok" if checks and all(check == "ok" for check in checks) else "absent"


def _open_statement(
    session: Session, file_id: int, item: Statement, account: str, report: ImportReport
) -> StatementWriter | None:
    """Record a statement and open the COPY of its entries; None (and an error) for another account."""
    statement_account = item.account or account
    if account and statement_account and _normalise_account(statement_account) != _normalise_account(account):
        report.errors.append(
            LineError(
                0, f"statement {item.index + 1} is for account {statement_account}, not {account}", item.index
            )
        )
        return None
    if not statement_account:
        raise ReconciliationError("the file names no account: pass --account")
    return StatementWriter.start(session, file_id, item, statement_account)


def import_statement(
    session: Session,
    path: Path,
    *,
    account: str = "",
    fmt: StatementFormat | None = None,
    profile: str | None = None,
    actor: str,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import a statement file once: record it, its statements and entries; report totals and errors.

    ``progress``, if given, is called with each number of bytes read from the file. ``parallel``
    None lets child processes read a large camt file on PostgreSQL; True forces it where it is
    possible at all (tests), False keeps the reading in this process.
    """
    with paused_gc():
        return _import_statement(
            session, path, account=account, fmt=fmt, profile=profile, actor=actor, progress=progress,
            parallel=parallel,
        )  # fmt: skip


def _import_statement(
    session: Session,
    path: Path,
    *,
    account: str = "",
    fmt: StatementFormat | None = None,
    profile: str | None = None,
    actor: str,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Do the work of :func:`import_statement` (the collector is paused by the caller)."""
    sha256 = file_sha256(path)
    known = repository.get_file_by_hash(session, sha256)
    if known is not None:
        statements = repository.list_statements(session, known.id)
        return ImportReport(
            format=known.format,
            account=known.account,
            file_id=known.id,
            balance_check=_overall_check([s.balance_check for s in statements]),
            skipped_duplicates=known.entries,
        )
    detected = fmt or _detect(path)
    file_row = StatementFile(
        sha256=sha256, filename=path.name[:255], format=detected.value, account="", imported_by=actor
    )
    session.add(file_row)
    session.flush()
    report = ImportReport(format=detected.value, account="", file_id=file_row.id)
    opened: list[StatementWriter] = []

    def open_statement(item: Statement) -> StatementWriter | None:
        writer = _open_statement(session, file_row.id, item, account, report)
        if writer is not None:
            opened.append(writer)
        return writer

    try:
        if not _read_in_child(session, path, detected, parallel) or not _stream_in_children(
            session, path, open_statement, report.errors, opened, progress
        ):
            _stream_here(path, detected, profile, account, open_statement, report.errors, progress)
    except StatementRefused as exc:
        raise ReconciliationError(f"{path.name} refused: {exc}") from None
    summaries = [(one.summary, one.row) for one in opened]
    if sum(summary.entries for summary, _ in summaries) >= ANALYZE_AFTER_ENTRIES:
        repository.analyze_entries(session)
    for summary, statement_row in summaries:
        statement_row.balance_check = summary.balance_check
        report.entries += summary.entries
        report.total_credit += summary.total_credit
        report.total_debit += summary.total_debit
        report.statements.append(
            {
                "account": statement_row.account,
                "statement_id": statement_row.statement_id,
                "period_start": str(statement_row.period_start) if statement_row.period_start else None,
                "period_end": str(statement_row.period_end) if statement_row.period_end else None,
                "opening_balance": statement_row.opening_balance,
                "closing_balance": statement_row.closing_balance,
                "entries": summary.entries,
                "balance_check": summary.balance_check,
            }
        )
    report.account = summaries[0][1].account if summaries else account
    report.balance_check = _overall_check([s.balance_check for s, _ in summaries])
    file_row.account = report.account
    file_row.entries = report.entries
    file_row.total_credit = report.total_credit
    file_row.total_debit = report.total_debit
    file_row.error_count = len(report.errors)
    file_row.errors = [{"entry": e.entry_number, "message": e.message} for e in report.errors[:STORED_ERRORS]]
    record_audit(
        session,
        actor=actor,
        action="statement.imported",
        entity_type="statement_file",
        entity_id=str(file_row.id),
        detail={
            "format": report.format,
            "account": report.account,
            "entries": report.entries,
            "sha256": sha256,
        },
    )
    return report


def _read_in_child(session: Session, path: Path, fmt: StatementFormat, parallel: bool | None) -> bool:
    """Whether a child process reads the file (PostgreSQL, camt, fork; by size unless ``parallel`` says)."""
    if fmt not in (StatementFormat.CAMT053, StatementFormat.CAMT054) or not parallel_import.available():
        return False
    if not repository.is_postgres(session) or parallel is False:
        return False
    return parallel or path.stat().st_size >= parallel_import.PARALLEL_MIN_BYTES


def _stream_in_children(
    session: Session,
    path: Path,
    open_statement: Callable[[Statement], StatementWriter | None],
    errors: list[LineError],
    opened: list[StatementWriter],
    progress: Callable[[int], None] | None,
) -> bool:
    """Import through child processes; False (nothing kept) when the file must be read here instead."""
    raw = session.connection().connection.driver_connection
    savepoint = session.begin_nested()  # what the children's import wrote goes if it cannot finish
    try:
        parallel_import.stream_in_children(
            raw, path, open_statement=open_statement, errors=errors, progress=progress
        )
    except SplitMismatch as exc:
        log.warning("%s: read sequentially, the parallel import could not: %s", path.name, exc)
        savepoint.rollback()
        errors.clear()
        opened.clear()
        return False
    savepoint.commit()
    return True


def _stream_here(
    path: Path,
    fmt: StatementFormat,
    profile: str | None,
    account: str,
    open_statement: Callable[[Statement], StatementWriter | None],
    errors: list[LineError],
    progress: Callable[[int], None] | None,
) -> None:
    """Read the file in this process, writing each statement's entries as they come."""
    current: StatementWriter | None = None  # None while a statement for another account is skipped
    try:
        for item in read_statement_file(path, fmt, profile, account, on_bytes=progress):
            if isinstance(item, StatementLine):  # the million: tested first
                if current is None:
                    continue
                try:
                    current.add(item)
                except ValueError as exc:
                    errors.append(LineError(item.entry_number, f"entry {item.entry_number}: {exc}"))
            elif isinstance(item, Statement):
                if current is not None:
                    current.close()  # the connection is needed for the next statement's row
                current = open_statement(item)
            else:
                errors.append(item)
    except BaseException as exc:
        if current is not None:
            current.abort(exc)
        raise
    if current is not None:
        current.close()


def store_settlement_lines(session: Session, lines: Iterable[SettlementLine]) -> tuple[int, int]:
    """Store a provider's settlement lines once each; return (stored, already known)."""
    stored = known = 0
    for line in lines:
        new_id = insert_ignore(
            session,
            ProviderSettlementLine,
            {
                "provider_code": line.provider_code,
                "provider_ref": line.provider_ref,
                "reference": line.reference,
                "amount": line.amount,
                "fee": line.fee,
                "currency": line.currency,
                "settled_on": line.settled_on,
                "batch_ref": line.batch_ref,
                "imported_at": utcnow(),
            },
        )
        if new_id is None:
            known += 1
        else:
            stored += 1
    return stored, known


def _detect(path: Path) -> StatementFormat:
    from reconciliation.importers import detect_format

    return detect_format(path)


def resolve_exception(
    session: Session,
    exception_id: int,
    *,
    action: str,
    note: str,
    actor: str,
    payment_id: int | None = None,
    entry_id: int | None = None,
) -> ReconciliationException:
    """Close an open exception with a resolution; a manual match may also settle a payment by an entry."""
    if action not in ExceptionResolution.ALL:
        raise ReconciliationError(
            f"unknown action {action!r}; use one of {', '.join(ExceptionResolution.ALL)}"
        )
    row = session.get(ReconciliationException, exception_id, with_for_update=True)
    if row is None:
        raise ReconciliationError(f"no exception {exception_id}")
    if row.status != "open":
        raise ReconciliationError(f"exception {exception_id} is already {row.status} ({row.resolution})")
    if action == ExceptionResolution.WRITE_OFF and not note.strip():
        raise ReconciliationError("a write-off needs a reason (--note)")
    if action == ExceptionResolution.MANUAL_MATCH and payment_id is not None and entry_id is not None:
        entry = session.get(StatementEntry, entry_id)
        if entry is None:
            raise ReconciliationError(f"no statement entry {entry_id}")
        if session.get(PaymentSettlement, payment_id) is None:
            session.add(
                PaymentSettlement(
                    payment_id=payment_id,
                    entry_id=entry_id,
                    settled_on=entry.booking_date,
                    statement_ref=entry.bank_ref or f"entry:{entry.id}",
                    run_id=row.last_run_id,
                )
            )
    row.status = "resolved"
    row.resolution = action
    row.resolution_note = note
    row.resolved_by = actor
    row.resolved_at = utcnow()
    record_audit(
        session,
        actor=actor,
        action=f"reconciliation_exception.{action}",
        entity_type="reconciliation_exception",
        entity_id=str(row.id),
        detail={
            "item": row.item_key,
            "category": row.category,
            "note": note,
            "payment_id": payment_id,
            "entry_id": entry_id,
        },
    )
    return row
