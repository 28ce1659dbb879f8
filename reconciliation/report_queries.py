"""Read a run's rows for the report files (streamed: a run can hold millions of items)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.models import Agency, InvoiceItem, Payment
from reconciliation.models import PaymentSettlement, ReconciliationItem, ReconciliationRun, StatementEntry
from reconciliation.reports import BUDGET_HEADER, ITEMS_HEADER, SUMMARY_HEADER, Table


def summary_rows(run: ReconciliationRun) -> list[tuple[Any, ...]]:
    """Count and amount per kind and category, from the run's recorded counts and items."""
    return [(*key.split(":", 1), count) for key, count in sorted(run.counts.items())]


def item_rows(session: Session, run_id: int, account: str = "") -> Iterator[tuple[Any, ...]]:
    """Yield every item of a run with the entry's date, reference and text, or the payment's reference."""
    stmt = (
        select(
            ReconciliationItem,
            StatementEntry.booking_date,
            StatementEntry.bank_ref,
            StatementEntry.remittance,
            Payment.reference,
        )
        .outerjoin(StatementEntry, StatementEntry.id == ReconciliationItem.entry_id)
        .outerjoin(Payment, Payment.id == ReconciliationItem.payment_id)
        .where(ReconciliationItem.run_id == run_id)
        .order_by(ReconciliationItem.id)
        .execution_options(yield_per=10_000)
    )
    for item, booked, bank_ref, text, reference in session.execute(stmt):
        kind = (
            "payment"
            if item.payment_id is not None
            else "settlement_batch"
            if item.batch_key
            else "settlement_line"
            if item.settlement_line_id is not None and item.entry_id is None
            else "statement_line"
        )
        item_id = item.payment_id or item.batch_key or item.settlement_line_id or item.entry_id
        counterpart = item.entry_id if item.payment_id is not None or item.batch_key else ""
        yield (
            kind,
            item_id,
            item.category,
            item.amount,
            item.currency,
            item.way,
            counterpart or item.settlement_line_id or "",
            item.delta,
            item.note,
            account,
            booked.isoformat() if booked else "",
            reference or bank_ref or "",
            text or "",
        )


def settlement_rows(session: Session, run_id: int, account: str = "") -> Iterator[tuple[Any, ...]]:
    """Yield the pairs this run matched and settled (recorded as settlements, not as items)."""
    stmt = (
        select(
            PaymentSettlement, Payment.reference, Payment.amount, Payment.currency, StatementEntry.remittance
        )
        .join(Payment, Payment.id == PaymentSettlement.payment_id)
        .join(StatementEntry, StatementEntry.id == PaymentSettlement.entry_id)
        .where(PaymentSettlement.run_id == run_id)
        .order_by(PaymentSettlement.payment_id)
        .execution_options(yield_per=10_000)
    )
    for settlement, reference, amount, currency, text in session.execute(stmt):
        yield (
            "payment",
            settlement.payment_id,
            "matched",
            amount,
            currency,
            "reference",
            settlement.entry_id,
            0,
            f"settled {settlement.settled_on} by {settlement.statement_ref}",
            account,
            settlement.settled_on.isoformat(),
            reference,
            text,
        )


def budget_rows(session: Session, run: ReconciliationRun) -> list[tuple[Any, ...]]:
    """Daily totals of payments settled by this run, per treasury account x chapter x sub-item."""
    stmt = (
        select(
            PaymentSettlement.settled_on,
            Agency.treasury_account,
            InvoiceItem.chapter_code,
            InvoiceItem.sub_item_code,
            func.count(func.distinct(Payment.id)),
            func.sum(InvoiceItem.amount),
            Payment.currency,
        )
        .join(Payment, Payment.id == PaymentSettlement.payment_id)
        .join(Agency, Agency.id == Payment.agency_id)
        .join(InvoiceItem, InvoiceItem.invoice_id == Payment.invoice_id)
        .where(PaymentSettlement.settled_on == run.day, Agency.treasury_account == run.account)
        .group_by(
            PaymentSettlement.settled_on,
            Agency.treasury_account,
            InvoiceItem.chapter_code,
            InvoiceItem.sub_item_code,
            Payment.currency,
        )
        .order_by(InvoiceItem.chapter_code, InvoiceItem.sub_item_code)
    )
    return [
        (day.isoformat(), account, chapter, sub_item, count, int(total), currency)
        for day, account, chapter, sub_item, count, total, currency in session.execute(stmt)
    ]


def run_tables(session: Session, run: ReconciliationRun) -> list[Table]:
    """Return the three report tables of a run."""
    return [
        Table("summary", SUMMARY_HEADER, summary_rows(run)),
        Table(
            "items",
            ITEMS_HEADER,
            chain(settlement_rows(session, run.id, run.account), item_rows(session, run.id, run.account)),
        ),
        Table("budget", BUDGET_HEADER, budget_rows(session, run)),
    ]
