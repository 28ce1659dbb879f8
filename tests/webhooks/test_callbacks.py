"""``/callbacks/<provider>`` over HTTP: verify, record exactly once, answer in the provider's format."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError

from providers.sandbox.signature import SIGNATURE_HEADER
from tests.factories import create_invoice
from tests.sandbox_callbacks import (
    callback_body,
    inbox_rows,
    invoice_status,
    new_transaction_id,
    payment_row,
    post_callback,
    result_of,
    sandbox_secret,
    send_callback,
    signed_headers,
    snapshot,
    start_sandbox_attempt,
)
from webhooks.masking import MASK


def _added_events(before, after) -> list[str]:
    remaining = list(after["events"])
    for event in before["events"]:
        remaining.remove(event)
    return sorted(event_type for event_type, _aggregate in remaining)


# --- the happy path and duplicates ------------------------------------------------------------


def test_callback_success_pays_invoice_once_with_audit_and_events(client, agency, attempt, session):
    before = snapshot(session)
    txn = new_transaction_id()

    response = send_callback(client, attempt, "succeeded", transaction_id=txn)

    assert response.status_code == 200 and result_of(response) == "recorded"
    payment = payment_row(session, attempt.reference)
    assert (payment.status.value, payment.provider_ref, payment.review_reason) == ("succeeded", txn, None)
    assert payment.finished_at is not None
    assert invoice_status(client, agency, attempt.invoice_id) == "paid"
    after = snapshot(session)
    assert _added_events(before, after) == ["invoice.paid", "payment.succeeded"]
    assert [a for a, _ in after["audit"][len(before["audit"]) :]] == ["payment.succeeded", "invoice.paid"]
    [row] = inbox_rows(session)
    assert (row.provider_code, row.outcome, row.external_id, row.payment_reference) == (
        "sandbox",
        "applied",
        f"{txn}:succeeded",
        attempt.reference,
    )
    assert json.loads(row.body)["transaction_id"] == txn  # stored raw, parsed back
    assert row.headers[SIGNATURE_HEADER] == MASK


def test_callback_exact_duplicate_acknowledged_and_changes_nothing(client, attempt, session):
    body = callback_body(attempt, "succeeded")
    headers = signed_headers(sandbox_secret(client), body)
    assert post_callback(client, body, headers).status_code == 200
    before = snapshot(session)

    again = post_callback(client, body, headers)

    assert again.status_code == 200 and result_of(again) == "duplicate"
    assert snapshot(session) == before
    assert [row.outcome for row in inbox_rows(session)] == ["applied", "duplicate"]


def test_callback_second_success_same_attempt_new_transaction_changes_nothing(client, attempt, session):
    first_txn = new_transaction_id()
    send_callback(client, attempt, "succeeded", transaction_id=first_txn)
    before = snapshot(session)

    again = send_callback(client, attempt, "succeeded")

    assert again.status_code == 200 and result_of(again) == "duplicate"
    assert snapshot(session) == before
    assert payment_row(session, attempt.reference).provider_ref == first_txn
    assert [row.outcome for row in inbox_rows(session)] == ["applied", "duplicate"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_callback_route_accepts_get_and_post(client, attempt, session, method):
    body = callback_body(attempt, "succeeded")

    response = post_callback(client, body, signed_headers(sandbox_secret(client), body), method=method)

    assert response.status_code == 200 and result_of(response) == "recorded"
    [row] = inbox_rows(session)
    assert (row.method, row.outcome) == (method, "applied")


def test_callback_route_other_method_not_allowed(client, attempt):
    body = callback_body(attempt, "succeeded")

    assert (
        post_callback(client, body, signed_headers(sandbox_secret(client), body), method="PUT").status_code
        == 405
    )


# --- amounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides", [{"amount": 1_249_999}, {"amount": 12_500_000}, {"currency": "USD"}], ids=str
)
def test_callback_amount_or_currency_mismatch_flags_payment_invoice_stays_open(
    client, agency, attempt, session, overrides
):
    before = snapshot(session)

    response = send_callback(client, attempt, "succeeded", **overrides)

    assert response.status_code == 200 and result_of(response) == "amount_mismatch"
    payment = payment_row(session, attempt.reference)
    assert (payment.status.value, payment.review_reason) == ("pending", "amount_mismatch")
    assert invoice_status(client, agency, attempt.invoice_id) == "open"
    after = snapshot(session)
    assert _added_events(before, after) == ["payment.needs_review"]
    assert [a for a, _ in after["audit"][len(before["audit"]) :]] == ["payment.needs_review"]
    assert [row.outcome for row in inbox_rows(session)] == ["amount_mismatch"]


# --- late, out-of-order and second successes ---------------------------------------------------


@pytest.mark.parametrize("late_status", ["failed", "pending", "cancelled"])
def test_callback_late_statement_after_success_keeps_terminal_state(
    client, agency, attempt, session, late_status
):
    send_callback(client, attempt, "succeeded")
    before = snapshot(session)

    late = send_callback(client, attempt, late_status)

    assert late.status_code == 200 and result_of(late) == "duplicate"
    assert snapshot(session) == before
    assert payment_row(session, attempt.reference).status.value == "succeeded"
    assert invoice_status(client, agency, attempt.invoice_id) == "paid"
    assert [row.outcome for row in inbox_rows(session)] == ["applied", "ignored"]


def test_callback_pending_then_failed_moves_attempt_and_leaves_invoice_open(client, agency, attempt, session):
    txn = new_transaction_id()

    # The attempt is pending since the bank redirect: saying so again changes nothing.
    assert result_of(send_callback(client, attempt, "pending", transaction_id=txn)) == "duplicate"
    assert result_of(send_callback(client, attempt, "failed", transaction_id=txn)) == "recorded"

    payment = payment_row(session, attempt.reference)
    assert (payment.status.value, payment.provider_ref) == ("failed", txn)
    assert invoice_status(client, agency, attempt.invoice_id) == "open"


def test_callback_failed_then_success_on_second_attempt_pays_invoice(client, agency, session):
    invoice = create_invoice(client, agency)
    first = start_sandbox_attempt(client, invoice)
    assert result_of(send_callback(client, first, "failed")) == "recorded"
    assert invoice_status(client, agency, invoice["id"]) == "open"
    second = start_sandbox_attempt(client, invoice)

    response = send_callback(client, second, "succeeded")

    assert response.status_code == 200 and result_of(response) == "recorded"
    assert payment_row(session, first.reference).status.value == "failed"
    assert payment_row(session, second.reference).status.value == "succeeded"
    assert invoice_status(client, agency, invoice["id"]) == "paid"


def test_callback_success_on_second_attempt_of_paid_invoice_is_duplicate_needing_refund(
    client, agency, session
):
    invoice = create_invoice(client, agency)
    first = start_sandbox_attempt(client, invoice)
    second = start_sandbox_attempt(client, invoice)
    send_callback(client, first, "succeeded")
    before = snapshot(session)

    response = send_callback(client, second, "succeeded")

    assert response.status_code == 200 and result_of(response) == "recorded"
    payment = payment_row(session, second.reference)
    assert (payment.status.value, payment.review_reason) == ("succeeded_duplicate", "refund_required")
    assert payment_row(session, first.reference).status.value == "succeeded"
    after = snapshot(session)
    assert _added_events(before, after) == ["payment.needs_review", "payment.succeeded_duplicate"]
    assert [a for a, _ in after["audit"]].count("invoice.paid") == 1


def test_callback_success_after_invoice_cancelled_flags_refund_required(client, agency, attempt, session):
    cancelled = client.post(f"/api/v1/invoices/{attempt.invoice_id}/cancel", headers=agency.headers)
    assert cancelled.status_code == 200
    before = snapshot(session)

    response = send_callback(client, attempt, "succeeded")

    assert response.status_code == 200 and result_of(response) == "recorded"
    payment = payment_row(session, attempt.reference)
    assert (payment.status.value, payment.review_reason) == ("succeeded", "refund_required")
    assert invoice_status(client, agency, attempt.invoice_id) == "cancelled"
    assert _added_events(before, snapshot(session)) == ["payment.needs_review", "payment.succeeded"]


def test_callback_success_after_attempt_failed_flags_late_success(client, agency, attempt, session):
    send_callback(client, attempt, "failed")

    response = send_callback(client, attempt, "succeeded")

    assert response.status_code == 200 and result_of(response) == "recorded"
    payment = payment_row(session, attempt.reference)
    assert (payment.status.value, payment.review_reason) == ("failed", "late_success")
    assert invoice_status(client, agency, attempt.invoice_id) == "open"


# --- failures on our side ----------------------------------------------------------------------


def test_callback_database_failure_answers_retryable_500_and_records_error(
    client, attempt, session, monkeypatch, caplog
):
    def broken(*_args, **_kwargs):
        raise OperationalError("UPDATE payments ...", {}, Exception("connection lost"))

    monkeypatch.setattr("webhooks.inbound.apply_provider_event", broken)
    body = callback_body(attempt, "succeeded")
    headers = signed_headers(sandbox_secret(client), body)
    before = snapshot(session)

    response = post_callback(client, body, headers)

    assert response.status_code == 500
    assert result_of(response) == "error"
    assert b"Traceback" not in response.get_data() and b"connection lost" not in response.get_data()
    assert "could not be recorded" in caplog.text
    assert snapshot(session) == before
    [row] = inbox_rows(session)
    assert (row.outcome, row.detail, row.dedupe_key) == ("error", "OperationalError", None)
    assert row.headers[SIGNATURE_HEADER] == MASK

    monkeypatch.undo()
    retried = post_callback(client, body, headers)

    assert retried.status_code == 200 and result_of(retried) == "recorded"
    assert payment_row(session, attempt.reference).status.value == "succeeded"
    assert [row.outcome for row in inbox_rows(session)] == ["error", "applied"]
