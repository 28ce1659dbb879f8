"""MT940 and CSV/XLSX import: VND amounts, wrappers, line endings, profiles and per-row errors."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from openpyxl import Workbook

from reconciliation.importers import (
    Direction,
    LineError,
    StatementFormat,
    StatementLine,
    StatementRefused,
    detect_format,
    read_statement_file,
    summarise,
)
from reconciliation.importers.mt940 import read_mt940, split_messages
from reconciliation.importers.profiles import VIETNAMESE_BANK
from reconciliation.importers.tabular import read_csv

VND_MT940 = (
    ":20:STMT0001\n:25:3511.0.1234567\n:28C:00012/001\n:60F:C261125VND1000000,\n"
    ":61:2611251125C500000NTRFNONREF//VCB123\n:86:CT DEN FG7K3M9Q2XAB THANH TOAN HO SO\n"
    ":61:2611251125C250000,NTRFNONREF//VCB124\n:86:NOP PHI FG 1111 2222 33\n"
    ":61:2611251125D50000,NMSCNONREF//VCB125\n:86:PHI DICH VU\n"
    ":62F:C261125VND1700000,\n-\n"
)


def _lines(items):
    return [item for item in items if isinstance(item, StatementLine)]


def test_read_mt940_vnd_amounts_with_and_without_trailing_comma():
    (summary,), errors = summarise(read_mt940(VND_MT940.encode()))
    assert errors == []
    assert (summary.statement.account, summary.statement.currency) == ("3511.0.1234567", "VND")
    assert (summary.entries, summary.total_credit, summary.total_debit, summary.balance_check) == (
        3,
        750_000,
        50_000,
        "ok",
    )
    first = _lines(read_mt940(VND_MT940.encode()))[0]
    assert (first.amount, first.bank_ref, first.booking_date) == (500_000, "VCB123", date(2026, 11, 25))
    assert "FG7K3M9Q2XAB" in first.remittance


def test_read_mt940_crlf_and_fin_block_wrapper_read_the_same():
    wrapped = "{1:F01BANKVNVXAXXX0000000000}{2:O9401200261125BANKVNVXAXXX00000000002611251200N}{4:\n"
    wrapped += VND_MT940.replace("\n-\n", "\n-}") + "{5:{CHK:123456789ABC}}"
    crlf = wrapped.replace("\n", "\r\n").encode()
    assert [(line.amount, line.direction) for line in _lines(read_mt940(crlf))] == [
        (500_000, Direction.CREDIT),
        (250_000, Direction.CREDIT),
        (50_000, Direction.DEBIT),
    ]


def test_read_mt940_statement_number_tag_28_without_c_is_accepted():
    raw = VND_MT940.replace(":28C:00012/001", ":28:12/1").encode()
    assert len(_lines(read_mt940(raw))) == 3


def test_read_mt940_broken_message_is_an_error_and_the_next_message_imports():
    broken = ":20:BAD\n:25:X\n:60F:C261125VND1,\n:61:NOTALINE\n:62F:C261125VND1,\n-\n"
    items = list(read_mt940((broken + VND_MT940).encode()))
    errors = [item for item in items if isinstance(item, LineError)]
    assert len(errors) == 1 and "statement 1" in errors[0].message
    lines = _lines(items)
    assert [line.entry_number for line in lines] == [2, 3, 4]  # the broken message's :61: keeps number 1


def test_read_mt940_fractional_vnd_is_a_line_error():
    raw = VND_MT940.replace("C250000,NTRF", "C250000,5NTRF").encode()
    items = list(read_mt940(raw))
    (error,) = [item for item in items if isinstance(item, LineError)]
    assert error.entry_number == 2 and "more decimals than VND allows" in error.message
    assert len(_lines(items)) == 2


def test_read_mt940_reversal_marks():
    raw = VND_MT940.replace("C250000,NTRF", "RD250000,NTRF").encode()
    second = _lines(read_mt940(raw))[1]
    assert (second.direction, second.reversal) == (Direction.DEBIT, True)


def test_split_messages_splits_on_end_of_message_lines():
    assert len(split_messages(VND_MT940 + VND_MT940)) == 2


VN_CSV = (
    "\ufeffSAO KÊ TÀI KHOẢN\nSố tài khoản: 3511.0.1234567\n\n"
    "STT,Ngày giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Số dư,Nội dung giao dịch\n"
    '1,25/11/2026,FT001,,"1.500.000","2.500.000",CT DEN FG7K3M9Q2XAB\n'
    '2,25/11/2026,FT002,"200.000",,"2.300.000",PHI\n'
    '3,26/11/2026,FT003,,"abc","2.300.000",BAD\n'
    '4,26/11/2026,FT004,,"1.250,5","3.550.500",FRACTION\n'
    '5,26/11/2026,FT005,,"700.000","4.250.500",OK\n'
)


def test_read_csv_vietnamese_profile_reads_credits_debits_and_reports_bad_rows():
    items = list(read_csv(VN_CSV.encode("utf-8"), VIETNAMESE_BANK, account="3511.0.1234567"))
    lines = _lines(items)
    assert [(line.amount, line.direction, line.bank_ref) for line in lines] == [
        (1_500_000, Direction.CREDIT, "FT001"),
        (200_000, Direction.DEBIT, "FT002"),
        (700_000, Direction.CREDIT, "FT005"),
    ]
    assert lines[0].booking_date == date(2026, 11, 25)
    assert lines[0].remittance == "CT DEN FG7K3M9Q2XAB"
    errors = [item for item in items if isinstance(item, LineError)]
    assert [error.entry_number for error in errors] == [7, 8]  # file row numbers
    assert "malformed amount 'abc'" in errors[0].message
    assert "more decimals than VND allows" in errors[1].message
    (summary,), _ = summarise(items)
    assert summary.statement.opening_balance == 1_000_000
    assert summary.balance_check == "mismatch"  # two rows are missing from the totals


def test_read_csv_semicolon_separated_export_is_detected():
    raw = "Ngày;Ghi có;Ghi nợ;Số dư;Nội dung\n25/11/2026;1.000;;1.000;a\n".encode()
    (line,) = _lines(read_csv(raw, VIETNAMESE_BANK))
    assert line.amount == 1_000


def test_read_csv_without_header_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(StatementRefused, match="no header row"):
        list(read_statement_file(path, StatementFormat.CSV, "vn_bank"))


def test_read_statement_file_unknown_profile_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a\n")
    with pytest.raises(StatementRefused, match="unknown profile 'nope'"):
        list(read_statement_file(path, StatementFormat.CSV, "nope"))


def test_read_xlsx_vietnamese_export_with_title_rows_and_numeric_cells(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["NGÂN HÀNG TMCP NGOẠI THƯƠNG VIỆT NAM"])
    sheet.append(["Sổ phụ tài khoản 3511.0.1234567"])
    sheet.append(["Ngày GD", "Ghi nợ", "Ghi có", "Số dư", "Diễn giải"])
    sheet.append([datetime(2026, 11, 25, 9, 30), None, 500000, 500000, "NOP PHI FG7K3M9Q2XAB"])
    sheet.append(["25/11/2026", 20000, None, 480000, "PHI SMS"])
    sheet.append(["25/11/2026", None, 1000.5, 481000.5, "LE"])
    path = tmp_path / "sophu.xlsx"
    workbook.save(path)
    assert detect_format(path) is StatementFormat.XLSX
    items = list(read_statement_file(path, profile_name="vn_bank", account="3511.0.1234567"))
    lines = _lines(items)
    assert [(line.amount, line.direction, line.booking_date) for line in lines] == [
        (500_000, Direction.CREDIT, date(2026, 11, 25)),
        (20_000, Direction.DEBIT, date(2026, 11, 25)),
    ]
    (error,) = [item for item in items if isinstance(item, LineError)]
    assert error.entry_number == 6 and "more decimals" in error.message
