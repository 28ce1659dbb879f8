"""Import a large camt file on two cores: a forked child reads it, this process COPYs.

A million-entry import is CPU-bound in our own process (lxml's parse, reading each
entry, finding its reference, formatting its COPY row) while the second core sits
mostly idle. Here a child process does all of that, running the very same reader
(:func:`~reconciliation.importers.read_statement_file`), the same row builder
(:func:`~reconciliation.statement_writer.entry_row`) and psycopg's own COPY text
formatter, and streams the ready COPY bytes through a pipe; this process only writes
them into the statement's COPY while the database works, and records statements,
errors and totals exactly as the sequential loop in :mod:`reconciliation.service`
does, in the same order. So stored entries (ids included), errors, balances and the
report are identical; ``tests/reconciliation/test_parallel_import.py`` checks it.

The child asks for each statement's row id before formatting its entries (a
statement is a handful of round trips per file), and the pipe's bounded buffer makes
it wait whenever the database falls behind: memory stays flat.

PostgreSQL only (SQLite has no COPY and one core is plenty for the files it sees),
large camt files only (forking costs a few milliseconds), and only where ``fork``
exists: the child inherits the loaded modules and never touches the database.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from psycopg import adapt
from psycopg._copy_base import TextFormatter  # psycopg's own COPY text rows: byte for byte the same
from psycopg.abc import Transformer

from reconciliation.importers import (
    Direction,
    LineError,
    Statement,
    StatementFormat,
    StatementLine,
    StatementRefused,
    read_statement_file,
)
from reconciliation.statement_writer import StatementWriter, entry_row

#: Smaller camt files are read in this process: the child's start would not pay for itself.
PARALLEL_MIN_BYTES = 8 << 20

# What the child sends, as the first value of each message.
_ROWS, _TOTALS, _STATEMENT, _ERROR, _REFUSED, _FAILED, _DONE = range(7)
_CREDIT = Direction.CREDIT

OpenStatement = Callable[[Statement], StatementWriter | None]


def available() -> bool:
    """Return True where a child can be forked (it inherits the loaded modules: no start-up imports)."""
    return "fork" in multiprocessing.get_all_start_methods()


def stream_in_child(
    raw_connection: Any,
    path: Path,
    fmt: StatementFormat,
    profile: str | None,
    account: str,
    *,
    open_statement: OpenStatement,
    errors: list[LineError],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Import ``path``'s entries as the sequential loop would, the reading done by a child process.

    ``open_statement`` records a statement and opens its COPY (None: skip its entries);
    errors are appended to ``errors`` in file order.
    Raises StatementRefused as the reader does; the open COPY is abandoned on any failure.
    """
    # Built here, from the connection, so the child formats values with its adapters and encoding.
    transformer = adapt.Transformer.from_context(raw_connection)
    ours, theirs = multiprocessing.get_context("fork").Pipe(duplex=True)
    child = multiprocessing.get_context("fork").Process(
        target=_produce,
        args=(theirs, transformer, path, fmt, profile, account, progress is not None),
        name="camt-reader",
        daemon=True,
    )
    child.start()
    theirs.close()
    current: StatementWriter | None = None
    try:
        while True:
            message = ours.recv()
            kind = message[0]
            if kind == _ROWS:
                if message[1]:
                    current.write_copy_text(message[1])  # type: ignore[union-attr]  # only while one is open
                if progress is not None and message[2]:
                    progress(message[2])
            elif kind == _ERROR:
                errors.append(message[1])
            elif kind == _TOTALS:
                summary = current.summary  # type: ignore[union-attr]
                summary.entries, summary.total_credit, summary.total_debit = message[1:]
            elif kind == _STATEMENT:
                if current is not None:
                    current.close()  # the connection is needed for the next statement's row
                current = open_statement(message[1])
                ours.send(None if current is None else (current.statement_pk, current.account))
            elif kind == _DONE:
                break
            elif kind == _REFUSED:
                raise StatementRefused(message[1])
            else:
                raise RuntimeError(f"the statement reader failed:\n{message[1]}")
    except BaseException as exc:
        if current is not None:
            current.abort(exc)
        child.kill()  # it may be blocked on a full pipe: nobody reads it any more
        raise
    finally:
        ours.close()
        child.join()
    if current is not None:
        current.close()


def _produce(
    conn: Connection,
    transformer: Transformer,
    path: Path,
    fmt: StatementFormat,
    profile: str | None,
    account: str,
    counting: bool,
) -> None:
    """The child: read the file and send COPY bytes, statements, errors and totals, in file order."""
    try:
        _read_and_send(conn, transformer, path, fmt, profile, account, counting)
    except StatementRefused as exc:
        conn.send((_REFUSED, str(exc)))
    except BaseException:  # the parent re-raises it; the child has no one else to tell
        conn.send((_FAILED, traceback.format_exc()))
    finally:
        conn.close()


def _read_and_send(
    conn: Connection,
    transformer: Transformer,
    path: Path,
    fmt: StatementFormat,
    profile: str | None,
    account: str,
    counting: bool,
) -> None:
    formatter = TextFormatter(transformer)
    write_row, send = formatter.write_row, conn.send
    read = [0]  # bytes read since the last message, for the parent's progress bar

    def count(size: int) -> None:
        read[0] += size

    def send_rows() -> None:
        data = formatter.end()
        if data or read[0]:
            send((_ROWS, bytes(data), read[0]))
            read[0] = 0

    statement_pk: int | None = None
    statement_account = ""
    fallback_day = None
    entries = total_credit = total_debit = 0
    # Counted only when the parent shows progress, as in this process (a counted stream has no
    # file name, which lxml quotes in its syntax errors).
    for item in read_statement_file(path, fmt, profile, account, on_bytes=count if counting else None):
        if isinstance(item, StatementLine):  # the million: tested first, as in the sequential loop
            if statement_pk is None:
                continue  # a statement for another account: its entries are skipped
            try:
                row = entry_row(item, statement_pk, statement_account, fallback_day)
            except ValueError as exc:
                send((_ERROR, LineError(item.entry_number, f"entry {item.entry_number}: {exc}")))
                continue
            entries += 1
            if item.status == "BOOK":
                if item.direction is _CREDIT:
                    total_credit += item.amount
                else:
                    total_debit += item.amount
            data = write_row(row)  # psycopg hands back a full buffer every 32 KiB
            if data:
                send((_ROWS, bytes(data), read[0]))
                read[0] = 0
        elif isinstance(item, Statement):
            send_rows()
            if statement_pk is not None:
                send((_TOTALS, entries, total_credit, total_debit))
            send((_STATEMENT, item))
            opened = conn.recv()
            statement_pk, statement_account = opened if opened is not None else (None, "")
            fallback_day = item.period_end
            entries = total_credit = total_debit = 0
        else:
            send((_ERROR, item))
    send_rows()
    if statement_pk is not None:
        send((_TOTALS, entries, total_credit, total_debit))
    send((_DONE,))
