"""The schema comes only from migrations, and they agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from payments.db import Base, get_db


def test_migrations_at_head_match_models(app):
    with app.app_context():
        engine = get_db().engine
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_audit_log_refuses_update_and_delete(app, agency):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    with app.app_context():
        engine = get_db().engine
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DatabaseError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(statement))


def test_bank_statements_refuse_delete_as_their_entries_have_no_foreign_key(app, agency, tmp_path):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    from payments.db import get_session
    from reconciliation.service import import_statement
    from reconciliation.synthetic import SyntheticEntry
    from tests.reconciliation.helpers import camt_file

    with app.app_context():
        session = get_session()
        import_statement(session, camt_file(tmp_path, "s", [SyntheticEntry("100000")]), actor="test")
        session.commit()
        engine = get_db().engine
        with pytest.raises(DatabaseError, match="never deleted"):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM bank_statements"))
        with engine.begin() as conn:
            conn.execute(text("UPDATE bank_statements SET balance_check = 'ok'"))  # only deletion is refused
            assert conn.execute(text("SELECT count(*) FROM statement_entries")).scalar() == 1


def test_payments_refuse_delete_so_no_settlement_loses_its_payment(app, agency):
    import pytest
    from sqlalchemy import select, text
    from sqlalchemy.exc import DatabaseError
    from sqlalchemy.orm import Session

    from payments.models import Agency
    from tests.reconciliation.helpers import paid_payment

    with app.app_context():
        engine = get_db().engine
        with Session(engine) as session:
            paid_payment(session, session.scalars(select(Agency)).one(), "FGAAAAAAAAAA")
            session.commit()
        with pytest.raises(DatabaseError, match="never deleted"):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM payments"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM payments")).scalar() == 1


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
