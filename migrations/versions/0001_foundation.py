"""Foundation: agencies, API keys, invoices, payments, audit log, idempotency keys, inbox, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payments.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("treasury_account", sa.String(length=64), nullable=False),
        sa.Column("treasury_code", sa.String(length=16), nullable=False),
        sa.Column("return_origins", sa.JSON(), nullable=False),
        sa.Column("enabled_providers", sa.JSON(), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("code", name=op.f("uq_agencies_code")),
    )
    op.create_table(
        "inbound_callbacks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_code", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("payment_reference", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_callbacks")),
    )
    with op.batch_alter_table("inbound_callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_callbacks_payment_reference"), ["payment_reference"], unique=False
        )
        batch_op.create_index("uq_inbound_callbacks_dedupe", ["provider_code", "dedupe_key"], unique=True)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_api_keys_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_audit_log_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("locked_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_location", sa.String(length=255), nullable=True),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_idempotency_keys_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("agency_id", "key", name=op.f("uq_idempotency_keys_agency_id_key")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payer_name", sa.String(length=255), nullable=True),
        sa.Column("payer_id_number", sa.String(length=32), nullable=True),
        sa.Column("payer_phone", sa.String(length=32), nullable=True),
        sa.Column("payer_email", sa.String(length=255), nullable=True),
        sa.Column("return_url", sa.String(length=2048), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "paid", "expired", "cancelled", name="invoicestatus", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("expires_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("total > 0", name=op.f("ck_invoices_total_positive")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_invoices_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("public_id", name=op.f("uq_invoices_public_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_agency_created", ["agency_id", "id"], unique=False)
        batch_op.create_index("ix_invoices_agency_reference", ["agency_id", "reference"], unique=False)
        batch_op.create_index(
            "ix_invoices_open_expiry",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_outbox_events_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_events_agency_created", ["agency_id", "created_at"], unique=False)

    op.create_table(
        "invoice_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("invoice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("fee_code", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("chapter_code", sa.String(length=8), nullable=False),
        sa.Column("sub_item_code", sa.String(length=8), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_invoice_items_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_items_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_items")),
    )
    with op.batch_alter_table("invoice_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_items_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("invoice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_code", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "created",
                "pending",
                "unknown",
                "succeeded",
                "succeeded_duplicate",
                "failed",
                "cancelled",
                "expired",
                name="paymentstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("review_reason", sa.String(length=64), nullable=True),
        sa.Column("next_action", sa.JSON(), nullable=True),
        sa.Column("checkout_nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", payments.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", payments.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_payments_agency_id_agencies")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("checkout_nonce", name=op.f("uq_payments_checkout_nonce")),
        sa.UniqueConstraint(
            "provider_code", "provider_ref", name=op.f("uq_payments_provider_code_provider_ref")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_payments_public_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_payments_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index("ix_payments_open_attempts", ["status", "updated_at"], unique=False)
        batch_op.create_index(
            "uq_payments_one_success_per_invoice",
            ["invoice_id"],
            unique=True,
            postgresql_where=sa.text("status = 'succeeded'"),
            sqlite_where=sa.text("status = 'succeeded'"),
        )

    _make_append_only("audit_log")


def _make_append_only(table: str) -> None:
    # The audit log is evidence: the database itself refuses to change or delete a row.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION feegate_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION feegate_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS feegate_refuse_change()")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payments_one_success_per_invoice",
            postgresql_where=sa.text("status = 'succeeded'"),
            sqlite_where=sa.text("status = 'succeeded'"),
        )
        batch_op.drop_index("ix_payments_open_attempts")
        batch_op.drop_index(batch_op.f("ix_payments_invoice_id"))

    op.drop_table("payments")
    with op.batch_alter_table("invoice_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_items_invoice_id"))

    op.drop_table("invoice_items")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_agency_created")

    op.drop_table("outbox_events")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_open_expiry", postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index("ix_invoices_agency_reference")
        batch_op.drop_index("ix_invoices_agency_created")

    op.drop_table("invoices")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_entity_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_agency_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("inbound_callbacks", schema=None) as batch_op:
        batch_op.drop_index("uq_inbound_callbacks_dedupe")
        batch_op.drop_index(batch_op.f("ix_inbound_callbacks_payment_reference"))

    op.drop_table("inbound_callbacks")
    op.drop_table("agencies")
