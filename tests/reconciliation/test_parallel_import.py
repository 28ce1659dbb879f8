"""The child processes reading a camt import store exactly what the sequential import stores."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from reconciliation import parallel_import, service
from reconciliation.importers import Share, Statement, StatementLine, camt_split
from reconciliation.importers.camt import read_camt_share
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


@pytest.fixture
def read_here(monkeypatch) -> list[Path]:
    """The files read sequentially in this process (the children's import fell back, or was not tried)."""
    calls: list[Path] = []
    original = service._stream_here

    def spy(path: Path, *args: object) -> None:
        calls.append(path)
        original(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "_stream_here", spy)
    return calls


def _both_ways(
    session, path: Path, read_here: list[Path], *, falls_back: bool | None = False, **kw: object
) -> tuple[dict[str, object], dict[str, object]]:
    """Import ``path`` sequentially, roll back, import it through the children; return what each stored."""
    seen = []
    for parallel in (False, True):
        report = service.import_statement(session, path, actor="test", parallel=parallel, **kw)  # type: ignore[arg-type]
        seen.append(_stored(session, report))
        session.rollback()
    if falls_back is not None:  # None: either may do
        assert len(read_here) == (2 if falls_back else 1)  # the children's import did (not) finish
    return seen[0], seen[1]


@pytest.fixture(
    params=[(2, 1, 97), (2, 3, 1 << 20), (3, 2, 400), (2, parallel_import.BLOCK, camt_split.CHUNK)],
    ids=lambda p: f"{p[0]}x{p[1]}-chunk{p[2]}",
)
def shares(request, monkeypatch):
    """Workers, block sizes and chunks: tiny ones put statements, errors and chunk ends everywhere."""
    monkeypatch.setattr(parallel_import, "WORKERS", request.param[0])
    monkeypatch.setattr(parallel_import, "BLOCK", request.param[1])
    monkeypatch.setattr(camt_split, "CHUNK", request.param[2])


@requires_postgres
@pytest.mark.usefixtures("shares")
@pytest.mark.parametrize("account", [ACCOUNT, ""])
def test_children_store_exactly_what_the_sequential_import_stores(session, tmp_path, read_here, account):
    path = tmp_path / "mixed.xml"
    path.write_text(MIXED)
    sequential, parallel = _both_ways(session, path, read_here, account=account)
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
def test_children_reading_a_big_day_with_reversals_and_duplicates_match_sequential(
    session, tmp_path, read_here
):
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
    sequential, parallel = _both_ways(session, path, read_here)
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


INNER = f"<Stmt><Id>IN</Id><Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id></Acct></Stmt>"


def _entries_xml(count: int, first: int = 0) -> str:
    return "".join(
        f'<Ntry><Amt Ccy="VND">{1000 + i}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2026-11-25</Dt></BookgDt><AcctSvcrRef>FT{i}</AcctSvcrRef><NtryDtls><TxDtls>"
        f"<RmtInf><Ustrd>FG{i:010d}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
        for i in range(first, first + count)
    )


def _statement_xml(body: str, prefix: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}Document {ns}><{p}BkToCstmrStmt><{p}Stmt>'
        f"<{p}Id>S</{p}Id><{p}Acct><{p}Id><{p}Othr><{p}Id>{ACCOUNT}</{p}Id></{p}Othr></{p}Id></{p}Acct>\n"
        f"{body}</{p}Stmt></{p}BkToCstmrStmt></{p}Document>\n"
    )


