"""Imported statements and their entries, provider settlement lines, runs, items and exceptions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, BigIntId, UTCDateTime, utcnow


class StatementFile(Base):
    """One imported file; its SHA-256 makes a second import of the same bytes a no-op."""

    __tablename__ = "statement_files"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    total_credit: Mapped[int] = mapped_column(BigInteger, default=0)
    total_debit: Mapped[int] = mapped_column(BigInteger, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    #: the first errors, ``[{"entry": n, "message": ...}]``; the count above is the full number
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BankStatement(Base):
    """One statement inside a file: account, period, balances and whether they add up."""

    __tablename__ = "bank_statements"
    __table_args__ = (Index("ix_bank_statements_account_period", "account", "period_start", "period_end"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("statement_files.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    statement_id: Mapped[str] = mapped_column(String(64), default="")
    account: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    opening_balance: Mapped[int | None] = mapped_column(BigInteger)
    closing_balance: Mapped[int | None] = mapped_column(BigInteger)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    balance_check: Mapped[str] = mapped_column(String(8))  # ok, mismatch or absent


class StatementEntry(Base):
    """One booked entry of a statement, with the payment reference found in its transfer content."""

    __tablename__ = "statement_entries"
    __table_args__ = (
        Index("ix_statement_entries_account_day", "account", "booking_date"),
        # Only the entries naming no reference, which the run looks up by day (migration 0008):
        # indexing every reference cost a third of a million-entry COPY's server time.
        Index(
            "ix_statement_entries_no_reference",
            "account",
            "booking_date",
            postgresql_where=text("reference IS NULL"),
            sqlite_where=text("reference IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # The statement's id, not indexed and with no foreign key: no query reads entries by statement,
    # and both cost a million-row import dearly. Only the import writes entries, in the transaction
    # that creates their statement; statements refuse deletion (migration 0006).
    statement_id: Mapped[int] = mapped_column(BigIntId)
    entry_number: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    direction: Mapped[str] = mapped_column(String(6))  # credit or debit
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    bank_ref: Mapped[str] = mapped_column(String(128), default="")
    end_to_end_id: Mapped[str] = mapped_column(String(128), default="")
    remittance: Mapped[str] = mapped_column(Text, default="")
    counterparty: Mapped[str] = mapped_column(String(255), default="")
    reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(8), default="BOOK")
    batch_count: Mapped[int | None] = mapped_column(Integer)
    #: the one payment reference in the content; NULL when there is none or several
    reference: Mapped[str | None] = mapped_column(String(32))
    #: every reference found, comma-separated, so an ambiguous entry can be shown and matched as such
    found_references: Mapped[str] = mapped_column(String(255), default="")


class ProviderSettlementLine(Base):
    """One line of a provider's daily settlement report."""

    __tablename__ = "provider_settlement_lines"
    # Named explicitly: the conventional name is longer than PostgreSQL's 63-character limit.
    __table_args__ = (
        UniqueConstraint(
            "provider_code", "provider_ref", "settled_on", name="uq_provider_settlement_lines_ref_day"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    provider_code: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    settled_on: Mapped[date] = mapped_column(Date, index=True)
    batch_ref: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReconciliationRun(Base):
    """One run for one day and account; re-running a day adds a run and leaves earlier ones as history."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (Index("ix_reconciliation_runs_day_account", "day", "account"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # done or no_statement
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReconciliationItem(Base):
    """One outcome of a run: a matched pair on one row, or a single unmatched item."""

    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    category: Mapped[str] = mapped_column(String(24))
    way: Mapped[str] = mapped_column(String(16), default="")
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    settlement_line_id: Mapped[int | None] = mapped_column(BigInteger)
    batch_key: Mapped[str | None] = mapped_column(String(96))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    delta: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(String(255), default="")


class ReconciliationException(Base):
    """Something that did not match: a work item, open until a person resolves it (or a run heals it)."""

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (Index("ix_reconciliation_exceptions_status_day", "status", "day"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    item_key: Mapped[str] = mapped_column(String(128), unique=True)  # e.g. "payment:42", "statement_line:7"
    category: Mapped[str] = mapped_column(String(24))
    day: Mapped[date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    delta: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(12), default="open")  # open or resolved
    resolution: Mapped[str | None] = mapped_column(String(24))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    last_run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentSettlement(Base):
    """Proof that a paid payment reached the collection account: the entry, its reference and date.

    Kept beside the foundation's payment status rather than as a new status: a settled
    payment is still ``succeeded``, and a refund or dispute can follow either way.
    """

    __tablename__ = "payment_settlements"

    # No foreign keys (migration 0007): each costs a trigger per row, and the one to payments a
    # row lock on the payment too; at a million settlements a day that was a third of the run.
    # Every writer reads the payment in the same transaction, and payments are never deleted
    # (the database refuses), so the payment is always there.
    payment_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigIntId, index=True)
    settled_on: Mapped[date] = mapped_column(Date)
    statement_ref: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int] = mapped_column(BigIntId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
