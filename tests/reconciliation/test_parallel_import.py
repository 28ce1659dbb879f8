"""The child processes reading a camt import store exactly what the sequential import stores."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from reconciliation import parallel_import, service
from reconciliation.models import BankStatement, StatementEntry, StatementFile
from reconciliation.synthetic import SyntheticEntry, write_camt053
from tests.conftest import requires_postgres
from tests.reconciliation.helpers import ACCOUNT, DAY, camt_file

pytestmark = pytest.mark.usefixtures("agency")

OTHER = "9999.0.0000001"

# Four statements: ours with every kind of entry and error, one for another account (skipped,
# its bad entry still reported), one without entries, and ours without a period (an entry
# without a booking date has no day to book on there: a per-line error raised by the writer).
MIXED = textwrap.dedent(
    f"""\
    <?xml version="1.0" encoding="UTF-8"?>
    <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
    <Stmt><Id>S1</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id><Ccy>VND</Ccy></Acct>
      <FrToDt><FrDtTm>2026-11-25T00:00:00</FrDtTm><ToDtTm>2026-11-25T23:59:59</ToDtTm></FrToDt>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">1000</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-25</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">350900</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-25</Dt></Dt></Bal>
      <Ntry><Amt Ccy="VND">150000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-25</Dt></BookgDt><AcctSvcrRef>FT1</AcctSvcrRef>
        <NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs>
        <RmtInf><Ustrd>Nộp phí FGAAAAAAAAAA tab\there back\\slash</Ustrd></RmtInf>
        <RltdPties><Dbtr><Nm>Nguyễn Văn A</Nm></Dbtr></RltdPties></TxDtls></NtryDtls>
        <AddtlNtryInf>more</AddtlNtryInf></Ntry>
      <Ntry><Amt Ccy="VND">12.5</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-25</Dt></BookgDt></Ntry>
      <Ntry><Amt Ccy="XXQ">5</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>
      <Ntry><Amt Ccy="VND">5</Amt><CdtDbtInd>SIDEWAYS</CdtDbtInd></Ntry>
      <Ntry><Amt Ccy="VND">150000</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>
        <Sts>BOOK</Sts><BookgDt><DtTm>2026-11-25T23:59:00+07:00</DtTm></BookgDt>
        <AcctSvcrRef>FT1</AcctSvcrRef></Ntry>
      <Ntry><Amt Ccy="VND">350000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <ValDt><Dt>2026-11-24</Dt></ValDt><NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
        <TxDtls><AmtDtls><TxAmt><Amt Ccy="VND">200000</Amt></TxAmt></AmtDtls>
          <RmtInf><Ustrd>FGBBBBBBBBBB</Ustrd></RmtInf></TxDtls>
        <TxDtls><AmtDtls><TxAmt><Amt Ccy="VND">150000</Amt></TxAmt></AmtDtls>
          <RmtInf><Ustrd>FGCCCCCCCCCC</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
      <Ntry><Amt Ccy="VND">100</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>PDNG</Sts></Ntry>
      <Ntry><Amt Ccy="VND">100</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts></Ntry>
    </Stmt>
    <Stmt><Id>S2</Id><Acct><Id><Othr><Id>{OTHER}</Id></Othr></Id></Acct>
      <Ntry><Amt Ccy="VND">1</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>
      <Ntry><Amt Ccy="VND">x</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>
    </Stmt>
    <Stmt><Id>S3</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id></Acct></Stmt>
    <Stmt><Id>S4</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id></Acct>
      <Ntry><Amt Ccy="VND">7</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry>
      <Ntry><Amt Ccy="VND">8</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-25</Dt></BookgDt><NtryDtls><TxDtls>
        <RmtInf><Ustrd>FGDDDDDDDDDD</Ustrd><Ustrd>FGEEEEEEEEEE</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
    </Stmt>
    </BkToCstmrStmt></Document>
    """
)


def _stored(session, report: service.ImportReport) -> dict[str, object]:
    """Everything the import wrote and said, with ids relative to the file's first ones."""
    statements = session.scalars(
        select(BankStatement).where(BankStatement.file_id == report.file_id).order_by(BankStatement.id)
    ).all()
    position_of = {row.id: row.position for row in statements}
    entries = session.scalars(
        select(StatementEntry)
        .where(StatementEntry.statement_id.in_(list(position_of)))
        .order_by(StatementEntry.id)
    ).all()
    first_entry = entries[0].id if entries else 0
    columns = [c.key for c in StatementEntry.__table__.columns if c.key not in ("id", "statement_id")]
    file_row = session.get(StatementFile, report.file_id)
    return {
        "report": {**report.as_json(), "file_id": None},
        "file": (file_row.account, file_row.entries, file_row.total_credit, file_row.total_debit,
                 file_row.error_count, file_row.errors),
        "statements": [
            (row.position, row.statement_id, row.account, row.currency, row.opening_balance,
             row.closing_balance, row.period_start, row.period_end, row.balance_check)
            for row in statements
        ],
        "entries": [
            (entry.id - first_entry, position_of[entry.statement_id], *(getattr(entry, c) for c in columns))
            for entry in entries
        ],
    }  # fmt: skip


def _both_ways(session, path: Path, **kw: object) -> tuple[dict[str, object], dict[str, object]]:
    """Import ``path`` sequentially, roll back, import it through the child; return what each stored."""
    seen = []
    for parallel in (False, True):
        report = service.import_statement(session, path, actor="test", parallel=parallel, **kw)  # type: ignore[arg-type]
        seen.append(_stored(session, report))
        session.rollback()
    return seen[0], seen[1]


