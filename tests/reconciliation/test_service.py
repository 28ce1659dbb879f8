"""Import, daily runs, exceptions and settlements against the real database."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from payments.models import Agency, AuditEntry
from reconciliation import service
from reconciliation.models import (
    PaymentSettlement,
    ReconciliationException,
    ReconciliationRun,
    StatementEntry,
)
from reconciliation.runs import RunSettings, run_day
from reconciliation.synthetic import SyntheticEntry
from tests.reconciliation.helpers import ACCOUNT, DAY, camt_file, paid_payment

pytestmark = pytest.mark.usefixtures("agency")

REF_A, REF_B, REF_C, REF_D, REF_E = (
    "FGAAAAAAAAAA",
    "FGBBBBBBBBBB",
    "FGCCCCCCCCCC",
    "FGDDDDDDDDDD",
    "FGEEEEEEEEEE",
)
SETTINGS = RunSettings()


@pytest.fixture
def the_agency(session):
    return session.scalars(select(Agency)).one()


def _import(session, path, **kw):
    report = service.import_statement(session, path, actor="test", **kw)
    session.commit()
    return report


def _run(session, day=DAY, settings=SETTINGS):
    report = run_day(session, day, ACCOUNT, settings=settings, actor="test")
    session.commit()
    return report


def _open_exceptions(session):
    rows = session.scalars(select(ReconciliationException).where(ReconciliationException.status == "open"))
    return {row.item_key: row.category for row in rows}


def _day_statement(tmp_path, session):
    """A statement with one entry for every category, against four paid payments."""
    return camt_file(
        tmp_path,
        "day",
        [
            SyntheticEntry("150000", f"MBVCB.1.{REF_A}.NOP PHI", bank_ref="FT1"),  # matched
            SyntheticEntry("150000", f"MBVCB.1.{REF_A}.NOP PHI", bank_ref="FT1"),  # the same booking twice
            SyntheticEntry("140000", f"thanh toan {REF_B.lower()}", bank_ref="FT2"),  # 10,000 short
            SyntheticEntry("99000", "CHUYEN TIEN KHONG RO", bank_ref="FT3"),  # belongs to no fee
            SyntheticEntry("150000", f"{REF_C} va {REF_D}", bank_ref="FT4"),  # names two payments
        ],
    )


def test_import_statement_records_file_statement_and_entries_with_found_reference(session, tmp_path):
    report = _import(session, _day_statement(tmp_path, session))
    assert (report.format, report.account, report.entries, report.balance_check) == (
        "camt053",
        ACCOUNT,
        5,
        "ok",
    )
    assert report.total_credit == 689_000 and report.skipped_duplicates == 0
    refs = session.execute(
        select(StatementEntry.reference, StatementEntry.found_references).order_by(StatementEntry.id)
    ).all()
    assert refs[0] == (REF_A, REF_A)
    assert refs[2] == (REF_B, REF_B)  # found in lower case
    assert refs[3] == (None, "")
    assert refs[4] == (None, f"{REF_C},{REF_D}")


def test_import_statement_same_file_twice_imports_nothing_and_says_so(session, tmp_path):
    path = _day_statement(tmp_path, session)
    _import(session, path)
    again = _import(session, path)
    assert again.skipped_duplicates == 5 and again.entries == 0
    assert session.scalar(select(func.count()).select_from(StatementEntry)) == 5


def test_import_statement_bad_entries_are_reported_and_the_rest_imported(session, tmp_path):
    path = camt_file(
        tmp_path,
        "bad",
        [SyntheticEntry("100000"), SyntheticEntry("100.5"), SyntheticEntry("1", currency="ABC")],
        closing=100_000,
    )
    report = _import(session, path)
    assert report.entries == 1
    assert [e.entry_number for e in report.errors] == [2, 3]
    assert report.balance_check == "ok"


def test_import_statement_other_account_is_refused_per_statement(session, tmp_path):
    report = _import(session, _day_statement(tmp_path, session), account="9999.0.0000000")
    assert report.entries == 0 and "not 9999.0.0000000" in report.errors[0].message


def _statement_xml(statement_id: str, account: str, entries: str) -> str:
    return (
        f"<Stmt><Id>{statement_id}</Id><Acct><Id><Othr><Id>{account}</Id></Othr></Id></Acct>"
        '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">0</Amt>'
        "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-25</Dt></Dt></Bal>"
        f"{entries}</Stmt>"
    )


def _entry_xml(amount: int, content: str, *, booked: str = "<Dt>2026-11-25</Dt>") -> str:
    return (
        f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt>{booked}</BookgDt><NtryDtls><TxDtls><RmtInf><Ustrd>{content}</Ustrd></RmtInf>"
        "</TxDtls></NtryDtls></Ntry>"
    )


def test_import_statement_skipped_statement_between_two_keeps_each_entry_with_its_own(session, tmp_path):
    path = tmp_path / "three.xml"
    path.write_text(
        "<Document><BkToCstmrStmt>"
        + _statement_xml("S1", ACCOUNT, _entry_xml(100_000, REF_A) + _entry_xml(200_000, "x"))
        + _statement_xml("S2", "9999.0.0000000", _entry_xml(300_000, REF_B))
        + _statement_xml("S3", ACCOUNT, _entry_xml(400_000, REF_C) + _entry_xml(1, "no day", booked=""))
        + "</BkToCstmrStmt></Document>"
    )
    report = _import(session, path, account=ACCOUNT)
    assert [(s["statement_id"], s["entries"]) for s in report.statements] == [("S1", 2), ("S3", 1)]
    assert (report.entries, report.total_credit) == (3, 700_000)
    assert [(e.entry_number, e.message.split(":")[0]) for e in report.errors] == [
        (0, f"statement 2 is for account 9999.0.0000000, not {ACCOUNT}"),
        (5, "entry 5"),  # no booking date, and its statement no period: reported, not stored
    ]
    rows = session.execute(
        select(StatementEntry.entry_number, StatementEntry.reference, StatementEntry.statement_id).order_by(
            StatementEntry.entry_number
        )
    ).all()
    assert [(number, reference) for number, reference, _ in rows] == [(1, REF_A), (2, None), (4, REF_C)]
    assert rows[0].statement_id == rows[1].statement_id != rows[2].statement_id


def test_import_statement_doctype_file_is_refused(session, tmp_path):
    path = tmp_path / "evil.xml"
    path.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'
    )
    with pytest.raises(service.ReconciliationError, match="DOCTYPE"):
        service.import_statement(session, path, actor="test")


def test_run_day_every_category_and_settles_only_the_match(session, tmp_path, the_agency):
    a = paid_payment(session, the_agency, REF_A)
    paid_payment(session, the_agency, REF_B)
    paid_payment(session, the_agency, REF_C)
    missing = paid_payment(session, the_agency, REF_E)
    session.commit()
    _import(session, _day_statement(tmp_path, session))
    report = _run(session)
    assert report.counts == {
        "payment:matched": 1,
        "statement_line:matched": 1,
        "statement_line:duplicate": 1,
        "payment:amount_mismatch": 1,
        "statement_line:amount_mismatch": 1,
        "statement_line:unexpected_in_statement": 1,
        "statement_line:ambiguous": 1,
        "payment:missing_in_statement": 2,  # REF_C (named only ambiguously) and REF_E
    }
    settlement = session.get(PaymentSettlement, a.id)
    assert (settlement.settled_on, settlement.statement_ref) == (DAY, "FT1")
    assert session.scalar(select(func.count()).select_from(PaymentSettlement)) == 1
    exceptions = _open_exceptions(session)
    assert exceptions[f"payment:{missing.id}"] == "missing_in_statement"
    assert sorted(exceptions.values()).count("amount_mismatch") == 1  # one work item for the mismatched pair
    assert len(exceptions) == 6


def test_run_day_again_gives_the_same_result_and_no_duplicate_exceptions(session, tmp_path, the_agency):
    for ref in (REF_A, REF_B, REF_E):
        paid_payment(session, the_agency, ref)
    session.commit()
    _import(session, _day_statement(tmp_path, session))
    first = _run(session)
    exceptions = _open_exceptions(session)
    second = _run(session)
    assert second.counts == first.counts
    assert _open_exceptions(session) == exceptions
    assert session.scalar(select(func.count()).select_from(ReconciliationException)) == len(exceptions)
    assert session.scalar(select(func.count()).select_from(PaymentSettlement)) == 1
    statuses = session.scalars(select(ReconciliationRun.status).order_by(ReconciliationRun.id)).all()
    assert statuses == ["superseded", "done"]


def test_run_day_without_statement_says_so_and_opens_nothing(session, the_agency):
    paid_payment(session, the_agency, REF_A)
    session.commit()
    report = _run(session)
    assert report.status == "no_statement" and report.counts == {}
    assert _open_exceptions(session) == {}
    assert _completed_events(session) == []


def _completed_events(session):
    from webhooks.models import OutboxEvent

    return session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == "reconciliation.completed")
    ).all()


def test_run_day_announces_reconciliation_completed_to_the_agency(session, tmp_path, the_agency):
    paid_payment(session, the_agency, REF_A)
    paid_payment(session, the_agency, REF_E)
    session.commit()
    _import(session, _day_statement(tmp_path, session))
    report = _run(session)

    [event] = _completed_events(session)
    assert event.agency_id == the_agency.id and event.aggregate_id == str(report.run_id)
    assert event.data["day"] == DAY.isoformat() and event.data["account"] == ACCOUNT
    assert event.data["categories"]["matched"] == 2 and event.data["categories"]["missing_in_statement"] == 1


def test_run_day_late_statement_heals_the_earlier_day(session, tmp_path, the_agency):
    late = paid_payment(session, the_agency, REF_A)
    session.commit()
    _import(session, camt_file(tmp_path, "d1", [SyntheticEntry("5000", "LAI TIEN GUI")]))
    _run(session)
    assert _open_exceptions(session)[f"payment:{late.id}"] == "missing_in_statement"
    next_day = date(2026, 11, 26)
    _import(
        session,
        camt_file(tmp_path, "d2", [SyntheticEntry("150000", f"CK {REF_A}", booked=next_day)], day=next_day),
    )
    healed = _run(session, next_day)
    assert healed.counts["payment:matched"] == 1
    assert f"payment:{late.id}" not in _open_exceptions(session)
    row = session.scalars(
        select(ReconciliationException).where(ReconciliationException.item_key == f"payment:{late.id}")
    ).one()
    assert (row.status, row.resolution) == ("resolved", "auto_matched")
    assert session.get(PaymentSettlement, late.id).settled_on == next_day
    rerun = _run(session)  # the daily job re-runs the earlier day: it stays healed
    assert rerun.counts["payment:matched"] == 1 and "payment:missing_in_statement" not in rerun.counts
    assert f"payment:{late.id}" not in _open_exceptions(session)


def test_run_day_provider_batch_settles_provider_payments(session, tmp_path, the_agency):
    from reconciliation.models import ProviderSettlementLine

    p1 = paid_payment(session, the_agency, "FG1111111111", 100_000, provider_code="vnpay", provider_ref="V1")
    p2 = paid_payment(session, the_agency, "FG2222222222", 200_000, provider_code="vnpay", provider_ref="V2")
    for ref, amount in (("V1", 100_000), ("V2", 200_000)):
        session.add(ProviderSettlementLine(provider_code="vnpay", provider_ref=ref, amount=amount, fee=1_000,
                                           currency="VND", settled_on=DAY, batch_ref="B25"))  # fmt: skip
    session.commit()
    _import(session, camt_file(tmp_path, "b", [SyntheticEntry("298000", "VNPAY QT B25", bank_ref="FT9")]))
    report = _run(session, settings=RunSettings(provider_accounts={"vnpay": ACCOUNT}))
    assert report.counts["payment:matched"] == 2 and report.counts["settlement_line:matched"] == 2
    assert report.counts["settlement_batch:matched"] == 1 and report.counts["statement_line:matched"] == 1
    assert {s.payment_id for s in session.scalars(select(PaymentSettlement))} == {p1.id, p2.id}


def test_resolve_exception_records_resolution_and_actor_in_audit_log(session, tmp_path, the_agency):
    paid_payment(session, the_agency, REF_E)
    session.commit()
    _import(session, _day_statement(tmp_path, session))
    _run(session)
    row = session.scalars(
        select(ReconciliationException)
        .where(ReconciliationException.category == "unexpected_in_statement")
        .order_by(ReconciliationException.id)
    ).first()
    with pytest.raises(service.ReconciliationError, match="needs a reason"):
        service.resolve_exception(session, row.id, action="write_off", note=" ", actor="cli:lan")
    service.resolve_exception(
        session, row.id, action="refund_required", note="tra lai nguoi nop", actor="cli:lan"
    )
    session.commit()
    assert (row.status, row.resolution, row.resolved_by) == ("resolved", "refund_required", "cli:lan")
    audit = session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "reconciliation_exception")
    ).one()
    assert (audit.actor, audit.action) == ("cli:lan", "reconciliation_exception.refund_required")
    with pytest.raises(service.ReconciliationError, match="already resolved"):
        service.resolve_exception(session, row.id, action="write_off", note="x", actor="cli:lan")


def test_cli_import_run_exceptions_resolve_and_report(app, session, tmp_path, the_agency):
    paid_payment(session, the_agency, REF_A)
    session.commit()
    runner = app.test_cli_runner()
    path = _day_statement(tmp_path, session)
    result = runner.invoke(args=["statements", "import", str(path), "--account", ACCOUNT, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    keys = ("format", "account", "entries", "total_credit", "total_debit", "balance_check")
    assert {k: data[k] for k in keys} == {
        "format": "camt053", "account": ACCOUNT, "entries": 5, "total_credit": 689_000, "total_debit": 0,
        "balance_check": "ok",
    }  # fmt: skip
    assert data["skipped_duplicates"] == 0 and data["errors"] == []
    again = runner.invoke(args=["statements", "import", str(path), "--json"])
    assert (
        "already imported" in again.output
        and json.loads(again.output.splitlines()[-1])["skipped_duplicates"] == 5
    )
    run = runner.invoke(args=["reconcile", "run", "--date", "2026-11-25", "--account", ACCOUNT, "--json"])
    summary = json.loads(run.output.strip().splitlines()[-1])
    assert summary["categories"] == {
        "matched": 2, "missing_in_statement": 0, "unexpected_in_statement": 2, "amount_mismatch": 0,
        "duplicate": 1, "ambiguous": 1,
    }  # fmt: skip
    listed = runner.invoke(args=["reconcile", "exceptions", "--open", "--json"])
    exceptions = json.loads(listed.output.strip().splitlines()[-1])["exceptions"]
    assert (
        len(exceptions) == 4
    )  # the duplicate, two unknown transfers (REF_B is not ours here), the ambiguous one
    resolved = runner.invoke(
        args=[
            "reconcile",
            "resolve",
            str(exceptions[0]["id"]),
            "--action",
            "provider_dispute",
            "--note",
            "hoi VCB",
        ]
    )
    assert resolved.exit_code == 0 and "resolved" in resolved.output
    report = runner.invoke(
        args=["reconcile", "report", "--run", str(summary["run_id"]), "--out", str(tmp_path / "r")]
    )
    assert report.exit_code == 0, report.output
    budget = (tmp_path / "r" / f"reconciliation-2026-11-25-{summary['run_id']}-budget.csv").read_text(
        encoding="utf-8-sig"
    )
    assert budget.splitlines()[1:] == [
        "2026-11-25,3511.0.1049123,418,2651,1,10000,VND",
        "2026-11-25,3511.0.1049123,418,2665,1,140000,VND",
    ]
    items = (tmp_path / "r" / f"reconciliation-2026-11-25-{summary['run_id']}-items.csv").read_text(
        encoding="utf-8-sig"
    )
    assert len(items.splitlines()) == 1 + 5  # the matched pair is one row; the four exceptions one each
    assert (tmp_path / "r" / f"reconciliation-2026-11-25-{summary['run_id']}.xlsx").exists()


def test_store_settlement_lines_stores_each_line_once(session):
    from providers.base import SettlementLine

    lines = [
        SettlementLine("vnpay", "V1", "FG1111111111", 100_000, 1_100, "VND", DAY, "B25"),
        SettlementLine("vnpay", "V2", None, 200_000, 2_200, "VND", DAY, "B25"),
    ]
    assert service.store_settlement_lines(session, lines) == (2, 0)
    session.commit()
    assert service.store_settlement_lines(session, lines) == (0, 2)


def test_import_statement_broken_xml_midway_is_refused_and_rolls_back(session, tmp_path):
    path = _day_statement(tmp_path, session)
    path.write_text(path.read_text()[:-60])  # cut inside the last entry
    with pytest.raises(service.ReconciliationError, match="well-formed"):
        service.import_statement(session, path, actor="test")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(StatementEntry)) == 0
    assert _import(session, _day_statement(tmp_path, session)).entries == 5  # the intact file still imports


def test_run_day_transfer_for_a_payment_made_through_a_provider_is_duplicate(session, tmp_path, the_agency):
    from reconciliation.models import ProviderSettlementLine

    paid = paid_payment(
        session, the_agency, "FG1111111111", 100_000, provider_code="vnpay", provider_ref="V1"
    )
    session.add(ProviderSettlementLine(provider_code="vnpay", provider_ref="V1", amount=100_000, fee=0,
                                       currency="VND", settled_on=DAY, batch_ref="B25"))  # fmt: skip
    session.commit()
    entries = [SyntheticEntry("100000", "VNPAY QT B25"), SyntheticEntry("100000", "NOP PHI FG1111111111")]
    _import(session, camt_file(tmp_path, "twice", entries))
    report = _run(session, settings=RunSettings(provider_accounts={"vnpay": ACCOUNT}))
    assert report.counts["payment:matched"] == 1 and report.counts["statement_line:duplicate"] == 1
    assert session.get(PaymentSettlement, paid.id) is not None
    (row,) = session.scalars(select(ReconciliationException)).all()
    assert (row.category, row.note) == ("duplicate", "paid through provider too")


@pytest.mark.parametrize(
    ("moment", "local_day"),
    [
        ("2026-11-25T16:59:00+00:00", date(2026, 11, 25)),
        ("2026-11-25T17:00:00+00:00", date(2026, 11, 26)),  # midnight in Hanoi
        ("2026-11-26T00:30:00+07:00", date(2026, 11, 26)),
        ("2026-11-25T17:00:00", date(2026, 11, 26)),  # naive values are UTC (SQLite)
    ],
)
def test_local_date_any_offset_or_naive_utc_gives_the_vietnamese_day(moment, local_day):
    from datetime import datetime

    from reconciliation.runs import _local_date

    assert _local_date(datetime.fromisoformat(moment)) == local_day
