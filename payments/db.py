"""Engine, sessions and the declarative base, on plain SQLAlchemy 2.

One session per application context (a request, a CLI command, a task): views,
commands and tasks commit once; services only flush. SQLite (the embedded
default) gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent writers
queue instead of failing; PostgreSQL runs at READ COMMITTED, where a single
``UPDATE ... WHERE status IN (...)`` is an atomic compare-and-set.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, bindparam, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; SQLite only autoincrements a column typed INTEGER.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns naive values; they were stored as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, aware, in UTC (freezegun-friendly)."""
    return datetime.now(UTC)


def make_engine(url: str, *, sqlite_immediate: bool = True, **options: Any) -> Engine:
    """Create an engine with the settings feegate relies on for each backend.

    ``sqlite_immediate=False`` gives plain deferred transactions, for read-only
    observers (tests) that must not hold the write lock while they look.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, poolclass=NullPool, **options
        )
        _configure_sqlite(engine, immediate=sqlite_immediate)
        return engine
    engine = create_engine(url, **options)
    event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Make the pool replace a pooled connection the server has closed, without a round trip.

    A restarting or terminating PostgreSQL sends its goodbye and closes every session's
    socket, so an idle pooled connection it dropped has something to read. One
    non-blocking ``select`` on the socket sees that for a few microseconds, where
    ``pool_pre_ping`` would spend a round trip on every checkout. Raising
    DisconnectionError makes the pool discard it and check out a fresh one. (A
    connection that breaks mid-request fails that request; SQLAlchemy then
    invalidates the whole pool, so the next ones reconnect.)
    """
    if dbapi_connection.closed:
        raise DisconnectionError("connection closed")
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:  # an idle session receives nothing unless the server is ending it
        raise DisconnectionError("the server closed the connection")


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue on the busy
        # timeout instead of one failing with "database is locked" on upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine and session factory of one app."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """Return ``"postgresql"`` or ``"sqlite"``."""
        return self.engine.dialect.name


def init_app(app: Flask) -> None:
    """Bind a :class:`Database` to ``app`` and close the context's session on teardown."""
    app.extensions["feegate.db"] = Database(
        app.config["DATABASE_URL"], **app.config.get("DATABASE_ENGINE_OPTIONS", {})
    )
    app.teardown_appcontext(_close_session)


def get_db() -> Database:
    """Return the current app's :class:`Database`."""
    db: Database = current_app.extensions["feegate.db"]
    return db


