"""Read SWIFT MT940 statements through the ``mt-940`` library, one message at a time.

A file may hold several messages (split on the ``-`` end-of-message line or on
SWIFT FIN ``{4:`` blocks); each is parsed on its own so balances are checked per
statement and one broken message does not lose the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import mt940

from reconciliation.importers.base import (
    Direction,
    ImportItem,
    LineError,
    LineRejected,
    Statement,
    StatementLine,
    to_minor_units,
)

FIN_TEXT_BLOCK = re.compile(r"\{4:\s*(.*?)\n-\}", re.DOTALL)
END_OF_MESSAGE = re.compile(r"^-\s*$", re.MULTILINE)
STATEMENT_LINE_TAG = re.compile(r"^:61:", re.MULTILINE)


def split_messages(text: str) -> list[str]:
    """Split an MT940 file into its messages, unwrapping FIN blocks and normalising CRLF."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    blocks = FIN_TEXT_BLOCK.findall(text) if "{4:" in text else END_OF_MESSAGE.split(text)
    return [block.strip("\n") for block in blocks if ":20:" in block]


def _balance(data: dict[str, Any], key: str) -> tuple[int | None, date | None]:
    balance = data.get(key)
    if balance is None:
        return None, None
    amount = balance.amount
    return to_minor_units(str(amount.amount), amount.currency), balance.date


def _date(value: Any) -> date | None:
    return date(value.year, value.month, value.day) if value else None


def _read_message(text: str, index: int, first_number: int) -> Iterator[ImportItem]:
    parsed = mt940.models.Transactions()
    try:
        parsed.parse(text)
    except Exception as exc:  # the library raises bare RuntimeError/ValueError on a bad tag
        # Entries of a message that does not parse are still counted, so later numbers stay stable.
        yield LineError(0, f"statement {index + 1}: cannot parse MT940 message: {exc}", index)
        return
    data = parsed.data
    currency = ""
    for key in ("final_opening_balance", "intermediate_opening_balance"):
        if data.get(key) is not None:
            currency = data[key].amount.currency
            break
    try:
        opening, opening_date = _balance(data, "final_opening_balance")
        closing, closing_date = _balance(data, "final_closing_balance")
    except LineRejected:
        opening = closing = None
        opening_date = closing_date = None
    yield Statement(
        index=index,
        statement_id=str(data.get("transaction_reference", "")),
        account=str(data.get("account_identification", "")),
        currency=currency,
        opening_balance=opening,
        closing_balance=closing,
        period_start=_date(opening_date),
        period_end=_date(closing_date),
    )
    for offset, transaction in enumerate(parsed.transactions):
        number = first_number + offset
        try:
            yield _read_transaction(transaction.data, index, number)
        except LineRejected as exc:
            yield LineError(number, f"entry {number}: {exc}", index)


def _read_transaction(data: dict[str, Any], statement_index: int, number: int) -> StatementLine:
    amount = data["amount"]
    value = to_minor_units(str(amount.amount), amount.currency)
    mark = str(data.get("status", ""))
    # RC/RD are reversals: a reversed debit (RC) comes back as a credit, and the reverse.
    direction = Direction.CREDIT if mark in ("C", "RC") else Direction.DEBIT
    customer_ref = str(data.get("customer_reference") or "").strip()
    details = str(data.get("transaction_details") or "").replace("\n", " ").strip()
    extra = str(data.get("extra_details") or "").strip()
    return StatementLine(
        statement_index=statement_index,
        entry_number=number,
        amount=abs(value),
        currency=amount.currency,
        direction=direction,
        booking_date=_date(data.get("entry_date")) or _date(data.get("date")),
        value_date=_date(data.get("date")),
        bank_ref=str(data.get("bank_reference") or "").strip(),
        entry_ref="" if customer_ref == "NONREF" else customer_ref,
        remittance=" | ".join(part for part in (details, extra) if part),
        reversal=mark in ("RC", "RD"),
    )


def read_mt940(raw: bytes) -> Iterator[ImportItem]:
    """Yield statements, entries and errors of an MT940 file (several messages allowed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # SWIFT x charset is ASCII; older exports are Latin-1
    number = 1
    for index, message in enumerate(split_messages(text)):
        yield from _read_message(message, index, number)
        number += len(STATEMENT_LINE_TAG.findall(message))
