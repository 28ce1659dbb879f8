"""Invoices, audit log, outbox events: no foreign key to agencies; items: none to invoices.

``POST /api/v1/invoices`` writes an invoice, its items, an audit entry and an outbox
event in one statement, and three of those rows carried a foreign key to their
agency: each insert ran ``SELECT 1 FROM agencies WHERE id = $1 FOR KEY SHARE``. With
many requests at once for one agency that row lock became a MultiXact every time (a
heap write and WAL on the agency's row). Measured with pgbench on the real statement
(8 clients): the server's CPU per invoice was 0.17-0.19 ms with the keys, 0.14 ms
without; 8k against 10k invoices a second. Measured again for this migration (the same
script; CPU of pgbench's own backends, 2 cores shared with other work): dropping the
agency keys saved 0.0135 ms per invoice (median of 5 alternating pairs, -0.006 to
0.059), and then dropping the items' key to their invoice (two checks per invoice, each
locking the invoice row just inserted) saved 0.026 ms more (median of 19 pairs, 0.003 to
0.051; 0.006-0.011 in the pairs run on a quiet machine, more under load).

What the keys guarded is kept another way: every ``agency_id`` written comes from the
authenticated agency's own row, and every item is written by the statement that
inserts its invoice, with the id that insert returned. The database now refuses to
delete an agency (agencies are tenants) or an invoice (evidence, like the payments
that point at it): nothing deletes either, so no row can lose its agency or invoice.
The other keys to agencies stay (api_keys, idempotency_keys, payments, refunds,
webhook_endpoints); idempotency_keys' is on the path of a request that sends an
``Idempotency-Key`` and takes the same lock (not measured here).

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
ITEMS_FOREIGN_KEY = "fk_invoice_items_invoice_id_invoices"


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


def _refuse_delete(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # feegate_refuse_delete() belongs to 0007 (payments_never_deleted uses it too).
        op.execute(
            f"CREATE TRIGGER {table}_never_deleted BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION feegate_refuse_delete()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_never_deleted BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are never deleted'); END"
        )


def _allow_delete(table: str) -> None:
    on = f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"DROP TRIGGER IF EXISTS {table}_never_deleted{on}")


def upgrade() -> None:
    for table in TABLES:
        with _batch(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_agency_id_agencies", type_="foreignkey")
    with _batch("invoice_items") as batch_op:
        batch_op.drop_constraint(ITEMS_FOREIGN_KEY, type_="foreignkey")
    _refuse_delete("agencies")
    _refuse_delete("invoices")


def downgrade() -> None:
    # The triggers go first: SQLite's batch would copy them onto the rebuilt invoices.
    _allow_delete("invoices")
    _allow_delete("agencies")
    with _batch("invoice_items") as batch_op:
        batch_op.create_foreign_key(batch_op.f(ITEMS_FOREIGN_KEY), "invoices", ["invoice_id"], ["id"])
    for table in TABLES:
        with _batch(table) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_agency_id_agencies"), "agencies", ["agency_id"], ["id"]
            )
