"""Named column-mapping profiles for CSV and XLSX bank exports.

There is no standard export: each bank has its own headers, number conventions
and title rows. A profile names, for each field we need, the header texts it may
appear under (compared case-, accent- and spacing-insensitively). Add a bank by
adding a profile here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """How to read one bank's tabular export."""

    name: str
    date: tuple[str, ...]
    content: tuple[str, ...]  # the free-text transfer content
    credit: tuple[str, ...] = ()  # separate credit/debit columns (Vietnamese "sổ phụ") …
    debit: tuple[str, ...] = ()
    amount: tuple[str, ...] = ()  # … or one signed amount column
    balance: tuple[str, ...] = ()
    currency: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    reference: tuple[str, ...] = ()
    default_currency: str = "VND"
    decimal_mark: str = "."
    thousands_mark: str = ","
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M:%S")
    delimiter: str = ","
    header_search_rows: int = 30  # bank exports put a title block above the header row


def fold(text: str) -> str:
    """Reduce a header to lower-case ASCII letters and digits, so "Số tiền ghi Có" ~ "so tien ghi co"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed.lower() if ch.isascii() and ch.isalnum())


VIETNAMESE_BANK = ColumnProfile(
    name="vn_bank",
    date=("Ngày giao dịch", "Ngày GD", "Ngày hạch toán", "Ngày", "Transaction date", "Date"),
    credit=("Số tiền ghi có", "Ghi có", "Phát sinh có", "Có", "Credit", "Credit amount"),
    debit=("Số tiền ghi nợ", "Ghi nợ", "Phát sinh nợ", "Nợ", "Debit", "Debit amount"),
    balance=("Số dư", "Số dư cuối", "Balance"),
    content=("Nội dung giao dịch", "Nội dung", "Diễn giải", "Mô tả", "Description", "Narrative"),
    reference=("Số tham chiếu", "Mã giao dịch", "Số bút toán", "Reference", "Transaction ID"),
    account=("Số tài khoản", "Account"),
    decimal_mark=",",
    thousands_mark=".",
)

GENERIC = ColumnProfile(
    name="generic",
    date=("Date", "Booking date"),
    amount=("Amount",),
    balance=("Balance",),
    currency=("Currency",),
    account=("Account",),
    content=("Description", "Details"),
    reference=("Reference", "ID"),
    default_currency="",
)

PROFILES: dict[str, ColumnProfile] = {profile.name: profile for profile in (VIETNAMESE_BANK, GENERIC)}


def get_profile(name: str) -> ColumnProfile:
    """Return the named profile or raise KeyError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
