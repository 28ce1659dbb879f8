"""Import a large camt file on two cores: forked workers read it, this process COPYs.

A million-entry import is CPU-bound in our own process (lxml's parse, reading each
entry, finding its reference, formatting its COPY row) while the second core sits
mostly idle. Here ``WORKERS`` children share the entries: blocks of ``BLOCK`` entries
dealt round (block ``b`` is worker ``b % WORKERS``'s). Each worker's parser sees the
file with the other workers' entries emptied (:mod:`reconciliation.importers.camt_split`),
so it parses and reads only its own; it turns them into COPY text with the very same
row builder (:func:`~reconciliation.statement_writer.entry_row`) and psycopg's own COPY
text formatter, and sends each block whole. This process takes the blocks in file
order and writes them into the statement's COPY while the database works. Statements,
errors and totals are recorded exactly as the sequential loop in
:mod:`reconciliation.service` records them, in the same order: stored entries (ids
included), errors, balances and the report are identical, which
``tests/reconciliation/test_parallel_import.py`` checks.

A statement's row is made here when the worker owning the block where it starts asks
for it; every worker waits for its id (a handful of round trips per file), and each
reply names the statement, so a worker the cut hid a statement from notices. A worker
holds at most one block (about 1 MB of COPY text) and then waits for this process to
take it: memory stays flat.

Whenever the cut and the parse disagree, or a worker's parser refuses the file (its
line and column would be those of the emptied file), :class:`SplitMismatch` is raised
and the caller reads the file sequentially instead, from a savepoint.

PostgreSQL only (SQLite has no COPY and one core is plenty for the files it sees),
large camt files only, and only where ``fork`` exists: the children inherit the loaded
modules and never touch the database.
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
    LineError,
    Share,
    Statement,
    StatementLine,
    StatementRefused,
    _CountingReader,
)
from reconciliation.importers.camt import SplitMismatch, read_camt_share
from reconciliation.importers.camt_split import HollowStream
from reconciliation.statement_writer import StatementWriter, count_entry, entry_row

#: Smaller camt files are read in this process: the children's start would not pay for itself.
PARALLEL_MIN_BYTES = 8 << 20
#: Two workers and the database's COPY (about a third of the CPU) already keep two cores busy.
WORKERS = 2
BLOCK = 4096  # entries per block: about 1.4 MB of XML and 0.8 MB of COPY text

# What a worker sends: lists of operations, each a tuple whose first value is one of these.
_ROWS, _TOTALS, _STATEMENT, _ERROR, _PROGRESS, _END, _MISMATCH, _FAILED, _DONE = range(9)

OpenStatement = Callable[[Statement], StatementWriter | None]


def available() -> bool:
    """Return True where children can be forked (they inherit the loaded modules: no start-up imports)."""
    return "fork" in multiprocessing.get_all_start_methods()


def stream_in_children(
    raw_connection: Any,
    path: Path,
    *,
    open_statement: OpenStatement,
    errors: list[LineError],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Import a camt file's entries as the sequential loop would, the reading done by child processes.

    ``open_statement`` records a statement and opens its COPY (None: skip its entries);
    errors are appended to ``errors`` in file order. Raises SplitMismatch whenever the file
    must be read sequentially instead: the cut and the parse disagree, a worker refused the
    file or failed. The open COPY is abandoned on any failure.
    """
    # Built here, from the connection, so the children format values with its adapters and encoding.
    transformer = adapt.Transformer.from_context(raw_connection)
    workers, block = WORKERS, BLOCK  # read now, so tests can change them
    fork = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    children = []
    for worker in range(workers):
        ours, theirs = fork.Pipe(duplex=True)
        share = Share(worker, workers, block)
        child = fork.Process(
            target=_work,
            args=(theirs, [*pipes, ours], transformer, path, share, progress is not None),
            name=f"camt-reader-{worker}",
            daemon=True,
        )
        child.start()
        theirs.close()
        pipes.append(ours)
        children.append(child)
    current: StatementWriter | None = None
    try:
        next_block = reported = statements = 0
        finished = False
        while not finished:
            try:
                ops = pipes[next_block % workers].recv()
            except EOFError:  # the worker died without a word (killed): read the file here
                raise SplitMismatch("a worker ended without a word") from None
            for op in ops:
                kind = op[0]
                if kind == _ROWS:
                    current.write_copy_text(op[1])  # type: ignore[union-attr]  # only while one is open
                elif kind == _ERROR:
                    errors.append(op[1])
                elif kind == _TOTALS:
                    summary = current.summary  # type: ignore[union-attr]
                    summary.entries += op[1]
                    summary.total_credit += op[2]
                    summary.total_debit += op[3]
                elif kind == _STATEMENT:
                    if current is not None:
                        current.close()  # the connection is needed for the next statement's row
                    current = open_statement(op[1])
                    statements += 1
                    opened = (
                        op[1].index,
                        *((None, "") if current is None else (current.statement_pk, current.account)),
                    )
                    for pipe in pipes:  # every worker needs the id for its own entries
                        try:
                            pipe.send(opened)
                        except BrokenPipeError:
                            pass  # that worker stopped: its turn will tell why
                elif kind == _PROGRESS:
                    reported += op[1]
                    if progress is not None:
                        progress(op[1])
                elif kind == _END:
                    next_block += 1
                elif kind == _DONE:
                    finished = True  # the worker whose turn it is has no block left: none has
                    seen = [
                        op[1],
                        *(_last_word(pipe) for pipe in pipes if pipe is not pipes[next_block % workers]),
                    ]
                    if any(count != statements for count in seen):  # one missed a statement the cut hid
                        raise SplitMismatch(f"statements seen: {seen}, opened: {statements}")
                else:  # _MISMATCH, or _FAILED: a worker's own fault, which the sequential import has not
                    raise SplitMismatch(op[1])
    except BaseException as exc:
        if current is not None:
            current.abort(exc)
        for child in children:
            child.kill()  # it may be blocked on a full pipe: nobody reads it any more
        raise
    finally:
        for pipe in pipes:
            pipe.close()
        for child in children:
            child.join()
    if current is not None:
        current.close()
    if progress is not None and reported < path.stat().st_size:
        progress(path.stat().st_size - reported)  # the parse reads to the end; its last bytes are unreported


