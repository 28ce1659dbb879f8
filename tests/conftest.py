"""Fixtures: a migrated database per run (SQLite by default, PostgreSQL when
``FEEGATE_TEST_DATABASE_URL`` is set), a fresh app per test, and API helpers.

SQLite: the schema is migrated once into a template file that every test copies.
PostgreSQL: the schema is migrated once; every test ends by truncating the tables.
Tests commit for real (they drive the app over HTTP, from several threads at
once), so isolation is by cleaning up, not by an outer rolled-back transaction.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from payments import create_app
from payments.db import make_engine
from providers.registry import installed_adapters
from tests import factories

PG_URL = os.environ.get("FEEGATE_TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")
requires_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL (set FEEGATE_TEST_DATABASE_URL): SQLite serialises all writers"
)

# Property tests hit the database on every step, so no per-example deadline; a quick run by
# default, more with ``--hypothesis-profile=thorough`` or FEEGATE_HYPOTHESIS_PROFILE=thorough.
settings.register_profile("feegate", max_examples=50, deadline=None)
settings.register_profile("thorough", parent=settings.get_profile("feegate"), max_examples=1000)
settings.load_profile(os.environ.get("FEEGATE_HYPOTHESIS_PROFILE", "feegate"))


def _pg_url() -> str:
    return "postgresql+psycopg://" + PG_URL.split("://", 1)[1]


def _migrate(url: str) -> None:
    app = create_app({"ENV_NAME": "test", "DATABASE_URL": url})
    with app.app_context():
        from alembic import command

        from payments.cli import alembic_config

        command.upgrade(alembic_config(), "head")


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate the test database (or a SQLite template) once per run."""
    assert "sandbox" in installed_adapters(), "the package is not installed: run `pip install -e .`"
    if ON_POSTGRES:
        engine = create_engine(_pg_url())
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _migrate(_pg_url())
        return _pg_url()
    template = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(f"sqlite:///{template}")
    return str(template)


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables"
                    " WHERE schemaname = 'public' AND tablename != 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test."""
    if ON_POSTGRES:
        yield database_template
        _truncate_all(database_template)
        return
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(database_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def app_config(database_url: str) -> dict[str, object]:
    """The overrides every test app gets; tests may add to it before ``app`` is built."""
    return {"ENV_NAME": "test", "DATABASE_URL": database_url, "BASE_URL": "http://localhost"}


@pytest.fixture
def app(app_config: dict[str, object]) -> Iterator[Flask]:
    """A fresh application on a clean database."""
    application = create_app(app_config)
    yield application
    application.extensions["feegate.db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for ``app``."""
    return app.test_client()


@pytest.fixture
def session(app: Flask, database_url: str) -> Iterator[Session]:
    """An observer's session for asserting through the database (call ``rollback()`` to see new commits).

    On SQLite it begins plain deferred transactions, so looking never holds the write lock
    that the app's own (immediate) transactions need. It pushes no app context: a request
    would reuse a pushed one, and with it one database session for every request of the test.
    """
    engine = make_engine(database_url, sqlite_immediate=False)
    observer = Session(engine, expire_on_commit=False)
    yield observer
    observer.close()
    engine.dispose()


@pytest.fixture
def agency(app: Flask) -> factories.AgencyWithKey:
    """The agency ``HCM-TP`` with one API key."""
    return factories.create_agency_with_key(app, code="HCM-TP")


@pytest.fixture
def other_agency(app: Flask) -> factories.AgencyWithKey:
    """A second tenant, for isolation tests."""
    return factories.create_agency_with_key(app, code="HN-TP", origin="https://dichvucong.hanoi.gov.vn")
