"""Creating an invoice writes the invoice, its items, one audit entry and one event, together."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from payments import service
from payments.models import AuditEntry, Invoice, InvoiceItem
from payments.schemas import InvoiceCreateSchema
from tests.factories import create_invoice, invoice_body
from webhooks.models import OutboxEvent


def test_create_invoice_api_event_data_equals_response_body(client, agency, session):
    created = create_invoice(client, agency)

    events = session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == created["id"])).all()
    audits = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == created["id"])).all()
    assert [e.event_type for e in events] == ["invoice.created"]
    assert [a.action for a in audits] == ["invoice.created"]
    # The response and the event are one dump: a portal sees the same payment_url in both.
    assert events[0].data == created
    assert created["status"] == "open" and len(created["items"]) == 2


def test_create_invoice_service_returns_flushed_invoice_with_its_rows(app, agency, session):
    from payments import repository

    command = InvoiceCreateSchema().load(invoice_body(return_url=f"{agency.origin}/ket-qua"))
    agency_row = repository.get_agency_by_code(session, agency.code)
    audits_before = session.scalar(select(func.count()).select_from(AuditEntry))

    created = service.create_invoice_with_data(session, agency_row, command, actor="test")

    # Flushed inside the service: the caller can use the primary key before committing.
    assert created.invoice.id is not None
    assert created.data == service.invoice_data(created.invoice)
    assert session.scalar(select(func.count()).select_from(InvoiceItem)) == 2
    session.rollback()
    # Nothing was committed by the service: the caller's rollback removes every row.
    for model in (Invoice, InvoiceItem, OutboxEvent):
        assert session.scalar(select(func.count()).select_from(model)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits_before


def test_create_invoice_api_rejected_body_writes_nothing(client, agency, session):
    body = invoice_body(return_url=f"{agency.origin}/ket-qua", items=[])

    headers = {**agency.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/invoices", data=json.dumps(body), headers=headers)

    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