def _last_word(pipe: Connection) -> int:
    """Return the number of statements a worker saw, from its ``_DONE``; SplitMismatch if it says more."""
    ops = pipe.recv()
    if ops[0][0] != _DONE:
        raise SplitMismatch(f"a worker still had {ops[0][0]} to say")
    return int(ops[0][1])


def _work(
    conn: Connection,
    inherited: list[Connection],
    transformer: Transformer,
    path: Path,
    share: Share,
    counting: bool,
) -> None:
    """A child: read the file, sending each of its blocks whole (COPY text, errors, totals) in order."""
    for other in inherited:  # the parent's ends, forked with us: held here, a dead parent is never seen
        other.close()
    try:
        _Worker(conn, transformer, share).run(path, counting)
    except (SplitMismatch, StatementRefused) as exc:
        # A refusal too: its message (line and column) is of the emptied file. The parent reads
        # the file whole instead, which refuses it with the file's own message.
        conn.send([(_MISMATCH, str(exc))])
    except BaseException:  # the parent re-raises it; the child has no one else to tell
        conn.send([(_FAILED, traceback.format_exc())])
    finally:
        conn.close()


class _Worker:
    """One child's state: the block it is in, what it owes the parent for it, the open statement."""

    def __init__(self, conn: Connection, transformer: Transformer, share: Share) -> None:
        self.conn = conn
        self.share = share
        self.formatter = TextFormatter(transformer)
        self.ops: list[tuple[Any, ...]] = []
        self.read = 0  # bytes read since the last report (worker 0 reports them)
        self.entries = self.total_credit = self.total_debit = 0
        self.statements = 0  # seen (each reader sees them all, unless the cut hid one)

    def count(self, size: int) -> None:
        """Hear how many bytes the parser has read."""
        self.read += size

    def _flush(self, *last: tuple[Any, ...]) -> None:
        """Send everything owed for the current block, then ``last``."""
        ops = self.ops
        data = self.formatter.end()
        if data:
            ops.append((_ROWS, bytes(data)))
        if self.entries:
            ops.append((_TOTALS, self.entries, self.total_credit, self.total_debit))
            self.entries = self.total_credit = self.total_debit = 0
        if self.read and self.share.worker == 0:
            ops.append((_PROGRESS, self.read))
            self.read = 0
        ops.extend(last)
        self.conn.send(ops)
        self.ops = []

    def run(self, path: Path, counting: bool) -> None:
        """Read the file; send this worker's blocks, each ended by ``_END``, then ``_DONE``."""
        with path.open("rb") as raw:
            source: Any = _CountingReader(raw, self.count) if counting else raw
            stream = HollowStream(source, self.share)
            seen, block = self._read_and_send(stream)
        if seen != stream.started:
            raise SplitMismatch(f"the cut saw {stream.started} entries, the parse {seen}")
        if block % self.share.workers == self.share.worker:
            self._flush((_END,))
        self.conn.send([(_DONE, self.statements)])

    def _read_and_send(self, stream: HollowStream) -> tuple[int, int]:
        """Send every block of this worker but the last; return the entries seen and the last block."""
        me, workers, size = self.share
        ops, write_row = self.ops, self.formatter.write_row
        statement_pk: int | None = None
        statement_account = ""
        fallback_day = None
        block = seen = 0  # the block of the last item; how many entries so far
        for item in read_camt_share(stream, self.share):  # type: ignore[arg-type]
            if isinstance(item, Statement):
                where = seen // size  # before entry seen + 1
            else:
                seen = item if isinstance(item, int) else item.entry_number
                where = (seen - 1) // size
            if where != block:
                if block % workers == me:
                    self._flush((_END,))
                    ops = self.ops
                block = where
            if isinstance(item, int):
                continue  # another worker's entry
            if isinstance(item, StatementLine):
                if statement_pk is None:
                    continue  # a statement for another account: its entries are skipped
                try:
                    row = entry_row(item, statement_pk, statement_account, fallback_day)
                except ValueError as exc:
                    ops.append((_ERROR, LineError(item.entry_number, f"entry {item.entry_number}: {exc}")))
                    continue
                count_entry(self, item)
                data = write_row(row)  # psycopg hands back a full buffer every 32 KiB
                if data:
                    ops.append((_ROWS, bytes(data)))
            elif isinstance(item, Statement):
                if block % workers == me:  # it starts in this worker's block: it asks for the row
                    self._flush((_STATEMENT, item))
                    ops = self.ops
                index, statement_pk, statement_account = self.conn.recv()
                if index != item.index:  # the cut hid a statement from this worker: ids would be wrong
                    raise SplitMismatch(f"statement {index} opened, {item.index} read")
                self.statements += 1
                fallback_day = item.period_end
            else:
                ops.append((_ERROR, item))
        return seen, block
