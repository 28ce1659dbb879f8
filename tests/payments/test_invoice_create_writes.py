"""Creating an invoice writes the invoice, its items, one audit entry and one event, together."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, inspect, select

from payments import repository, service
from payments.models import AuditEntry, Invoice, InvoiceItem
from payments.schemas import InvoiceCreateSchema
from tests.factories import create_invoice, invoice_body
from webhooks.models import OutboxEvent


@pytest.fixture
def app_session(app):
    """The app's own session, in an app context, for calling services directly."""
    from payments.db import get_session

    with app.app_context():
        yield get_session()


def test_create_invoice_api_event_data_equals_response_body(client, agency, session):
    created = create_invoice(client, agency)

    events = session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == created["id"])).all()
    audits = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == created["id"])).all()
    assert [e.event_type for e in events] == ["invoice.created"]
    assert [a.action for a in audits] == ["invoice.created"]
    # The response and the event are one dump: a portal sees the same payment_url in both.
    assert events[0].data == created
    assert created["status"] == "open" and len(created["items"]) == 2


def test_create_invoice_service_returns_flushed_invoice_with_its_rows(agency, app_session):
    session = app_session
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


def test_insert_new_invoice_objects_persistent_and_loaded(agency, app_session):
    session = app_session
    command = InvoiceCreateSchema().load(invoice_body(return_url=f"{agency.origin}/ket-qua"))
    agency_row = repository.get_agency_by_code(session, agency.code)
    created = service.create_invoice_with_data(session, agency_row, command, actor="test")
    invoice = created.invoice
    statements: list[str] = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql)
    )

    assert inspect(invoice).persistent and all(inspect(item).persistent for item in invoice.items)
    # Every column is loaded: reading the invoice back needs no query.
    assert service.invoice_data(invoice)["paid_at"] is None
    assert [item.invoice_id for item in invoice.items] == [invoice.id, invoice.id]
    assert statements == []
    session.commit()
    stored = session.scalars(
        select(InvoiceItem).where(InvoiceItem.invoice_id == invoice.id).order_by(InvoiceItem.position)
    ).all()
    assert [(i.id, i.amount) for i in stored] == [(i.id, i.amount) for i in invoice.items]


def test_insert_new_invoice_unset_defaulted_column_raises(agency, app_session):
    session = app_session
    agency_row = repository.get_agency_by_code(session, agency.code)
    invoice = Invoice(
        public_id="inv_x",
        agency_id=agency_row.id,
        reference="R",
        description="D",
        total=1,
        return_url="https://x",
        expires_at=service.utcnow(),
        created_at=service.utcnow(),
        updated_at=service.utcnow(),
        items=[],
    )

    with pytest.raises(ValueError, match="currency must be set"):
        repository.insert_new_invoice(session, invoice)


def test_insert_ignore_pending_objects_flushed_first(agency, app_session):
    session = app_session
    from payments.db import insert_ignore
    from payments.models import IdempotencyKey

    agency_row = repository.get_agency_by_code(session, agency.code)
    session.add(AuditEntry(actor="test", action="x", entity_type="t", entity_id="e", detail={}))
    statements: list[str] = []
    event.listen(
        session.get_bind(),
        "before_cursor_execute",
        lambda _c, _cur, sql, *_a: statements.append(sql.split()[2]),
    )

    row = {"agency_id": agency_row.id, "key": "k", "finished": False, "created_at": service.utcnow()}
    new_id = insert_ignore(session, IdempotencyKey, {**row, "fingerprint": "f"})
    again = insert_ignore(session, IdempotencyKey, {**row, "fingerprint": "g"})

    assert new_id is not None and again is None
    assert statements[:2] == ["audit_log", "idempotency_keys"]
