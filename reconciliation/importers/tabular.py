"""Read CSV and XLSX bank exports row by row through a :class:`ColumnProfile`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from reconciliation.importers.base import (
    Direction,
    ImportItem,
    LineError,
    LineRejected,
    Statement,
    StatementLine,
    currency_exponent,
    to_minor_units,
)
from reconciliation.importers.profiles import ColumnProfile, fold

FIELDS = ("date", "content", "credit", "debit", "amount", "balance", "currency", "account", "reference")


def _find_columns(row: Sequence[Any], profile: ColumnProfile) -> dict[str, int] | None:
    """Map field -> column index if ``row`` is the profile's header row."""
    folded = [fold(str(cell)) if cell is not None else "" for cell in row]
    columns: dict[str, int] = {}
    for name in FIELDS:
        for alias in getattr(profile, name):
            key = fold(alias)
            if key in folded and folded.index(key) not in columns.values():
                columns[name] = folded.index(key)
                break
    has_money = ("credit" in columns or "debit" in columns) or "amount" in columns
    return columns if "date" in columns and has_money else None


def _number(cell: Any, profile: ColumnProfile, currency: str) -> int | None:
    """Convert a money cell to minor units; blank means no amount."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise LineRejected(f"malformed amount {cell!r}")
    if isinstance(cell, int):
        return cell * 10 ** currency_exponent(currency)
    if isinstance(cell, float):
        # openpyxl hands numeric cells over as float; repr is the shortest exact decimal text.
        return to_minor_units(repr(cell), currency)
    if isinstance(cell, Decimal):
        return to_minor_units(str(cell), currency)
    text = str(cell).strip().replace("\u00a0", "").replace(" ", "")
    if not text or text == "-":
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    grouped = re.escape(profile.thousands_mark)
    decimal = re.escape(profile.decimal_mark)
    pattern = rf"[+-]?(\d{{1,3}}({grouped}\d{{3}})+|\d+)({decimal}\d+)?"
    if not re.fullmatch(pattern, text):
        raise LineRejected(f"malformed amount {cell!r}")
    text = text.replace(profile.thousands_mark, "").replace(profile.decimal_mark, ".")
    value = to_minor_units(text, currency)
    return -value if negative else value


def _date(cell: Any, profile: ColumnProfile) -> date:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = str(cell or "").strip()
    for fmt in profile.date_formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise LineRejected(f"malformed date {text!r}")


def _cell(row: Sequence[Any], columns: dict[str, int], name: str) -> Any:
    index = columns.get(name)
    return row[index] if index is not None and index < len(row) else None


def read_rows(
    rows: Iterable[Sequence[Any]], profile: ColumnProfile, account: str = ""
) -> Iterator[ImportItem]:
    """Yield one statement, its entries and per-row errors from a header row and data rows."""
    columns: dict[str, int] | None = None
    lines: list[StatementLine] = []
    errors: list[LineError] = []
    balances: list[tuple[int, int | None]] = []  # (signed amount, balance after) per imported row
    file_account = ""
    currency_seen = profile.default_currency
    for row_number, row in enumerate(rows, start=1):
        if columns is None:
            if row_number > profile.header_search_rows:
                raise LineRejected(f"no header row for profile {profile.name!r} in the first rows")
            columns = _find_columns(row, profile)
            continue
        if not any(cell not in (None, "") for cell in row):
            continue
        try:
            currency = str(_cell(row, columns, "currency") or profile.default_currency).strip().upper()
            if not currency:
                raise LineRejected("no currency column and the profile has no default currency")
            credit = _number(_cell(row, columns, "credit"), profile, currency) or 0
            debit = _number(_cell(row, columns, "debit"), profile, currency) or 0
            signed = _number(_cell(row, columns, "amount"), profile, currency)
            if signed is None:
                signed = abs(credit) - abs(debit)
            if signed == 0:
                raise LineRejected("row has no credit, debit or amount")
            balance = _number(_cell(row, columns, "balance"), profile, currency)
            when = _date(_cell(row, columns, "date"), profile)
        except LineRejected as exc:
            errors.append(LineError(row_number, f"row {row_number}: {exc}"))
            continue
        file_account = file_account or str(_cell(row, columns, "account") or "").strip()
        currency_seen = currency
        balances.append((signed, balance))
        lines.append(
            StatementLine(
                statement_index=0,
                entry_number=row_number,
                amount=abs(signed),
                currency=currency,
                direction=Direction.CREDIT if signed > 0 else Direction.DEBIT,
                booking_date=when,
                value_date=when,
                bank_ref=str(_cell(row, columns, "reference") or "").strip(),
                remittance=str(_cell(row, columns, "content") or "").strip(),
            )
        )
    if columns is None:
        raise LineRejected(f"no header row for profile {profile.name!r}")
    opening, closing = _running_balance(balances)
    dates = [line.booking_date for line in lines if line.booking_date]
    yield Statement(
        index=0,
        statement_id="",
        account=account or file_account,
        currency=currency_seen,
        opening_balance=opening,
        closing_balance=closing,
        period_start=min(dates) if dates else None,
        period_end=max(dates) if dates else None,
    )
    yield from lines
    yield from errors


def _running_balance(balances: list[tuple[int, int | None]]) -> tuple[int | None, int | None]:
    """Derive opening and closing balances from the balance-after column, when every row has one.

    A row left out of the file (or rejected) then shows as opening + entries != closing.
    """
    if not balances or any(after is None for _, after in balances):
        return None, None
    first_signed, first_after = balances[0]
    assert first_after is not None
    return first_after - first_signed, balances[-1][1]


def read_csv(raw: bytes, profile: ColumnProfile, account: str = "") -> Iterator[ImportItem]:
    """Yield a CSV export's statement, entries and errors (UTF-8, BOM tolerated)."""
    text = raw.decode("utf-8-sig")
    sample = text[:4096]
    delimiter = profile.delimiter
    if sample.count(";") > sample.count(delimiter):
        delimiter = ";"  # European exports separate with ';' when ',' is the decimal mark
    yield from read_rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), profile, account)


def read_xlsx(stream: IO[bytes], profile: ColumnProfile, account: str = "") -> Iterator[ImportItem]:
    """Yield an XLSX export's statement, entries and errors from its first sheet, read-only."""
    from openpyxl import load_workbook

    workbook = load_workbook(stream, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        yield from read_rows(sheet.iter_rows(values_only=True), profile, account)
    finally:
        workbook.close()
