"""Empty the entries of other readers' blocks out of a camt file, so each parser reads only its share.

Several processes read one large file (``reconciliation.parallel_import``): the entries are
dealt round in blocks of ``Share.block``, and each reader must parse and read only its
own. Parsing every byte in every reader would cost each of them lxml's whole parse, so
each reader sees the file through a :class:`HollowStream`: the entries of another
reader's block become one empty element ``<Ntry feegate-cut="N"/>`` standing for N entries
(one per entry, keeping what lies between them, where the entries are not simply adjacent:
a statement ends and the next starts there). Everything else (prologue,
statement headers and ends, this reader's entries) passes byte for byte, so the parser
sees the same statements and numbers the same entries. Entries are found as the bytes
``<Ntry>`` ... ``</Ntry>``, the way banks write them; the reader
(:func:`~reconciliation.importers.camt.read_camt_share`) then checks that every element
it numbers is emptied exactly when it belongs to another reader, and the parallel import
checks the count of entries and of statements each reader saw at the end. Whatever the
bytes do not show plainly (comments or CDATA holding ``<Ntry>``, an entry with attributes
or a prefix, statement tags inside entries) breaks one of these checks or the parse, and
the file is read whole, sequentially.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import IO

from reconciliation.importers.camt import HOLLOW_MARK, Share, SplitMismatch

ENTRY_OPEN = b"<Ntry>"
ENTRY_CLOSE = b"</Ntry>"
HOLLOW_ONE = b"<Ntry " + HOLLOW_MARK.encode() + b'="1"/>'
_OPEN = re.compile(re.escape(ENTRY_OPEN))
_ENTRY = re.compile(rb"<Ntry>.*?</Ntry>", re.DOTALL)
CHUNK = 1 << 20
#: An entry longer than this is no entry a bank writes: read such a file whole.
MAX_CARRY = 16 << 20


class HollowStream:
    """A binary file-like view of a camt file with the entries of other readers' blocks emptied.

    Read in chunks that end just after an entry's end tag, so no entry is ever split.
    ``started`` counts the entries (``<Ntry>`` tags) passed so far.
    """

    def __init__(self, raw: IO[bytes], share: Share) -> None:
        self.raw = raw
        self.share = share
        self.started = 0
        self.carry = b""  # read but not passed on: after the last entry end seen
        self.done = False
        self.between = ENTRY_CLOSE + b"\n" + ENTRY_OPEN  # one entry's end and the next's start, adjacent

    def read(self, size: int = -1) -> bytes:
        """Return the next piece of the emptied file (any length; lxml keeps what it does not need yet)."""
        while not self.done:
            piece = self._next()
            if piece:
                return piece
        return b""

    def _next(self) -> bytes:
        data = self.raw.read(CHUNK)
        if not data:
            self.done = True
            rest, self.carry = self.carry, b""
            self.started += rest.count(ENTRY_OPEN)  # only an unfinished entry: the parse will fail
            return rest
        buffer = self.carry + data
        cut = buffer.rfind(ENTRY_CLOSE)
        if cut < 0:
            if len(buffer) > MAX_CARRY:
                raise SplitMismatch("no entry end in 16 MiB")
            self.carry = buffer
            return b""
        cut += len(ENTRY_CLOSE)
        self.carry = buffer[cut:]
        return self._empty_theirs(buffer[:cut])

    def _empty_theirs(self, chunk: bytes) -> bytes:
        """Pass this reader's blocks of ``chunk`` as they are and empty the others' entries."""
        me, workers, size = self.share
        first = self.started
        if not first:  # the file's own spacing between two entries (a newline, indentation or none)
            close = chunk.find(ENTRY_CLOSE) + len(ENTRY_CLOSE)
            following = chunk.find(ENTRY_OPEN, close)
            gap = chunk[close:following]
            if close >= len(ENTRY_CLOSE) and following >= 0 and len(gap) < 64 and not gap.strip():
                self.between = ENTRY_CLOSE + gap + ENTRY_OPEN
        total = first + chunk.count(ENTRY_OPEN)
        self.started = total
        out: list[bytes] = []
        pos, n = 0, first  # bytes of the chunk handled; entries handled
        while n < total:
            last = min((n // size + 1) * size, total)  # this segment: entries n + 1 .. last, one block's
            if last == total:
                end = len(chunk)
            else:  # where entry last + 1 starts
                end = next(islice(_OPEN.finditer(chunk, pos), last - n, None)).start()
            segment = chunk[pos:end]
            out.append(segment if n // size % workers == me else _emptied(segment, last - n, self.between))
            pos, n = end, last
        if pos < len(chunk):
            out.append(chunk[pos:])  # no entry starts here (the end of one that started before)
        return b"".join(out)


def _hollow(entries: int) -> bytes:
    return b'<Ntry %s="%d"/>' % (HOLLOW_MARK.encode(), entries)


def _emptied(segment: bytes, entries: int, between: bytes) -> bytes:
    """``segment`` (whatever precedes its entries, ``entries`` entries, what follows) with them emptied."""
    start = segment.find(ENTRY_OPEN)
    end = segment.rfind(ENTRY_CLOSE) + len(ENTRY_CLOSE)
    if segment.count(between, start, end) == entries - 1:  # nothing but entries: one scan tells
        # One empty element stands for them all: the parser and the reader skip a block at once.
        return b"".join((segment[:start], _hollow(entries), segment[end:]))
    # Something lies between them (a statement's end and the next one's start): keep it.
    emptied, count = _ENTRY.subn(HOLLOW_ONE, segment)
    if count != entries:
        raise SplitMismatch("entries the cut cannot see")
    return emptied
