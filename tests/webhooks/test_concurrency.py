"""Callbacks racing each other on PostgreSQL, and the database's own "one success per invoice" rule.

Each thread has its own test client (so its own app context, session and
connection) and all wait on one barrier, so the requests reach the database at
the same moment. SQLite serialises every writer, so the races only run on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from payments.db import get_db
from payments.models import AuditEntry, Payment
from tests.conftest import requires_postgres
from tests.factories import create_invoice
from tests.sandbox_callbacks import (
    callback_body,
    inbox_rows,
    post_callback,
    sandbox_secret,
    send_callback,
    signed_headers,
    start_sandbox_attempt,
)
from webhooks.models import OutboxEvent

COPIES = 50


def _race(app, requests: list[Callable]) -> list[int]:
    """Run each ``request(client)`` in its own thread, released together; return the status codes."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int | BaseException] = [0] * len(requests)

    def run(i: int, request: Callable, client) -> None:
        try:
            barrier.wait(timeout=30)
            statuses[i] = request(client).status_code
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            statuses[i] = exc

    threads = [
        threading.Thread(target=run, args=(i, request, app.test_client()))
        for i, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    errors = [s for s in statuses if isinstance(s, BaseException)]
    assert not errors, errors
    return [int(s) for s in statuses]  # type: ignore[arg-type]


def _count(session, model, *conditions) -> int:
    try:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)))
    finally:
        session.rollback()


@requires_postgres
def test_callback_50_concurrent_copies_apply_exactly_once(app, client, agency, session):
    attempt = start_sandbox_attempt(client, create_invoice(client, agency))
    body = callback_body(attempt, "succeeded")
    headers = signed_headers(sandbox_secret(client), body)

    statuses = _race(app, [lambda c: post_callback(c, body, headers)] * COPIES)

    assert statuses == [200] * COPIES
    payment_id = session.scalars(
        select(Payment.public_id).where(Payment.reference == attempt.reference)
    ).one()
    session.rollback()
    for action, entity in (("payment.succeeded", payment_id), ("invoice.paid", attempt.invoice_id)):
        assert _count(session, AuditEntry, AuditEntry.action == action, AuditEntry.entity_id == entity) == 1
        assert (
            _count(session, OutboxEvent, OutboxEvent.event_type == action, OutboxEvent.aggregate_id == entity)
            == 1
        )
    assert _count(session, Payment, Payment.status == "succeeded") == 1
    assert Counter(row.outcome for row in inbox_rows(session)) == {"applied": 1, "duplicate": COPIES - 1}


@requires_postgres
@pytest.mark.parametrize("round_", range(10))
def test_callback_two_attempts_succeeding_together_count_once(app, client, agency, session, round_):
    invoice = create_invoice(client, agency)
    attempts = [start_sandbox_attempt(client, invoice), start_sandbox_attempt(client, invoice)]

    statuses = _race(app, [lambda c, a=a: send_callback(c, a, "succeeded") for a in attempts])

    assert statuses == [200, 200]
    try:
        rows = session.execute(
            select(Payment.status, Payment.review_reason).where(
                Payment.invoice_id == _invoice_pk(session, invoice)
            )
        ).all()
    finally:
        session.rollback()
    assert sorted((status.value, reason) for status, reason in rows) == [
        ("succeeded", None),
        ("succeeded_duplicate", "refund_required"),
    ]
    assert (
        _count(
            session, AuditEntry, AuditEntry.action == "invoice.paid", AuditEntry.entity_id == invoice["id"]
        )
        == 1
    )
    assert _count(session, OutboxEvent, OutboxEvent.event_type == "invoice.paid") == 1
    assert _count(session, OutboxEvent, OutboxEvent.event_type == "payment.needs_review") == 1
    assert (
        client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).get_json()["status"] == "paid"
    )


def _invoice_pk(session, invoice: dict) -> int:
    from payments.models import Invoice

    return int(session.scalars(select(Invoice.id).where(Invoice.public_id == invoice["id"])).one())


def test_database_refuses_second_succeeded_payment_of_one_invoice(app, client, agency):
    invoice = create_invoice(client, agency)
    first = start_sandbox_attempt(client, invoice)
    second = start_sandbox_attempt(client, invoice)
    mark = text("UPDATE payments SET status = 'succeeded' WHERE reference = :ref")

    with app.app_context():
        engine = get_db().engine
        with engine.begin() as conn:
            conn.execute(mark, {"ref": first.reference})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(mark, {"ref": second.reference})
        with engine.begin() as conn:
            # Any number of other outcomes per invoice is fine; only 'succeeded' is unique.
            conn.execute(
                text("UPDATE payments SET status = 'succeeded_duplicate' WHERE reference = :ref"),
                {"ref": second.reference},
            )
            statuses = conn.execute(text("SELECT status FROM payments ORDER BY id")).scalars().all()
    assert statuses == ["succeeded", "succeeded_duplicate"]


@requires_postgres
@pytest.mark.parametrize("round_", range(10))
def test_callback_success_racing_cancel_pays_or_flags_never_both(app, client, agency, session, round_):
    invoice = create_invoice(client, agency)
    attempt = start_sandbox_attempt(client, invoice)
    cancel_path = f"/api/v1/invoices/{invoice['id']}/cancel"

    statuses = _race(
        app,
        [
            lambda c: send_callback(c, attempt, "succeeded"),
            lambda c: c.post(cancel_path, headers=agency.headers),
        ],
    )

    try:
        payment = session.execute(
            select(Payment.status, Payment.review_reason).where(Payment.reference == attempt.reference)
        ).one()
    finally:
        session.rollback()
    final = client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).get_json()["status"]
    assert payment.status.value == "succeeded"
    if final == "paid":  # the success came first: the cancel is refused
        assert statuses == [200, 409] and payment.review_reason is None
    else:  # the cancel came first: the money must go back
        assert (final, statuses) == ("cancelled", [200, 200])
        assert payment.review_reason == "refund_required"