@requires_postgres
@pytest.mark.usefixtures("shares")
@pytest.mark.parametrize(
    "body",
    [
        # a comment holding an entry: the cut counts it, the parse does not
        _entries_xml(5) + "<!-- <Ntry><Amt>1</Amt></Ntry> -->" + _entries_xml(5, 5),
        # an entry with an attribute: the parse counts it, the cut does not
        _entries_xml(4) + _entries_xml(1, 4).replace("<Ntry>", '<Ntry a="1">') + _entries_xml(5, 5),
        # an empty entry written short
        _entries_xml(3) + "<Ntry/>" + _entries_xml(6, 3),
        # a statement tag inside an entry
        _entries_xml(3) + _entries_xml(1, 3).replace("</Ustrd>", f"</Ustrd>{INNER}") + _entries_xml(6, 4),
    ],
    ids=["comment", "attribute", "short-empty", "stmt-inside"],
)
def test_a_file_the_cut_cannot_see_plainly_is_read_here_alike(session, tmp_path, read_here, body):
    path = tmp_path / "odd.xml"
    path.write_text(_statement_xml(body))
    # The cut may or may not notice (a block holding the oddity whole is read as it is): either way
    # what is stored is the sequential import's.
    sequential, parallel = _both_ways(session, path, read_here, falls_back=None, account=ACCOUNT)
    assert parallel == sequential


@requires_postgres
@pytest.mark.usefixtures("shares")
def test_a_prefixed_file_is_read_here(session, tmp_path, read_here):
    path = tmp_path / "prefixed.xml"
    path.write_text(_statement_xml(_entries_xml(7).replace("<", "<c:").replace("<c:/", "</c:"), prefix="c"))
    sequential, parallel = _both_ways(session, path, read_here, falls_back=True)
    assert parallel == sequential
    assert len(sequential["entries"]) == 7  # type: ignore[arg-type]


@pytest.mark.parametrize("workers,block", [(2, 1), (2, 2), (3, 2)])
def test_hollow_stream_empties_exactly_the_other_readers_entries(workers, block, monkeypatch):
    monkeypatch.setattr(camt_split, "CHUNK", 50)
    raw = _statement_xml(_entries_xml(7)).encode()
    for me in range(workers):
        share = Share(me, workers, block)
        stream = camt_split.HollowStream(io.BytesIO(raw), share)
        items = list(read_camt_share(stream, share))
        numbers = [i if isinstance(i, int) else i.entry_number for i in items if not isinstance(i, Statement)]
        assert numbers == list(range(1, 8))
        mine = [i.entry_number for i in items if isinstance(i, StatementLine)]
        assert mine == [n for n in range(1, 8) if (n - 1) // block % workers == me]
        assert stream.started == 7


def test_hollow_stream_passes_a_file_without_entries_unchanged():
    raw = _statement_xml("").encode()
    stream = camt_split.HollowStream(io.BytesIO(raw), Share(1, 2, 1))
    assert b"".join(iter(lambda: stream.read(), b"")) == raw


@requires_postgres
def test_a_failure_in_a_child_falls_back_to_the_sequential_import(session, tmp_path, monkeypatch, read_here):
    def broken(*args: object) -> tuple[object, ...]:
        raise RuntimeError("boom")

    monkeypatch.setattr(parallel_import, "entry_row", broken)  # the forked children inherit it
    path = camt_file(tmp_path, "s", [SyntheticEntry("150000", "FGAAAAAAAAAA")])
    report = service.import_statement(session, path, actor="test", parallel=True)
    assert report.entries == 1 and not report.errors
    assert read_here == [path]  # the children's import was rolled back and the file read here


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


def test_entries_with_a_statement_between_them_are_emptied_one_by_one():
    entries = _entries_xml(2)
    segment = (
        b"<Bal/>\n" + entries.encode() + b"</Stmt><Stmt><Id>T</Id>\n" + _entries_xml(1, 2).encode() + b"\n"
    )
    between = camt_split.ENTRY_CLOSE + b"\n" + camt_split.ENTRY_OPEN
    emptied = camt_split._emptied(segment, 3, between)
    one = camt_split.HOLLOW_ONE
    assert emptied == b"<Bal/>\n" + one + b"\n" + one + b"\n</Stmt><Stmt><Id>T</Id>\n" + one + b"\n\n"
    # adjacent entries: one element stands for all of them
    assert camt_split._emptied(entries.encode(), 2, between) == b'<Ntry feegate-cut="2"/>\n'
