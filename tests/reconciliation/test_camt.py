"""camt.053/054 import: versions, namespaces, batches, reversals, bad entries, unsafe XML, memory."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from datetime import date

import pytest

from reconciliation.importers import (
    Direction,
    LineError,
    Statement,
    StatementLine,
    StatementRefused,
    summarise,
)
from reconciliation.importers.base import TransactionDetail
from reconciliation.importers.camt import read_camt
from reconciliation.synthetic import SyntheticEntry, write_camt053

ACCOUNT = "3511.0.1234567.00000"


def _camt(entries, **kwargs) -> bytes:
    out = io.StringIO()
    write_camt053(out, ACCOUNT, entries, **kwargs)
    return out.getvalue().encode()


def _read(raw: bytes):
    return list(read_camt(io.BytesIO(raw)))


@pytest.mark.parametrize("version", [2, 4, 8])
@pytest.mark.parametrize("namespace", [True, False])
def test_read_camt_vnd_statement_any_version_and_namespace_reads_all_entries(version, namespace):
    raw = _camt(
        [SyntheticEntry("500000", "FG7K3M9Q2XAB ho so 123"), SyntheticEntry("20000", credit=False)],
        version=version,
        namespace=namespace,
        opening=1_000_000,
    )
    summaries, errors = summarise(_read(raw))
    assert errors == []
    (summary,) = summaries
    assert summary.statement.account == ACCOUNT
    assert summary.statement.currency == "VND"
    assert (summary.entries, summary.total_credit, summary.total_debit) == (2, 500_000, 20_000)
    assert summary.balance_check == "ok"
    assert (summary.statement.opening_balance, summary.statement.closing_balance) == (1_000_000, 1_480_000)


def test_read_camt_balance_mismatch_is_reported_not_fatal():
    raw = _camt([SyntheticEntry("500000")], opening=0, closing=400_000)
    (summary,), errors = summarise(_read(raw))
    assert summary.balance_check == "mismatch" and errors == []
    assert summary.entries == 1


def test_read_camt_without_balances_reports_check_absent():
    (summary,), _ = summarise(_read(_camt([SyntheticEntry("1")], opening=None, closing=None)))
    assert summary.balance_check == "absent"


def test_read_camt_bad_entries_are_errors_with_entry_numbers_and_rest_imports():
    raw = _camt(
        [
            SyntheticEntry("100000"),
            SyntheticEntry("1500.50"),  # fractional VND
            SyntheticEntry("200000", currency="XQQ"),  # unknown currency
            SyntheticEntry("abc"),  # malformed
            SyntheticEntry("300000"),
        ],
        closing=600_000,
    )
    items = _read(raw)
    errors = [item for item in items if isinstance(item, LineError)]
    lines = [item for item in items if isinstance(item, StatementLine)]
    assert [line.entry_number for line in lines] == [1, 5]
    assert [error.entry_number for error in errors] == [2, 3, 4]
    assert "more decimals than VND allows" in errors[0].message
    assert "unknown currency code 'XQQ'" in errors[1].message
    assert "malformed amount 'abc'" in errors[2].message


def test_read_camt_integral_vnd_with_zero_decimals_is_accepted():
    (line,) = [i for i in _read(_camt([SyntheticEntry("150000.00")])) if isinstance(i, StatementLine)]
    assert line.amount == 150_000


def test_read_camt_other_currency_keeps_minor_units():
    (line,) = [
        i for i in _read(_camt([SyntheticEntry("12.34", currency="EUR")])) if isinstance(i, StatementLine)
    ]
    assert (line.amount, line.currency) == (1234, "EUR")


def test_read_camt_batch_entry_keeps_booked_amount_and_each_transaction():
    raw = _camt(
        [SyntheticEntry("300000", batch=(("100000", "FG1111111111"), ("200000", "FG2222222222")))], version=4
    )
    (line,) = [i for i in _read(raw) if isinstance(i, StatementLine)]
    assert line.amount == 300_000
    assert line.batch_count == 2
    assert [(d.amount, d.remittance) for d in line.details] == [
        (100_000, "FG1111111111"),
        (200_000, "FG2222222222"),
    ]


def test_read_camt_v02_batch_reads_transaction_amounts_from_amtdtls():
    raw = _camt([SyntheticEntry("300000", batch=(("100000", "a"), ("200000", "b")))], version=2)
    (line,) = [i for i in _read(raw) if isinstance(i, StatementLine)]
    assert [d.amount for d in line.details] == [100_000, 200_000]


def test_read_camt_reversal_entry_is_flagged_and_debits():
    raw = _camt(
        [
            SyntheticEntry("50000", "x", bank_ref="R1"),
            SyntheticEntry("50000", "x", credit=False, reversal=True),
        ]
    )
    lines = [i for i in _read(raw) if isinstance(i, StatementLine)]
    assert [(line.direction, line.reversal) for line in lines] == [
        (Direction.CREDIT, False),
        (Direction.DEBIT, True),
    ]


def test_read_camt_several_statements_and_datetime_booking_dates():
    raw = textwrap.dedent(
        f"""\
        <Document><BkToCstmrStmt>
        <Stmt><Id>A</Id><Acct><Id><IBAN>VN00TEST</IBAN></Id></Acct>
          <Ntry><Amt Ccy="VND">10</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
            <BookgDt><DtTm>2026-11-25T23:59:00+07:00</DtTm></BookgDt></Ntry></Stmt>
        <Stmt><Id>B</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id></Acct></Stmt>
        <Stmt><Id>C</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id></Acct>
          <Ntry><Amt Ccy="VND">20</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>
            <BookgDt><Dt>2026-11-26</Dt></BookgDt></Ntry></Stmt>
        </BkToCstmrStmt></Document>"""
    ).encode()
    items = _read(raw)
    headers = [i for i in items if isinstance(i, Statement)]
    lines = [i for i in items if isinstance(i, StatementLine)]
    assert [(h.index, h.statement_id, h.account) for h in headers] == [
        (0, "A", "VN00TEST"),
        (1, "B", ACCOUNT),
        (2, "C", ACCOUNT),
    ]
    assert [(line.statement_index, line.booking_date, line.status) for line in lines] == [
        (0, date(2026, 11, 25), "BOOK"),
        (2, date(2026, 11, 26), "PDNG"),
    ]
    summaries, _ = summarise(items)
    assert summaries[2].total_debit == 0  # pending entries are not in the booked balance


def test_read_camt054_notification_reads_entries():
    raw = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>'
        b"<Ntfctn><Id>N1</Id><Acct><Id><Othr><Id>ACC</Id></Othr></Id></Acct>"
        b'<Ntry><Amt Ccy="VND">70000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        b"<BookgDt><Dt>2026-11-25</Dt></BookgDt></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    )
    (summary,), errors = summarise(_read(raw))
    assert (summary.statement.account, summary.entries, summary.total_credit, summary.balance_check) == (
        "ACC",
        1,
        70_000,
        "absent",
    )


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document><BkToCstmrStmt><Stmt><Id>&xxe;</Id><Ntry><Amt Ccy="VND">1</Amt>
<CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document><BkToCstmrStmt><Stmt><Id>&lol3;</Id><Ntry><Amt Ccy="VND">1</Amt>
<CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>"""


