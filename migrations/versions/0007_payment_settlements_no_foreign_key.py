"""Payment settlements: no foreign key to payments; payments can no longer be deleted.

The foreign key checked every new settlement with a ``SELECT ... FOR KEY SHARE`` on
its payment row: writing a million-line day's settlements took 6.5 s more with it
(18.1 s against 11.1 s for the whole run, measured on the same data). What it
guarded is kept another way: every settlement is written by a statement that reads
its payment in the same transaction (the plain pairs' ``INSERT ... SELECT`` joins
``payments``; the matcher's pairs come from the payments it was given), and the
database now refuses to delete a payment at all (it is evidence of money received,
like the audit log), so a settlement can never lose its payment.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 16:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_settlements", schema=None) as batch_op:
        batch_op.drop_constraint("fk_payment_settlements_payment_id_payments", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION feegate_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER payments_never_deleted BEFORE DELETE ON payments "
            "FOR EACH ROW EXECUTE FUNCTION feegate_refuse_delete()"
        )
    else:
        op.execute(
            "CREATE TRIGGER payments_never_deleted BEFORE DELETE ON payments "
            "BEGIN SELECT RAISE(ABORT, 'payments rows are never deleted'); END"
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS payments_never_deleted"
        + (" ON payments" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS feegate_refuse_delete()")
    with op.batch_alter_table("payment_settlements", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_settlements_payment_id_payments"), "payments", ["payment_id"], ["id"]
        )