@pytest.fixture(params=[(2, 1), (2, 3), (3, 2), (2, parallel_import.BLOCK)], ids=lambda p: f"{p[0]}x{p[1]}")
def shares(request, monkeypatch):
    """Workers and block sizes: tiny blocks put statements and errors in every worker's blocks."""
    monkeypatch.setattr(parallel_import, "WORKERS", request.param[0])
    monkeypatch.setattr(parallel_import, "BLOCK", request.param[1])


@requires_postgres
@pytest.mark.usefixtures("shares")
@pytest.mark.parametrize("account", [ACCOUNT, ""])
def test_children_store_exactly_what_the_sequential_import_stores(session, tmp_path, account):
    path = tmp_path / "mixed.xml"
    path.write_text(MIXED)
    sequential, parallel = _both_ways(session, path, account=account)
    assert parallel == sequential
    report = sequential["report"]
    assert len(sequential["entries"]) == 6  # type: ignore[arg-type]
    assert sequential["statements"][0][-1] == "ok"  # type: ignore[index]  # 1,000 + 500,000 - 150,100
    messages = [error["message"] for error in report["errors"]]  # type: ignore[index]
    assert messages[0].startswith("entry 2: amount 12.5")
    assert any("no booking date" in message for message in messages)
    if account:
        assert any(f"is for account {OTHER}" in message for message in messages)


@requires_postgres
@pytest.mark.usefixtures("shares")
def test_children_reading_a_big_day_with_reversals_and_duplicates_match_sequential(session, tmp_path):
    entries = []
    for i in range(3_000):
        entries.append(SyntheticEntry(str(10_000 + i), f"MBVCB.{i}.FG{i:010d}.PHI", bank_ref=f"FT{i:09d}"))
        if i % 97 == 0:
            entries.append(entries[-1])  # delivered twice
        if i % 211 == 5:
            reversal = SyntheticEntry(str(10_000 + i), "", credit=False, reversal=True, bank_ref=f"FT{i:09d}")
            entries.append(reversal)
        if i % 503 == 9:
            entries.append(SyntheticEntry("1.5", "bad amount"))
    path = camt_file(tmp_path, "big", entries)
    progress: list[int] = []
    sequential, parallel = _both_ways(session, path)
    assert parallel == sequential
    report = service.import_statement(session, path, actor="test", parallel=True, progress=progress.append)
    assert _stored(session, report) == sequential
    assert sum(progress) == path.stat().st_size
    assert len(sequential["entries"]) > 3_000  # type: ignore[arg-type]


@requires_postgres
@pytest.mark.parametrize(
    "raw",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><Document><BkToCstmrStmt><Stmt><Id>&x;</Id>'
        b'<Ntry><Amt Ccy="VND">1</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>',
        b"<Document><BkToCstmrStmt><Stmt><Id>S</Id><Acct><Id><Othr><Id>A</Id></Othr></Id></Acct>"
        b'<Ntry><Amt Ccy="VND">1</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry><Ntry></Stmt>',
    ],
)
@pytest.mark.usefixtures("shares")
def test_children_refuse_a_file_as_the_sequential_import_does(session, tmp_path, raw):
    path = tmp_path / "bad.xml"
    path.write_bytes(raw)
    messages = []
    for parallel in (False, True):
        with pytest.raises(service.ReconciliationError) as refused:
            service.import_statement(session, path, account=ACCOUNT, actor="test", parallel=parallel)
        messages.append(str(refused.value))
        session.rollback()
    assert messages[0] == messages[1]
    assert "refused" in messages[0]


@requires_postgres
def test_a_failure_in_a_child_is_raised_here_and_the_session_recovers(session, tmp_path, monkeypatch):
    def broken(*args: object) -> tuple[object, ...]:
        raise RuntimeError("boom")

    monkeypatch.setattr(parallel_import, "entry_row", broken)  # the forked child inherits it
    path = camt_file(tmp_path, "s", [SyntheticEntry("150000", "FGAAAAAAAAAA")])
    with pytest.raises(RuntimeError, match="boom"):
        service.import_statement(session, path, actor="test", parallel=True)
    session.rollback()
    monkeypatch.undo()
    report = service.import_statement(session, path, actor="test", parallel=True)
    assert report.entries == 1


def test_on_sqlite_or_for_other_formats_the_file_is_read_here(session, tmp_path):
    out = io.StringIO()
    write_camt053(out, ACCOUNT, [SyntheticEntry("150000", "FGAAAAAAAAAA", booked=DAY)])
    path = tmp_path / "s.xml"
    path.write_text(out.getvalue())
    on_postgres = session.get_bind().dialect.name == "postgresql"
    assert service._read_in_child(session, path, service.StatementFormat.CAMT053, None) is False  # small
    assert service._read_in_child(session, path, service.StatementFormat.CAMT053, True) is on_postgres
    assert service._read_in_child(session, path, service.StatementFormat.MT940, True) is False
    assert service._read_in_child(session, path, service.StatementFormat.CAMT053, False) is False
    report = service.import_statement(session, path, actor="test", parallel=True)
    assert report.entries == 1 and report.balance_check == "ok"
    assert parallel_import.PARALLEL_MIN_BYTES > path.stat().st_size
