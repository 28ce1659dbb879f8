"""Creating an invoice writes the invoice, its items, one audit entry and one event, together."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, inspect, select

from payments import repository, service
from payments.change_log import change
from payments.models import AuditEntry, Invoice, InvoiceItem
from payments.schemas import CreateInvoice, InvoiceCreateSchema
from tests.conftest import requires_postgres
from tests.factories import create_invoice, invoice_body
from webhooks.models import OutboxEvent


def _command(agency, **overrides) -> CreateInvoice:
    body = invoice_body(return_url=f"{agency.origin}/ket-qua", **overrides)
    return CreateInvoice.from_body(InvoiceCreateSchema().load(body))


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
    command = _command(agency)
    agency_row = repository.get_agency_by_code(session, agency.code)
    audits_before = session.scalar(select(func.count()).select_from(AuditEntry))

    created = service.create_invoice_with_data(session, agency_row, command, actor="test")

    # Written inside the service: the caller can use the primary key before committing.
    stored = repository.get_invoice_by_id(session, created.id)
    assert created.data == service.invoice_data(stored)  # the data dumped from plain values is the row's
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


def test_create_invoice_returns_the_stored_invoice_with_its_items(agency, app_session):
    session = app_session
    command = _command(agency)
    agency_row = repository.get_agency_by_code(session, agency.code)

    invoice = service.create_invoice(session, agency_row, command, actor="test")

    assert inspect(invoice).persistent and all(inspect(item).persistent for item in invoice.items)
    assert [(item.position, item.amount) for item in invoice.items] == [
        (n, line.amount) for n, line in enumerate(command.items)
    ]
    assert service.invoice_data(invoice)["paid_at"] is None
    assert invoice.total == sum(line.amount for line in command.items)


def test_insert_new_invoice_missing_column_raises_and_writes_nothing(agency, app_session):
    session = app_session
    agency_row = repository.get_agency_by_code(session, agency.code)
    now = service.utcnow()
    fields = {"public_id": "inv_x", "agency_id": agency_row.id, "reference": "R", "description": "D"}
    fields |= {"total": 1, "return_url": "https://x", "expires_at": now, "created_at": now, "updated_at": now}
    created = change(
        kind="invoice", public_id="inv_x", agency_id=agency_row.id, action="invoice.created", actor="test",
        data={}, detail={},
    )  # fmt: skip

    with pytest.raises(ValueError, match="Invoice.currency must be given"):
        repository.insert_new_invoice(session, fields, [], created)
    assert (
        session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == "inv_x"))
        == 0
    )


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


@pytest.mark.parametrize("item_count", [1, 3, 50])
def test_create_invoice_writes_every_row_in_one_statement_on_postgresql(agency, app_session, item_count):
    session = app_session
    lines = [
        {"fee_code": f"F{n}", "description": f"Dòng {n}", "amount": 1000 + n, "chapter_code": "418",
         "sub_item_code": "2665"}
        for n in range(item_count)
    ]  # fmt: skip
    command = _command(agency, items=lines)
    agency_row = repository.get_agency_by_code(session, agency.code)
    session.commit()
    statements: list[str] = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql)
    )

    created = service.create_invoice_with_data(session, agency_row, command, actor="test")
    session.commit()

    if session.get_bind().dialect.name == "postgresql":
        # Invoice, items, audit entry and event in one round trip (SQLite: a statement per table).
        assert len(statements) == 1
    items = session.scalars(
        select(InvoiceItem).where(InvoiceItem.invoice_id == created.id).order_by(InvoiceItem.position)
    ).all()
    assert [(i.position, i.fee_code, i.amount) for i in items] == [
        (n, f"F{n}", 1000 + n) for n in range(item_count)
    ]
    (audit,) = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == created.public_id))
    assert (audit.action, audit.actor, audit.agency_id) == ("invoice.created", "test", agency_row.id)
    assert audit.detail == {"total": sum(1000 + n for n in range(item_count)), "reference": command.reference}
    (stored_event,) = session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == created.public_id)
    )
    assert stored_event.data == created.data and stored_event.event_type == "invoice.created"
    assert session.get_one(Invoice, created.id).total == created.data["total"]


def _record_autocommit(app, seen: list[tuple[str, bool]]) -> None:
    """Note each statement that goes through SQLAlchemy's connections, and whether it ran in autocommit."""
    from payments.db import get_db

    def note(conn, _cursor, sql, *_args):
        seen.append((sql.split()[0], bool(getattr(conn.connection.dbapi_connection, "autocommit", False))))

    with app.app_context():
        event.listen(get_db().engine, "before_cursor_execute", note)


