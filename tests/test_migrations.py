"""The schema comes only from migrations, and they agree with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from payments.db import Base, get_db


def _refuses(engine: Engine, statement: str, reason: str = "never deleted") -> None:
    with pytest.raises(DatabaseError, match=reason):
        with engine.begin() as conn:
            conn.execute(text(statement))


def test_migrations_at_head_match_models(app):
    with app.app_context():
        engine = get_db().engine
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_audit_log_refuses_update_and_delete(app, agency):

    with app.app_context():
        engine = get_db().engine
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            _refuses(engine, statement, "append-only")


def test_bank_statements_refuse_delete_as_their_entries_have_no_foreign_key(app, agency, tmp_path):
    from sqlalchemy import text

    from payments.db import get_session
    from reconciliation.service import import_statement
    from reconciliation.synthetic import SyntheticEntry
    from tests.reconciliation.helpers import camt_file

    with app.app_context():
        session = get_session()
        import_statement(session, camt_file(tmp_path, "s", [SyntheticEntry("100000")]), actor="test")
        session.commit()
        engine = get_db().engine
        _refuses(engine, "DELETE FROM bank_statements")
        with engine.begin() as conn:
            conn.execute(text("UPDATE bank_statements SET balance_check = 'ok'"))  # only deletion is refused
            assert conn.execute(text("SELECT count(*) FROM statement_entries")).scalar() == 1


def test_payments_refuse_delete_so_no_settlement_loses_its_payment(app, agency):
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from payments.models import Agency
    from tests.reconciliation.helpers import paid_payment

    with app.app_context():
        engine = get_db().engine
        with Session(engine) as session:
            paid_payment(session, session.scalars(select(Agency)).one(), "FGAAAAAAAAAA")
            session.commit()
        _refuses(engine, "DELETE FROM payments")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM payments")).scalar() == 1


def test_agencies_and_invoices_refuse_delete_as_rows_pointing_at_them_have_no_key(app, agency, client):
    from sqlalchemy import inspect, select, text
    from sqlalchemy.orm import Session, joinedload

    from payments.models import Invoice
    from tests.factories import create_invoice

    create_invoice(client, agency)  # an invoice, its audit entry and its event point at the agency
    with app.app_context():
        engine = get_db().engine
        _refuses(engine, "DELETE FROM agencies")
        _refuses(engine, "DELETE FROM invoices")
        with engine.begin() as conn:
            conn.execute(text("UPDATE agencies SET name = 'renamed'"))  # only deletion is refused
            assert conn.execute(text("SELECT count(*) FROM agencies")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM invoices")).scalar() == 1
        schema = inspect(engine)
        for table in ("invoices", "audit_log", "outbox_events", "invoice_items"):
            assert schema.get_foreign_keys(table) == []
        assert "agencies" in {fk["referred_table"] for fk in schema.get_foreign_keys("payments")}
        with Session(engine) as session:  # the relationships join without the keys
            invoice = session.scalars(select(Invoice).options(joinedload(Invoice.agency))).one()
            assert invoice.agency.code == "HCM-TP"
            assert [item.position for item in invoice.items] == [0, 1]


def test_current_alembic_head_file_names_the_single_head():
    # Two branches that each add a migration then conflict in git on this one file.
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    migrations = Path(__file__).resolve().parent.parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert heads == [(migrations / ".current-alembic-head").read_text().strip()]


def test_0009_upgrades_and_downgrades_a_populated_sqlite_database(tmp_path):
    # SQLite rebuilds each table to drop a foreign key: invoices has rows pointing at it,
    # and audit_log's append-only triggers must survive the copy (and come back after a downgrade).
    from alembic import command
    from sqlalchemy import text

    from payments import create_app
    from payments.cli import alembic_config

    app = create_app({"ENV_NAME": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}"})
    rows = {
        "agencies": "(id, code, name, treasury_account, treasury_code, return_origins, enabled_providers,"
        " created_at) VALUES (1, 'A', 'A', '1', '1', '[]', '[]', '2026-01-01')",
        "invoices": "(id, public_id, agency_id, reference, description, total, currency, return_url,"
        " language, metadata, status, expires_at, created_at, updated_at) VALUES (1, 'inv_1', 1, 'r', 'd', 5,"
        " 'VND', 'u', 'vi', '{}', 'open', '2026-01-01', '2026-01-01', '2026-01-01')",
        "invoice_items": "(invoice_id, position, fee_code, description, amount, chapter_code, sub_item_code)"
        " VALUES (1, 0, 'F', 'd', 5, '418', '2652')",
        "audit_log": "(occurred_at, actor, action, entity_type, entity_id, agency_id, detail)"
        " VALUES ('2026-01-01', 'a', 'invoice.created', 'invoice', 'inv_1', 1, '{}')",
        "outbox_events": "(id, agency_id, event_type, aggregate_type, aggregate_id, data, created_at)"
        " VALUES ('evt_1', 1, 'invoice.created', 'invoice', 'inv_1', '{}', '2026-01-01')",
    }
    with app.app_context():
        command.upgrade(alembic_config(), "0008")
        engine = get_db().engine
        with engine.begin() as conn:
            for table, values in rows.items():
                conn.execute(text(f"INSERT INTO {table} {values}"))

        def triggers() -> set[str]:
            with engine.connect() as conn:
                names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
                return set(names.scalars())

        before = triggers()
        command.upgrade(alembic_config(), "0009")
        assert triggers() == before | {"agencies_never_deleted", "invoices_never_deleted"}
        command.downgrade(alembic_config(), "0008")
        assert triggers() == before
        command.upgrade(alembic_config(), "0009")
        with engine.connect() as conn:
            assert [conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() for table in rows] == [1] * 5
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
