"""Statement importers: detect the format of a file and stream its statements and entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from reconciliation.importers.base import Direction as Direction
from reconciliation.importers.base import ImportItem as ImportItem
from reconciliation.importers.base import LineError as LineError
from reconciliation.importers.base import LineRejected as LineRejected
from reconciliation.importers.base import Statement as Statement
from reconciliation.importers.base import StatementFormat as StatementFormat
from reconciliation.importers.base import StatementLine as StatementLine
from reconciliation.importers.base import StatementRefused as StatementRefused
from reconciliation.importers.base import StatementSummary as StatementSummary
from reconciliation.importers.base import summarise as summarise
from reconciliation.importers.camt import Share as Share
from reconciliation.importers.camt import SplitMismatch as SplitMismatch
from reconciliation.importers.camt import read_camt
from reconciliation.importers.mt940 import read_mt940
from reconciliation.importers.profiles import GENERIC, VIETNAMESE_BANK, get_profile
from reconciliation.importers.tabular import read_csv, read_xlsx

SNIFF_BYTES = 4096


def detect_format(path: Path) -> StatementFormat:
    """Guess a statement file's format from its first bytes."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return StatementFormat.XLSX
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if text.startswith("<"):
        if "camt.054" in text or "BkToCstmrDbtCdtNtfctn" in text:
            return StatementFormat.CAMT054
        return StatementFormat.CAMT053
    if ":20:" in text and (":25:" in text or ":60F:" in text or "{4:" in text):
        return StatementFormat.MT940
    return StatementFormat.CSV


class _CountingReader:
    """A binary file that reports how many bytes have been read, for a progress bar."""

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self.stream = stream
        self.on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        """Read like the wrapped file, then report the bytes read."""
        data = self.stream.read(size)
        self.on_bytes(len(data))
        return data


def read_statement_file(
    path: Path,
    fmt: StatementFormat | None = None,
    profile_name: str | None = None,
    account: str = "",
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[ImportItem]:
    """Stream a statement file's items; ``fmt`` None means detect it; ``on_bytes`` hears reading progress."""
    fmt = fmt or detect_format(path)
    if fmt in (StatementFormat.CAMT053, StatementFormat.CAMT054):
        with path.open("rb") as stream:
            yield from read_camt(_CountingReader(stream, on_bytes) if on_bytes else stream)  # type: ignore[arg-type]
        return
    if on_bytes is not None:
        on_bytes(path.stat().st_size)  # the other formats are read whole
    if fmt is StatementFormat.MT940:
        yield from read_mt940(path.read_bytes())
    else:
        try:
            profile = get_profile(profile_name) if profile_name else None
        except KeyError as exc:
            raise StatementRefused(str(exc)) from None
        try:
            if fmt is StatementFormat.CSV:
                yield from read_csv(path.read_bytes(), profile or GENERIC, account)
            else:
                with path.open("rb") as stream:
                    yield from read_xlsx(stream, profile or VIETNAMESE_BANK, account)
        except LineRejected as exc:
            raise StatementRefused(str(exc)) from None
