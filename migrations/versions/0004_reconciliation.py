"""Reconciliation: statement files, statements, entries, provider settlement lines, runs, items,
exceptions and payment settlements.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 12:32:28.426516
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payments.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_settlement_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_code", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("batch_ref", sa.String(length=64), nullable=True),
        sa.Column("imported_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_settlement_lines")),
        sa.UniqueConstraint(
            "provider_code", "provider_ref", "settled_on", name="uq_provider_settlement_lines_ref_day"
        ),
    )
    with op.batch_alter_table("provider_settlement_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_settlement_lines_settled_on"), ["settled_on"], unique=False
        )

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("started_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_runs_day_account", ["day", "account"], unique=False)

    op.create_table(
        "statement_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("total_credit", sa.BigInteger(), nullable=False),
        sa.Column("total_debit", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.Column("imported_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_files")),
        sa.UniqueConstraint("sha256", name=op.f("uq_statement_files_sha256")),
    )
    op.create_table(
        "bank_statements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening_balance", sa.BigInteger(), nullable=True),
        sa.Column("closing_balance", sa.BigInteger(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("balance_check", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["statement_files.id"], name=op.f("fk_bank_statements_file_id_statement_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
    )
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_statements_account_period", ["account", "period_start", "period_end"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bank_statements_file_id"), ["file_id"], unique=False)

    op.create_table(
        "reconciliation_exceptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_key", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_exceptions_first_run_id_reconciliation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_exceptions_last_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_exceptions")),
        sa.UniqueConstraint("item_key", name=op.f("uq_reconciliation_exceptions_item_key")),
    )
    with op.batch_alter_table("reconciliation_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_exceptions_status_day", ["status", "day"], unique=False)

    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("way", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("settlement_line_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_key", sa.String(length=96), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_items_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_items")),
    )
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_items_run_id"), ["run_id"], unique=False)

    op.create_table(
        "statement_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("statement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_number", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("bank_ref", sa.String(length=128), nullable=False),
        sa.Column("end_to_end_id", sa.String(length=128), nullable=False),
        sa.Column("remittance", sa.Text(), nullable=False),
        sa.Column("counterparty", sa.String(length=255), nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("batch_count", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("found_references", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["bank_statements.id"],
            name=op.f("fk_statement_entries_statement_id_bank_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_entries")),
    )
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.create_index("ix_statement_entries_account_day", ["account", "booking_date"], unique=False)
        batch_op.create_index("ix_statement_entries_reference", ["reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_statement_entries_statement_id"), ["statement_id"], unique=False)

    op.create_table(
        "payment_settlements",
        sa.Column(
            "payment_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("statement_ref", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_settlements_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payment_settlements")),
    )
    with op.batch_alter_table("payment_settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_settlements_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_settlements_entry_id"))

    op.drop_table("payment_settlements")
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_entries_statement_id"))
        batch_op.drop_index("ix_statement_entries_reference")
        batch_op.drop_index("ix_statement_entries_account_day")

    op.drop_table("statement_entries")
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_items_run_id"))

    op.drop_table("reconciliation_items")
    with op.batch_alter_table("reconciliation_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_exceptions_status_day")

    op.drop_table("reconciliation_exceptions")
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_statements_file_id"))
        batch_op.drop_index("ix_bank_statements_account_period")

    op.drop_table("bank_statements")
    op.drop_table("statement_files")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_runs_day_account")

    op.drop_table("reconciliation_runs")
    with op.batch_alter_table("provider_settlement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_settlement_lines_settled_on"))

    op.drop_table("provider_settlement_lines")
