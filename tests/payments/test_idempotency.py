"""Idempotency-Key on invoice creation (IETF draft-07 semantics, scoped per agency)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from payments.models import IdempotencyKey, Invoice
from tests.factories import invoice_body
from webhooks.models import OutboxEvent


def _count(session, model) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)))


def test_same_key_same_body_50_times_creates_one_invoice_and_replays_bytes(client, agency, session):
    headers = {**agency.headers, "Idempotency-Key": "4f7c1d2e-aaaa-4bbb-8ccc-0123456789ab"}

    responses = [client.post("/api/v1/invoices", json=invoice_body(), headers=headers) for _ in range(50)]

    assert {r.status_code for r in responses} == {201}
    assert len({r.get_data() for r in responses}) == 1
    assert "Idempotent-Replayed" not in responses[0].headers
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in responses[1:])
    assert {r.headers["Location"] for r in responses} == {responses[0].headers["Location"]}
    assert _count(session, Invoice) == 1
    assert _count(session, OutboxEvent) == 1


def test_same_key_with_changed_body_is_422_and_original_unchanged(client, agency, session):
    headers = {**agency.headers, "Idempotency-Key": "key-1"}
    first = client.post("/api/v1/invoices", json=invoice_body(), headers=headers)
    changed = invoice_body()
    changed["items"][0]["amount"] += 1

    second = client.post("/api/v1/invoices", json=changed, headers=headers)

    assert second.status_code == 422
    assert second.get_json()["type"] == "/api/v1/problems/idempotency-key-reused"
    assert _count(session, Invoice) == 1
    assert client.get(first.headers["Location"], headers=agency.headers).get_json()["total"] == 1_250_000


def test_key_order_of_json_fields_does_not_matter(client, agency, session):
    headers = {**agency.headers, "Idempotency-Key": "key-order"}
    body = invoice_body()
    reordered = dict(reversed(list(body.items())))

    client.post("/api/v1/invoices", json=body, headers=headers)
    again = client.post("/api/v1/invoices", json=reordered, headers=headers)

    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert _count(session, Invoice) == 1


@pytest.mark.parametrize("key", ["", "key with spaces", "k" * 256, "ключ", "tab\tkey"])
def test_invalid_key_is_400_and_writes_nothing(client, agency, session, key):
    response = client.post(
        "/api/v1/invoices", json=invoice_body(), headers={**agency.headers, "Idempotency-Key": key}
    )

    assert response.status_code == 400
    assert response.get_json()["type"] == "/api/v1/problems/invalid-idempotency-key"
    assert _count(session, Invoice) == 0


def test_keys_are_scoped_per_agency(client, agency, other_agency, session):
    body_a = invoice_body()
    body_b = invoice_body(reference="B-1", return_url=f"{other_agency.origin}/kq")

    a = client.post("/api/v1/invoices", json=body_a, headers={**agency.headers, "Idempotency-Key": "K"})
    b = client.post("/api/v1/invoices", json=body_b, headers={**other_agency.headers, "Idempotency-Key": "K"})
    a_again = client.post("/api/v1/invoices", json=body_a, headers={**agency.headers, "Idempotency-Key": "K"})

    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]
    assert a_again.get_json()["id"] == a.get_json()["id"]
    assert _count(session, Invoice) == 2


def test_failed_request_releases_key_for_a_corrected_retry(client, agency, session):
    headers = {**agency.headers, "Idempotency-Key": "retry-me"}

    bad = client.post(
        "/api/v1/invoices", json=invoice_body(return_url="https://evil.example/"), headers=headers
    )
    good = client.post("/api/v1/invoices", json=invoice_body(), headers=headers)

    assert bad.status_code == 422 and good.status_code == 201
    assert "Idempotent-Replayed" not in good.headers
    assert _count(session, IdempotencyKey) == 1


def test_request_in_progress_with_same_key_is_409_with_retry_after(client, agency, app, session):
    from payments import idempotency
    from payments.models import Agency
    from tests.factories import invoice_body as body

    fp_body = body()
    with app.test_request_context():
        fp = idempotency.fingerprint("POST", "/api/v1/invoices", fp_body)
    agency_id = session.scalars(select(Agency.id).where(Agency.code == agency.code)).one()
    with app.app_context():
        from payments.db import get_session

        s = get_session()
        idempotency.claim(s, agency_id, "busy", fp)
        s.commit()

    response = client.post(
        "/api/v1/invoices", json=fp_body, headers={**agency.headers, "Idempotency-Key": "busy"}
    )

    assert response.status_code == 409
    assert int(response.headers["Retry-After"]) >= 1
    assert _count(session, Invoice) == 0


def test_abandoned_key_is_taken_over_after_the_lock_expires(client, agency, app, session):
    from payments import idempotency
    from payments.models import Agency

    body = invoice_body()
    with app.test_request_context():
        fp = idempotency.fingerprint("POST", "/api/v1/invoices", body)
    agency_id = session.scalars(select(Agency.id).where(Agency.code == agency.code)).one()
    with freeze_time(timedelta(minutes=-5)), app.app_context():
        from payments.db import get_session

        s = get_session()
        idempotency.claim(s, agency_id, "crashed", fp)  # a request that died holding the key
        s.commit()

    response = client.post(
        "/api/v1/invoices", json=body, headers={**agency.headers, "Idempotency-Key": "crashed"}
    )

    assert response.status_code == 201
    assert _count(session, Invoice) == 1


def test_twenty_concurrent_requests_with_one_key_create_one_invoice(app, agency, session):
    n = 20
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    bodies: list[dict] = []
    lock = threading.Lock()
    headers = {**agency.headers, "Idempotency-Key": "concurrent-key"}

    def fire() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/invoices", json=invoice_body(), headers=headers)
        with lock:
            statuses.append(response.status_code)
            bodies.append(response.get_json())

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(statuses) == n
    assert all(s in (201, 409) for s in statuses), statuses
    assert statuses.count(201) >= 1
    assert len({b["id"] for b in bodies if "id" in b}) == 1
    assert _count(session, Invoice) == 1
    assert _count(session, OutboxEvent) == 1


def test_reaper_deletes_keys_past_retention_and_keeps_younger(client, agency, app, session):
    with freeze_time(timedelta(hours=-73)):
        client.post(
            "/api/v1/invoices", json=invoice_body(), headers={**agency.headers, "Idempotency-Key": "old"}
        )
    with freeze_time(timedelta(hours=-23)):
        young = client.post(
            "/api/v1/invoices", json=invoice_body(), headers={**agency.headers, "Idempotency-Key": "young"}
        )

    result = app.test_cli_runner().invoke(args=["payments", "reap-idempotency-keys"])
    replay = client.post(
        "/api/v1/invoices", json=invoice_body(), headers={**agency.headers, "Idempotency-Key": "young"}
    )

    assert "1 idempotency key(s) deleted" in result.output
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_data() == young.get_data()
