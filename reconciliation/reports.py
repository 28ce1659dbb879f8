"""Write reconciliation reports as CSV and XLSX, safe to open in a spreadsheet.

Three tables per run: the summary (count and amount per category), every item with
its category, and the daily totals per treasury account x budget chapter x sub-item
that finance holds against the treasury's own revenue report. Text cells that a
spreadsheet would take for a formula are escaped (CSV/formula injection).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# OWASP's list: a leading =, +, -, @, tab or carriage return starts a formula in some spreadsheet.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576

Cell = str | int | None


def escape_cell(value: Any) -> Cell:
    """Return a cell value a spreadsheet will show as text, never evaluate."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, int):
        return value
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


@dataclass(frozen=True, slots=True)
class Table:
    """One report table: a name (file suffix or sheet title), a header and rows."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]


SUMMARY_HEADER = ("kind", "category", "count")
ITEMS_HEADER = (
    "kind",
    "item_id",
    "category",
    "amount",
    "currency",
    "way",
    "counterpart",
    "delta",
    "note",
    "account",
    "date",
    "reference",
    "text",
)
BUDGET_HEADER = ("date", "account", "chapter", "sub_item", "payments", "amount", "currency")


def write_csv(table: Table, path: Path) -> int:
    """Write one table as UTF-8 CSV with a BOM (so Excel reads Vietnamese); return the row count."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(table.header)
        for row in table.rows:
            writer.writerow([escape_cell(value) for value in row])
            count += 1
    return count


def write_xlsx(tables: Sequence[Table], path: Path) -> None:
    """Write tables as sheets of one workbook, streaming rows (write-only mode)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for table in tables:
        part = 1
        sheet = workbook.create_sheet(table.name[:31])
        sheet.append(list(table.header))
        rows_in_sheet = 1
        for row in table.rows:
            if rows_in_sheet == XLSX_MAX_ROWS:  # a sheet is full: continue on the next one
                part += 1
                sheet = workbook.create_sheet(f"{table.name[:27]} ({part})")
                sheet.append(list(table.header))
                rows_in_sheet = 1
            sheet.append([escape_cell(value) for value in row])
            rows_in_sheet += 1
    workbook.save(path)


def write_report(tables: Sequence[Table], directory: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """Write each table to ``<stem>-<table>.csv`` and/or all of them to ``<stem>.xlsx``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "csv" in formats:
        for table in tables:
            path = directory / f"{stem}-{table.name}.csv"
            write_csv(table, path)
            written.append(path)
    if "xlsx" in formats:
        path = directory / f"{stem}.xlsx"
        write_xlsx(tables, path)
        written.append(path)
    return written
