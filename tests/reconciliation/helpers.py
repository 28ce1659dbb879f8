"""Arrange paid payments and statement files for reconciliation tests."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from payments.ids import new_public_id
from payments.models import Agency, Invoice, InvoiceItem, Payment
from payments.state import InvoiceStatus, PaymentStatus
from reconciliation.synthetic import SyntheticEntry, write_camt053

ACCOUNT = "3511.0.1049123"  # the treasury account tests.factories gives agencies
DAY = date(2026, 11, 25)


def paid_payment(
    session: Session,
    agency: Agency,
    reference: str,
    amount: int = 150_000,
    *,
    provider_code: str = "sandbox",
    provider_ref: str | None = None,
    paid_on: date = DAY,
) -> Payment:
    """Add an invoice with two budget lines and its succeeded payment, paid at 10:00 Hanoi time."""
    paid_at = datetime(paid_on.year, paid_on.month, paid_on.day, 3, 0, tzinfo=UTC)
    invoice = Invoice(
        public_id=new_public_id("inv"),
        agency_id=agency.id,
        reference=f"HS-{reference}",
        description="Lệ phí",
        total=amount,
        currency="VND",
        return_url="https://dichvucong.example.gov.vn/ket-qua",
        status=InvoiceStatus.PAID,
        expires_at=paid_at + timedelta(days=1),
        paid_at=paid_at,
        items=[
            InvoiceItem(position=1, fee_code="LP", description="Lệ phí", amount=amount - 10_000,
                        chapter_code="418", sub_item_code="2665"),
            InvoiceItem(position=2, fee_code="PHI", description="Phí", amount=10_000,
                        chapter_code="418", sub_item_code="2651"),
        ],
    )  # fmt: skip
    session.add(invoice)
    session.flush()
    payment = Payment(
        public_id=new_public_id("pay"),
        reference=reference,
        invoice_id=invoice.id,
        agency_id=agency.id,
        provider_code=provider_code,
        provider_ref=provider_ref,
        amount=amount,
        currency="VND",
        status=PaymentStatus.SUCCEEDED,
        finished_at=paid_at,
    )
    session.add(payment)
    session.flush()
    return payment


def camt_file(
    tmp_path: Path, name: str, entries: list[SyntheticEntry], day: date = DAY, **kw: object
) -> Path:
    """Write a VND camt.053 for the test account and return its path."""
    out = io.StringIO()
    write_camt053(out, ACCOUNT, entries, day=day, statement_id=name, **kw)  # type: ignore[arg-type]
    path = tmp_path / f"{name}.xml"
    path.write_text(out.getvalue())
    return path
