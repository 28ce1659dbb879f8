"""Alembic environment: the URL comes from the Flask app config (or FEEGATE_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

import payments.models  # noqa: F401  (register tables)
import reconciliation.models  # noqa: F401
import webhooks.models  # noqa: F401
import webhooks.outbound.models  # noqa: F401
from payments.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("FEEGATE_DATABASE_URL", "")
    if not url:
        raise RuntimeError("No database URL: run through `flask --app wsgi db upgrade`.")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_foreign_keys(connection: Connection, state: str) -> None:
    # SQLite ignores this pragma inside a transaction: say it on the driver's connection, before one.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={state}")


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration copies a table and drops the old one; with foreign keys on, SQLite
            # refuses to drop a table that other rows point at (invoices, in 0009). SQLite's own
            # advice: switch them off (only possible outside a transaction) and check at the end.
            _sqlite_foreign_keys(connection, "OFF")
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"the migrated schema has rows without their parent: {broken[:5]}")
        if sqlite:
            _sqlite_foreign_keys(connection, "ON")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