@pytest.mark.parametrize("raw", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_read_camt_document_with_doctype_is_refused(raw):
    with pytest.raises(StatementRefused, match="DOCTYPE"):
        _read(raw)


def test_read_camt_not_well_formed_is_refused():
    with pytest.raises(StatementRefused, match="well-formed"):
        _read(b"<Document><Stmt><Ntry></Stmt>")


MEMORY_PROBE = """
import io, resource, sys
from reconciliation.importers.camt import read_camt
from reconciliation.synthetic import SyntheticEntry, write_camt053
n = int(sys.argv[1])
path = sys.argv[2]
with open(path, "w") as out:
    entries = (SyntheticEntry(str(1000 + i), f"FG{i:010d} thanh toan ho so") for i in range(n))
    write_camt053(out, "ACC", entries, opening=0, closing=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = 0
with open(path, "rb") as stream:
    for item in read_camt(stream):
        count += 1
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(count, after - before)
"""


@pytest.mark.slow
def test_read_camt_memory_does_not_grow_with_file_size(tmp_path):
    growth = {}
    for n in (2_000, 100_000):
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(n), str(tmp_path / f"{n}.xml")],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": "."},
        )
        count, grown_kib = map(int, done.stdout.split())
        assert count == n + 1  # the header, then every entry
        growth[n] = grown_kib
    # 50x the entries (about 30 MB of XML) may not cost more than a few MB of extra peak memory.
    assert growth[100_000] < growth[2_000] + 8 * 1024, growth


def _entry(details: str, extra: str = "") -> str:
    return (
        '<Ntry><Amt Ccy="VND">300000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2026-11-25</Dt></BookgDt><AddtlNtryInf>{extra}</AddtlNtryInf>"
        f"<NtryDtls>{details}</NtryDtls></Ntry>"
    )


def test_read_camt_transfer_content_joins_every_non_empty_part_in_order():
    one = (
        "<TxDtls><Refs><EndToEndId>E2E-9</EndToEndId></Refs>"
        "<RmtInf><Ustrd>NOP PHI</Ustrd><Ustrd> </Ustrd><Strd><CdtrRefInf><Ref>FG7K3M9Q2XAB</Ref>"
        "</CdtrRefInf></Strd></RmtInf><AddtlTxInf>HO SO 12</AddtlTxInf></TxDtls>"
    )
    two = (
        "<TxDtls><RmtInf><Ustrd>A</Ustrd></RmtInf></TxDtls><TxDtls><RmtInf><Ustrd>B</Ustrd></RmtInf></TxDtls>"
    )
    raw = (
        "<Document><BkToCstmrStmt><Stmt><Id>S</Id><Acct><Id><Othr><Id>ACC</Id></Othr></Id></Acct>"
        + _entry(one, extra="MBVCB")
        + _entry(one)
        + _entry("", extra="ONLY EXTRA")
        + _entry(two, extra="LO")
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()
    lines = [i for i in _read(raw) if isinstance(i, StatementLine)]
    assert [(line.remittance, line.end_to_end_id, line.batch_count) for line in lines] == [
        ("NOP PHI | FG7K3M9Q2XAB | HO SO 12 | MBVCB", "E2E-9", None),
        ("NOP PHI | FG7K3M9Q2XAB | HO SO 12", "E2E-9", None),
        ("ONLY EXTRA", "", None),
        ("A | B | LO", "", 2),  # two transfers in one entry: a batch even without Btch
    ]
    assert lines[0].details == (TransactionDetail(None, "E2E-9", "NOP PHI | FG7K3M9Q2XAB | HO SO 12", ""),)
