"""Invoices, audit log, outbox events: no foreign key to agencies; agencies can no longer be deleted.

``POST /api/v1/invoices`` writes an invoice, its items, an audit entry and an outbox
event in one statement, and three of those rows carried a foreign key to their
agency: each insert ran ``SELECT 1 FROM agencies WHERE id = $1 FOR KEY SHARE``. With
many requests at once for one agency that row lock became a MultiXact every time (a
heap write and WAL on the agency's row). Measured with pgbench on the real statement
(8 clients): the server's CPU per invoice was 0.17-0.19 ms with the keys, 0.14 ms
without; 8k against 10k invoices a second. What the keys guarded is kept another way:
every ``agency_id`` written comes from the authenticated agency's own row, and the
database now refuses to delete an agency at all (agencies are tenants; nothing deletes
them), so no invoice, audit entry or event can lose its agency. ``api_keys``,
``payments`` and ``refunds`` keep theirs (not on the invoice's hot path).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 20:40:00
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("invoices", "audit_log", "outbox_events")


@contextmanager
def _batch(table: str) -> Iterator[BatchOperations]:
    # On SQLite the batch copies the table into a new one, and the old table's triggers go
    # with it (audit_log's append-only ones): write them again on the new table.
    bind = op.get_bind()
    triggers = []
    if bind.dialect.name == "sqlite":
        query = sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table")
        triggers = list(bind.execute(query, {"table": table}).scalars())
    with op.batch_alter_table(table, schema=None) as batch_op:
        yield batch_op
    for trigger in triggers:
        op.execute(trigger)


def upgrade() -> None:
    for table in TABLES:
        with _batch(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_agency_id_agencies", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        # feegate_refuse_delete() belongs to 0007 (payments_never_deleted uses it too).
        op.execute(
            "CREATE TRIGGER agencies_never_deleted BEFORE DELETE ON agencies "
            "FOR EACH ROW EXECUTE FUNCTION feegate_refuse_delete()"
        )
    else:
        op.execute(
            "CREATE TRIGGER agencies_never_deleted BEFORE DELETE ON agencies "
            "BEGIN SELECT RAISE(ABORT, 'agencies rows are never deleted'); END"
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS agencies_never_deleted"
        + (" ON agencies" if op.get_bind().dialect.name == "postgresql" else "")
    )
    for table in TABLES:
        with _batch(table) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_agency_id_agencies"), "agencies", ["agency_id"], ["id"]
            )