@requires_postgres
def test_create_without_key_runs_its_one_statement_alone_in_autocommit(
    app, client, agency, session, monkeypatch
):
    from payments import db
    from webhooks.outbound.kick import kicker_for

    create_invoice(client, agency)  # the first request of a key reads it from the database
    alone: list[bool] = []

    def spy(engine, sql, args):
        rows = execute_alone(engine, sql, args)
        alone.append(engine.raw_connection().dbapi_connection.autocommit)  # the next checkout's state
        return rows

    execute_alone = db._execute_alone
    monkeypatch.setattr(db, "_execute_alone", spy)
    seen: list[tuple[str, bool]] = []
    _record_autocommit(app, seen)
    sent: list[list[str]] = []
    app.config["WEBHOOKS_ENQUEUE_ON_COMMIT"] = True
    app.extensions["celery"] = type(
        "Celery", (), {"send_task": lambda _s, _n, args, **_o: sent.append(args[0])}
    )()

    created = create_invoice(client, agency)

    # One statement, committed by itself (no BEGIN/COMMIT), past the session; the pool gets
    # the connection back transactional.
    assert alone == [False] and seen == []
    assert (
        session.scalar(select(func.count()).select_from(Invoice).where(Invoice.public_id == created["id"]))
        == 1
    )
    (created_event,) = session.scalars(
        select(OutboxEvent.id).where(OutboxEvent.aggregate_id == created["id"])
    )
    assert kicker_for(app).flush() and sent == [[created_event]]  # the commit hook still kicks delivery
    cancelled = client.post(f"/api/v1/invoices/{created['id']}/cancel", headers=agency.headers)
    assert cancelled.status_code == 200
    assert seen and all(not autocommit for _, autocommit in seen)


@requires_postgres
def test_statement_run_alone_fails_like_any_other_and_leaves_the_connection_transactional(
    app, agency, monkeypatch
):
    from sqlalchemy.exc import IntegrityError

    from payments import db

    with app.app_context():
        session = db.get_session()
        agency_row = repository.get_agency_by_code(session, agency.code)
        command = _command(agency)
        first = service.create_invoice_with_data(session, agency_row, command, actor="test")
        session.commit()
        monkeypatch.setattr(service, "new_public_id", lambda _prefix: first.public_id)
        db.autocommit_next_statement(session)
        with pytest.raises(IntegrityError):  # the same public id again: translated as SQLAlchemy would
            service.create_invoice_with_data(session, agency_row, command, actor="test")
        session.rollback()
        pooled = db.get_db().engine.raw_connection()
        assert pooled.dbapi_connection.autocommit is False
        pooled.close()
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_create_with_an_idempotency_key_runs_in_transactions(app, client, agency):
    seen: list[tuple[str, bool]] = []
    _record_autocommit(app, seen)
    body = invoice_body(return_url=f"{agency.origin}/ket-qua")

    response = client.post(
        "/api/v1/invoices", json=body, headers={**agency.headers, "Idempotency-Key": "k-1"}
    )

    # The key's row and the invoice are separate statements that must commit together.
    assert response.status_code == 201
    assert len(seen) > 1 and all(not autocommit for _, autocommit in seen)
