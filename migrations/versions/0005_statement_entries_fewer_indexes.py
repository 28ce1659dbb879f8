"""Statement entries: drop the index on statement_id, which no query reads.

A million-entry import maintains every index of ``statement_entries`` row by row;
this one cost about a quarter of the server's time of the COPY. The foreign key
stays (rows are never deleted, so it needs no index to check deletes quickly).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_entries_statement_id")


def downgrade() -> None:
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.create_index("ix_statement_entries_statement_id", ["statement_id"], unique=False)
