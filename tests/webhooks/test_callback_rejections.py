"""Callbacks we cannot trust or cannot place: rejected with 400 (or 404), stored masked, nothing changed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from providers.sandbox.signature import SIGNATURE_HEADER
from tests.factories import create_agency_with_key
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
)
from webhooks.masking import MASK


def _forged(client, attempt):
    body = callback_body(attempt)
    return body, signed_headers("not-the-secret", body)


def _tampered(client, attempt):
    body = callback_body(attempt)
    headers = signed_headers(sandbox_secret(client), body)
    return body.replace(b'"amount":1250000', b'"amount":1250'), headers


def _missing_header(client, attempt):
    return callback_body(attempt), {"Content-Type": "application/json"}


def _malformed_header(client, attempt):
    return callback_body(attempt), {SIGNATURE_HEADER: "v1=deadbeef", "Content-Type": "application/json"}


def _stale(client, attempt):
    body = callback_body(attempt)
    return body, signed_headers(sandbox_secret(client), body, timestamp=int(time.time()) - 3600)


def _from_the_future(client, attempt):
    body = callback_body(attempt)
    return body, signed_headers(sandbox_secret(client), body, timestamp=int(time.time()) + 3600)


def _other_agency_merchant(client, attempt):
    # A genuine signature (the sandbox secret is shared), but for another tenant's merchant id.
    create_agency_with_key(client.application, code="HN-TP", origin="https://dichvucong.hanoi.gov.vn")
    body = callback_body(attempt, merchant="HN-TP")
    return body, signed_headers(sandbox_secret(client), body)


def _unknown_merchant(client, attempt):
    body = callback_body(attempt, merchant="NO-SUCH-AGENCY")
    return body, signed_headers(sandbox_secret(client), body)


def _not_json(client, attempt):
    body = b"merchant=HCM-TP&status=succeeded"
    return body, signed_headers(sandbox_secret(client), body)


def _unknown_status(client, attempt):
    body = callback_body(attempt, "refunded")
    return body, signed_headers(sandbox_secret(client), body)


def _string_amount(client, attempt):
    body = callback_body(attempt, amount="1250000")
    return body, signed_headers(sandbox_secret(client), body)


@pytest.mark.parametrize(
    "build",
    [
        _forged,
        _tampered,
        _missing_header,
        _malformed_header,
        _stale,
        _from_the_future,
        _other_agency_merchant,
        _unknown_merchant,
        _not_json,
        _unknown_status,
        _string_amount,
    ],
)
def test_callback_unverifiable_rejected_400_and_changes_nothing(client, agency, attempt, session, build):
    body, headers = build(client, attempt)
    before = snapshot(session)

    response = post_callback(client, body, headers)

    assert response.status_code == 400 and result_of(response) == "rejected"
    assert snapshot(session) == before
    assert invoice_status(client, agency, attempt.invoice_id) == "open"
    [row] = inbox_rows(session)
    assert row.outcome == "rejected" and row.dedupe_key is None
    if SIGNATURE_HEADER in headers:
        assert row.headers[SIGNATURE_HEADER] == MASK
    assert headers.get(SIGNATURE_HEADER, "\0") not in json.dumps(row.headers) + row.body


def test_callback_signature_stale_after_tolerance_under_frozen_clock(client, attempt, session):
    signed_at = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    body = callback_body(attempt)
    headers = signed_headers(sandbox_secret(client), body, timestamp=int(signed_at.timestamp()))

    with freeze_time(signed_at + timedelta(seconds=301)):
        late = post_callback(client, body, headers)
    with freeze_time(signed_at + timedelta(seconds=299)):
        in_time = post_callback(client, body, headers)

    assert late.status_code == 400 and result_of(late) == "rejected"
    assert in_time.status_code == 200 and result_of(in_time) == "recorded"
    assert [row.outcome for row in inbox_rows(session)] == ["rejected", "applied"]


def test_callback_wrong_merchant_does_not_block_the_genuine_statement(client, attempt, session):
    # A tenant with valid credentials replays another tenant's transaction under its own merchant id:
    # it must be rejected without using up the statement's dedupe key.
    create_agency_with_key(client.application, code="HN-TP", origin="https://dichvucong.hanoi.gov.vn")
    txn = new_transaction_id()
    secret = sandbox_secret(client)
    foreign = callback_body(attempt, "succeeded", transaction_id=txn, merchant="HN-TP")
    genuine = callback_body(attempt, "succeeded", transaction_id=txn)

    rejected = post_callback(client, foreign, signed_headers(secret, foreign))
    accepted = post_callback(client, genuine, signed_headers(secret, genuine))

    assert rejected.status_code == 400
    assert accepted.status_code == 200 and result_of(accepted) == "recorded"
    assert payment_row(session, attempt.reference).status.value == "succeeded"
    assert [row.outcome for row in inbox_rows(session)] == ["rejected", "applied"]


def test_callback_unknown_provider_404_and_nothing_stored(client, attempt, session):
    body = callback_body(attempt)
    before = snapshot(session)

    response = post_callback(
        client, body, signed_headers(sandbox_secret(client), body), path="/callbacks/paypal"
    )

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert snapshot(session) == before
    assert inbox_rows(session) == []


def test_callback_unknown_reference_acknowledged_not_found(client, attempt, session):
    before = snapshot(session)

    response = send_callback(client, attempt, "succeeded", reference="PAYNOSUCHREF")

    assert response.status_code == 200 and result_of(response) == "not_found"
    assert snapshot(session) == before
    [row] = inbox_rows(session)
    assert (row.outcome, row.payment_reference) == ("not_found", "PAYNOSUCHREF")
