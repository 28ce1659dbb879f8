"""``service.invoice_data`` is the document ``InvoiceSchema`` dumps (and documents), field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from payments import repository, service
from payments.db import get_session
from payments.schemas import InvoiceSchema
from payments.state import InvoiceStatus
from tests.factories import create_invoice

ICT = timezone(timedelta(hours=7))


def _invoice(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "public_id": "inv_0123456789abcdefghjkmnpqrs",
        "reference": "H40.99-200212-0001",
        "description": "Cấp phiếu lý lịch tư pháp",
        "status": InvoiceStatus.OPEN,
        "total": 1_250_000,
        "currency": "VND",
        "items": [
            SimpleNamespace(
                fee_code="LLTP",
                description="Lệ phí",
                amount=1_200_000,
                chapter_code="418",
                sub_item_code="2665",
            ),
            SimpleNamespace(
                fee_code="PHI", description="Phí", amount=50_000, chapter_code="418", sub_item_code="2651"
            ),
        ],
        "payer_name": "Nguyễn Văn A",
        "payer_id_number": None,
        "payer_phone": "0901234567",
        "payer_email": None,
        "return_url": "https://dichvucong.example.gov.vn/ket-qua",
        "language": "vi",
        "metadata_": {"procedure": "1.000.123"},
        "expires_at": datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        "created_at": datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC),
        "paid_at": None,
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"status": InvoiceStatus.PAID, "paid_at": datetime(2026, 11, 26, 11, 0, tzinfo=UTC)},
        {"status": "cancelled", "items": [], "metadata_": {}},
        {"payer_name": None, "payer_phone": None, "language": "en"},
        {"payer_id_number": "012345678901", "payer_email": "a@example.vn"},
        {"expires_at": datetime(2026, 11, 27, 17, 0, tzinfo=ICT)},  # as the client sent it
    ],
)
def test_invoice_data_is_the_schema_dump(app, overrides):
    invoice = _invoice(**overrides)
    with app.test_request_context():
        assert service.invoice_data(invoice) == InvoiceSchema().dump(invoice)


def test_invoice_data_of_a_stored_invoice_is_the_schema_dump(app, client, agency):
    created = create_invoice(client, agency)
    with app.app_context():
        session = get_session()
        stored = repository.get_invoice(
            session, repository.get_agency_by_code(session, agency.code).id, created["id"]
        )
        assert stored is not None
        assert service.invoice_data(stored) == InvoiceSchema().dump(stored) == created
        assert list(service.invoice_data(stored)) == list(InvoiceSchema().dump(stored))  # same key order
