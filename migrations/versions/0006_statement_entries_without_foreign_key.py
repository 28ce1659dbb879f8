"""Statement entries: no foreign key to their statement; statements refuse deletion instead.

PostgreSQL checks a foreign key row by row, and for a COPY it queues every check
until the statement ends: a million-entry import then waited about 7 s at the end
of its COPY for the server to look up the same statement a million times (and
spent 8 of the server's 19 s of CPU on it). Entries are only ever written by the
import, in the transaction that creates their statement and with the id it was
just given, so that check can never fail. What the key still guarded was deleting
a statement that has entries: a trigger now refuses any deletion of a statement
(nothing deletes them; a statement is evidence, like the audit log).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_statement_entries_statement_id_bank_statements"
MESSAGE = "bank_statements rows are never deleted: statement entries point at them"


def upgrade() -> None:
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION feegate_refuse_statement_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER bank_statements_no_delete BEFORE DELETE ON bank_statements "
            "FOR EACH ROW EXECUTE FUNCTION feegate_refuse_statement_delete()"
        )
    else:
        op.execute(
            "CREATE TRIGGER bank_statements_no_delete BEFORE DELETE ON bank_statements "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bank_statements_no_delete ON bank_statements")
        op.execute("DROP FUNCTION IF EXISTS feegate_refuse_statement_delete()")
    else:
        op.execute("DROP TRIGGER IF EXISTS bank_statements_no_delete")
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.create_foreign_key(FOREIGN_KEY, "bank_statements", ["statement_id"], ["id"])
