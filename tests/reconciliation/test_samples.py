"""The shared real sample statements parse with exact entry counts, amounts and balances."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from reconciliation.importers import (
    Direction,
    StatementFormat,
    StatementLine,
    detect_format,
    read_statement_file,
    summarise,
)

SAMPLES = Path("/work/shared/samples/statements")

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples not mounted")


def _lines(name: str) -> list[StatementLine]:
    return [item for item in read_statement_file(SAMPLES / name) if isinstance(item, StatementLine)]


@pytest.mark.parametrize(
    ("name", "fmt", "statements"),
    [
        # (account, entries, total credit, total debit, balance check), amounts in minor units
        (
            "bankstatementparser_camt.053.001.02.xml",
            StatementFormat.CAMT053,
            [("50000000054910000003", 3, 13_567_850, 20_000_000, "ok")],
        ),
        (
            "genkgo-camt_camt053.v2.minimal.xml",
            StatementFormat.CAMT053,
            [("NL26VAYB8060476890", 1, 885, 0, "mismatch")],
        ),
        (
            "bankstatementparser_sample.mt940",
            StatementFormat.MT940,
            [("NL91ABNA0417164300", 2, 125_050, 8_025, "ok")],
        ),
        ("wolph-mt940_citi_mt940.txt", StatementFormat.MT940, [("123456789", 5, 0, 114_275, "ok")]),
        (
            "wolph-mt940_cmxl_mt940.sta",
            StatementFormat.MT940,
            [
                ("45050050/76198810", 11, 4_939_674, 4_930_944, "ok"),
                ("10020030/1234567", 2, 300_000, 80_000, "ok"),
                ("BPHKPLPK/320000546101", 3, 2_004_000, 1_000_000, "ok"),
            ],
        ),
        (
            "bankstatementparser_sample_statement.csv",
            StatementFormat.CSV,
            [("DE123456789", 2, 250_000, 120_000, "ok")],
        ),
    ],
)
def test_sample_statement_parses_with_exact_counts_and_totals(name, fmt, statements):
    path = SAMPLES / name
    assert detect_format(path) is fmt
    summaries, errors = summarise(read_statement_file(path))
    assert errors == []
    got = [
        (s.statement.account, s.entries, s.total_credit, s.total_debit, s.balance_check) for s in summaries
    ]
    assert got == statements


def test_sample_camt_batch_entry_keeps_booked_amount_and_transaction_count():
    lines = _lines("bankstatementparser_camt.053.001.02.xml")
    batch = lines[1]
    assert (batch.amount, batch.direction, batch.batch_count) == (20_000_000, Direction.DEBIT, 20)
    assert batch.bank_ref == "AAAASESS-FP-ACCR-01"
    # BookgDt/DtTm is read as the bank's own date.
    assert lines[0].booking_date == date(2010, 10, 18)
    assert lines[0].end_to_end_id == "MUELL/FINP/RA12345"
    assert lines[0].counterparty == "MUELLER"


def test_sample_camt_fx_counter_value_does_not_overwrite_entry_amount():
    fx = _lines("bankstatementparser_camt.053.001.02.xml")[2]
    assert (fx.amount, fx.currency) == (3_000_000, "SEK")
    assert fx.details[0].amount is None


def test_sample_genkgo_reads_structured_reference_and_balances():
    items = list(read_statement_file(SAMPLES / "genkgo-camt_camt053.v2.minimal.xml"))
    header, entry = items[0], items[1]
    assert header.opening_balance == 1815 and header.closing_balance == -2700  # CLBD is DBIT
    assert isinstance(entry, StatementLine)
    assert entry.remittance == "4654654654654654"
    assert (entry.booking_date, entry.value_date) == (date(2014, 12, 31), date(2015, 1, 2))
    assert entry.reversal is False


def test_sample_citi_mt940_reads_blank_entry_dates_and_supplementary_details():
    lines = _lines("wolph-mt940_citi_mt940.txt")
    assert [line.amount for line in lines] == [21_239, 36_928, 0, 0, 56_108]
    assert lines[0].booking_date == date(2024, 3, 12)
    assert "/ABC/DEF/MISCELLANEOUS" in lines[0].remittance


def test_sample_cmxl_mt940_numbers_entries_across_statements():
    lines = _lines("wolph-mt940_cmxl_mt940.sta")
    assert [line.entry_number for line in lines] == list(range(1, 17))
    assert [line.statement_index for line in lines] == [0] * 11 + [1] * 2 + [2] * 3
    assert lines[0].amount == 680_000 and lines[0].currency == "DEM"


@pytest.mark.parametrize("name", ["bankstatementparser_camt.053.001.02.xml", "wolph-mt940_citi_mt940.txt"])
def test_read_statement_file_reports_every_byte_read_for_a_progress_bar(name):
    seen: list[int] = []
    list(read_statement_file(SAMPLES / name, on_bytes=seen.append))
    assert sum(seen) == (SAMPLES / name).stat().st_size