def get_session() -> Session:
    """Return the session of the current application context, opening it on first use."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        # Anything not committed by the view, command or task is rolled back here.
        session.close()


#: ``session.info`` keys: the session's next precompiled statement runs alone (see below); it ran
_ALONE = "feegate.db.alone"
_RAN_ALONE = "feegate.db.ran_alone"


def autocommit_next_statement(session: Session) -> None:
    """On PostgreSQL, let a request whose writes are one statement commit it without BEGIN and COMMIT.

    A statement commits or rolls back as a whole on its own, so a transaction around a single
    one only adds two round trips; and the Session and Connection layers around one statement
    cost more CPU than the statement itself (100 of 280 us measured on invoice creation). So the
    session's next :func:`execute_precompiled` runs on a pooled connection of its own, in
    autocommit, straight through the driver. The caller must write nothing else, and then call
    :func:`commit` as usual: it sends nothing, but the after-commit hooks run. Nothing
    changes on SQLite, or when the session's transaction has already begun.
    """
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.info[_ALONE] = True


def commit(session: Session) -> None:
    """``session.commit()``; after a statement that ran alone, only the after-commit hooks run.

    That statement committed itself: a commit would build and end an empty transaction
    just to run the hooks (25 us of CPU per invoice created), so they are run directly,
    as the commit would, unless the session has begun anything since.
    """
    if (
        session.info.pop(_RAN_ALONE, False)
        and not session.in_transaction()
        and not (session.new or session.dirty or session.deleted)
    ):
        session.dispatch.after_commit(session)
    else:
        session.commit()


def execute_precompiled(session: Session, statement: ClauseElement, params: dict[str, Any]) -> list[Any]:
    """Execute ``statement`` from SQL compiled once, converting ``params`` with the columns' own types.

    ``session.execute`` walks a statement to derive its cache key on every call, and some
    statements are never cached at all (the PostgreSQL ``INSERT ... ON CONFLICT``): for the
    busiest writes, with dozens of parameters, that costs more CPU than the database spends
    running them. ``statement`` must be built once (it keys the compiled form) and every
    parameter must be given. Returns the rows. The connection's events and error handling
    apply as usual, except for a statement run alone, which gets the same errors but no events.
    """
    engine = session.get_bind()
    sql, names, processors = _compiled(statement, engine.dialect)
    converted = {
        name: convert(value) if (convert := processors[name]) else value for name, value in params.items()
    }
    args: Any = tuple(converted[name] for name in names) if names else converted
    if session.info.pop(_ALONE, False) and not session.in_transaction():
        assert isinstance(engine, Engine)
        rows = _execute_alone(engine, sql, args)
        session.info[_RAN_ALONE] = True
        return rows
    return list(session.connection().exec_driver_sql(sql, args))


def _execute_alone(engine: Engine, sql: str, args: Any) -> list[Any]:
    pooled = engine.raw_connection()  # the pool's checkout events run as for any connection
    connection: Any = pooled.dbapi_connection  # a psycopg connection
    invalidated = False
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall() if cursor.description else []
    except engine.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would: a lost connection leaves the pool and the error says so (a 503).
        invalidated = engine.dialect.is_disconnect(error, connection, None)
        if invalidated:
            pooled.invalidate(error)
        raise DBAPIError.instance(
            sql,
            args,
            error,
            engine.dialect.loaded_dbapi.Error,
            hide_parameters=engine.hide_parameters,
            connection_invalidated=invalidated,
            dialect=engine.dialect,
        ) from error
    finally:
        if not invalidated and not connection.closed:
            connection.autocommit = False
        pooled.close()


@lru_cache(maxsize=256)
def _compiled(
    statement: ClauseElement, dialect: Dialect
) -> tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any] | None]]:
    compiled: Any = statement.compile(dialect=dialect)
    processors = {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
    }
    positional = tuple(compiled.positiontup) if compiled.positional else None
    return compiled.string, positional, processors


#: per (dialect, model): the prebuilt statement and each mapped attribute's column
_INSERT_IGNORE: dict[tuple[str, type[Base]], tuple[Any, dict[str, Any]]] = {}


def insert_ignore(session: Session, model: type[Base], values: dict[str, Any]) -> int | None:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: the new id, or None if a row conflicted.

    Under concurrency the losers wait for the winner's transaction and then do
    nothing, so exactly one insert wins on PostgreSQL and SQLite alike. ``values``
    are keyed by attribute name; unset columns get their defaults.
    """
    dialect = session.get_bind().dialect.name
    prepared = _INSERT_IGNORE.get((dialect, model)) or _prepare_insert_ignore(dialect, model)
    statement, columns = prepared
    if session.autoflush:
        session.flush()  # a Core statement does not autoflush; the ORM statement this replaces did
    params = {col.key: values[attr] if attr in values else _default(col) for attr, col in columns.items()}
    rows = execute_precompiled(session, statement, params)
    new_id: int | None = rows[0][0] if rows else None
    return new_id


def _prepare_insert_ignore(dialect: str, model: type[Base]) -> tuple[Any, dict[str, Any]]:
    # Built once per model (callbacks and Idempotency-Keys run it on every request).
    table: Any = model.__table__
    columns = {prop.key: prop.columns[0] for prop in model.__mapper__.column_attrs}
    columns = {attr: col for attr, col in columns.items() if not col.primary_key}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    statement = statement.values({c.key: bindparam(c.key, type_=c.type) for c in columns.values()})
    prepared = (statement.on_conflict_do_nothing().returning(table.c.id), columns)
    _INSERT_IGNORE[(dialect, model)] = prepared
    return prepared


def _default(column: Column[Any]) -> Any:
    """The value SQLAlchemy would insert for an omitted column: its Python-side default, else NULL."""
    default: Any = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy wraps a no-argument default to take the execution context
    return default.arg
