"""The demo agency that ``make run`` seeds, so a fresh clone has something to pay."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy.orm import Session

from . import agencies, repository, service
from .checkout_links import payment_url
from .db import utcnow
from .schemas import CreateInvoice, ItemInput

DEMO_CODE = "DEMO"


def seed(session: Session, *, base_url: str | None, actor: str) -> tuple[str, str]:
    """Ensure the demo agency exists; issue a key and an invoice; return (key, payment link)."""
    base = base_url or current_app.config["BASE_URL"]
    if repository.get_agency_by_code(session, DEMO_CODE) is None:
        agencies.create_agency(
            session,
            code=DEMO_CODE,
            name="Sở Tư pháp (demo)",
            treasury_account="3511.0.1234567",
            treasury_code="0011",
            return_origins=[base],
            providers=["sandbox"],
            actor=actor,
        )
    key = agencies.create_api_key(
        session, DEMO_CODE, mode=current_app.config["API_KEY_MODE"], label="demo", actor=actor
    )
    agency = repository.get_agency_by_code(session, DEMO_CODE)
    assert agency is not None
    invoice = service.create_invoice(
        session,
        agency,
        CreateInvoice(
            reference="H40.99-200212-0001",
            description="Cấp phiếu lý lịch tư pháp",
            items=(
                ItemInput("LLTP-LEPHI", "Lệ phí cấp phiếu lý lịch tư pháp", 200_000, "418", "2665"),
                ItemInput("LLTP-PHI", "Phí cung cấp thông tin", 50_000, "418", "2651"),
            ),
            return_url=f"{base}/",
            language="vi",
            payer={"name": "Nguyễn Văn A"},
            metadata={"demo": "true"},
            expires_at=utcnow() + timedelta(days=7),
        ),
        actor=actor,
    )
    session.commit()
    return key.plaintext, payment_url(invoice.public_id)
