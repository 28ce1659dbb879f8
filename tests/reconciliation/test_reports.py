"""Report files: formula injection escaped, numbers kept numeric, CSV and XLSX alike."""

from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from reconciliation.reports import Table, escape_cell, write_report


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+84 912", "'+84 912"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("FG7K3M9Q2XAB", "FG7K3M9Q2XAB"),
        ("Nộp phí hồ sơ", "Nộp phí hồ sơ"),
        (-15000, -15000),
        (None, None),
    ],
)
def test_escape_cell_formula_triggers_are_quoted_and_numbers_kept(value, expected):
    assert escape_cell(value) == expected


def test_write_report_csv_and_xlsx_escape_text_and_keep_amounts(tmp_path):
    rows = [
        ("statement_line", 7, "unexpected_in_statement", 500000, "VND", "", "", -2000, "=cmd|' /C calc'!A0")
    ]
    table = Table(
        "items",
        ("kind", "item_id", "category", "amount", "currency", "way", "counterpart", "delta", "note"),
        rows,
    )
    paths = write_report([table], tmp_path, "run-1", ["csv", "xlsx"])
    assert [p.name for p in paths] == ["run-1-items.csv", "run-1.xlsx"]
    with paths[0].open(encoding="utf-8-sig", newline="") as f:
        header, row = list(csv.reader(f))
    assert row[8] == "'=cmd|' /C calc'!A0" and row[3] == "500000"
    sheet = load_workbook(paths[1]).active
    values = [cell.value for cell in sheet[2]]
    assert values[3] == 500000 and values[7] == -2000
    assert values[8].startswith("'=")
