"""Alembic environment: the URL comes from the Flask app config (or FEEGATE_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

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


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
