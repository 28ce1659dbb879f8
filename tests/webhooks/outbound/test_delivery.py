from __future__ import annotations

import json
import random
import socket
from datetime import timedelta

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from webhooks.outbound import delivery, repository, runner
from webhooks.outbound.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.outbound.schedule import JITTER, RETRY_DELAYS

from .conftest import INVOICE_DATA, create_agency, create_endpoint, create_event, loopback


def deliveries(session):
    query = select(WebhookDelivery).order_by(WebhookDelivery.id).execution_options(populate_existing=True)
    return session.scalars(query).all()


def test_dispatch_events_subscribed_enabled_same_agency_only(db_session, clock):
    agency, other = create_agency(db_session, "HCM-TP"), create_agency(db_session, "HN-TP")
    wanted = create_endpoint(db_session, agency, "http://127.0.0.1:1/a")
    create_endpoint(db_session, agency, "http://127.0.0.1:1/b", event_types=("invoice.expired",))
    create_endpoint(db_session, agency, "http://127.0.0.1:1/c", enabled=False)
    create_endpoint(db_session, other, "http://127.0.0.1:1/d")
    event = create_event(db_session, agency)
    db_session.commit()

    ids = delivery.dispatch_events(db_session, clock(), limit=100)
    db_session.commit()

    assert [(d.event_id, d.endpoint_id, d.status) for d in deliveries(db_session)] == [
        (event.id, wanted.id, DeliveryStatus.PENDING)
    ]
    assert ids == [deliveries(db_session)[0].id]
    # A second sweep finds nothing new: the dispatch mark is the once-only guard.
    assert delivery.dispatch_events(db_session, clock(), limit=100) == []


def test_deliver_due_signed_delivery_verified_by_library(db_session, clock, settings, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    agency = create_agency(db_session)
    endpoint = create_endpoint(db_session, agency, receiver.url_for("/hook"))
    event = create_event(db_session, agency)
    db_session.commit()

    counts = runner.deliver_due(db_session, settings, loopback, clock)

    assert counts == {DeliveryStatus.SUCCEEDED: 1}
    ((request, _),) = receiver.log
    assert request.headers["webhook-id"] == event.id
    payload = Webhook(endpoint.secret).verify(request.get_data(), dict(request.headers))
    assert payload == {
        "id": event.id,
        "type": "invoice.paid",
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": INVOICE_DATA,
    }
    (row,) = deliveries(db_session)
    assert (row.status, row.attempt_count, row.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    (attempt,) = db_session.scalars(select(WebhookAttempt)).all()
    assert (attempt.status_code, attempt.outcome, attempt.response_excerpt) == (200, "succeeded", "thanks")


def test_deliver_due_retry_schedule_to_exhaustion_then_dead(db_session, clock, settings, receiver):
    receiver.expect_request("/hook").respond_with_data("down", status=500)
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, receiver.url_for("/hook"))
    event = create_event(db_session, agency)
    db_session.commit()

    attempt_times = []
    for _ in range(20):
        counts = runner.deliver_due(db_session, settings, loopback, clock)
        if counts:
            attempt_times.append(clock())
        (row,) = deliveries(db_session)
        if row.status == DeliveryStatus.DEAD:
            break
        # Nothing is due a second before the scheduled time.
        clock.now = row.next_attempt_at - timedelta(seconds=1)
        assert runner.deliver_due(db_session, settings, loopback, clock) == {}
        clock.now = row.next_attempt_at

    assert len(attempt_times) == 10
    assert row.status == DeliveryStatus.DEAD and row.attempt_count == 10
    gaps = [b - a for a, b in zip(attempt_times, attempt_times[1:], strict=False)]
    for gap, base in zip(gaps, RETRY_DELAYS, strict=True):
        assert abs(gap / base - 1) <= JITTER + 0.01
    span = attempt_times[-1] - attempt_times[0]
    assert timedelta(hours=60) < span < timedelta(hours=91)
    assert len(receiver.log) == 10
    assert {r.headers["webhook-id"] for r, _ in receiver.log} == {event.id}


def test_record_attempt_410_disables_endpoint_and_skips_its_other_deliveries(
    db_session, clock, settings, receiver
):
    receiver.expect_request("/hook").respond_with_data("gone", status=410)
    agency = create_agency(db_session)
    endpoint = create_endpoint(db_session, agency, receiver.url_for("/hook"))
    create_event(db_session, agency)
    db_session.commit()
    (claim,) = runner.dispatch_and_claim(db_session, settings, clock)
    create_event(db_session, agency)
    db_session.commit()

    assert runner.deliver(db_session, [claim], settings, loopback, clock) == [DeliveryStatus.DEAD]
    db_session.refresh(endpoint)
    assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")

    # The next event found the endpoint disabled at fan-out; nothing more is sent.
    assert runner.deliver_due(db_session, settings, loopback, clock) == {}
    assert len(receiver.log) == 1


def test_record_attempt_disabled_after_claim_skipped_without_sending(db_session, clock, settings, receiver):
    agency = create_agency(db_session)
    endpoint = create_endpoint(db_session, agency, receiver.url_for("/hook"))
    create_event(db_session, agency)
    db_session.commit()
    (claim,) = runner.dispatch_and_claim(db_session, settings, clock)
    endpoint.enabled = False
    db_session.commit()

    assert runner.deliver(db_session, [claim], settings, loopback, clock) == [DeliveryStatus.SKIPPED]
    assert receiver.log == []


def test_deliver_retry_after_on_429_pushes_next_attempt(db_session, clock, settings, receiver):
    receiver.expect_request("/hook").respond_with_response(
        Response("", status=429, headers={"Retry-After": "120"})
    )
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, receiver.url_for("/hook"))
    create_event(db_session, agency)
    db_session.commit()

    runner.deliver_due(db_session, settings, loopback, clock)

    (row,) = deliveries(db_session)
    assert row.status == DeliveryStatus.PENDING
    assert row.next_attempt_at >= clock.start + timedelta(seconds=120)


def test_claim_due_leased_row_not_claimed_again_until_lease_expires(db_session, clock, settings):
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, "http://127.0.0.1:1/hook")
    create_event(db_session, agency)
    db_session.commit()
    (first,) = runner.dispatch_and_claim(db_session, settings, clock)

    clock.advance(seconds=119)
    assert runner.claim_due(db_session, settings, clock) == []

    clock.advance(seconds=2)
    (second,) = runner.claim_due(db_session, settings, clock)
    assert second.delivery_id == first.delivery_id and second.token == first.token + 1
    # The first worker woke up late: it may neither send nor write any more.
    assert runner.deliver(db_session, [first], settings, loopback, clock) == [None]


def test_send_time_rebinding_to_private_skipped_without_connecting(db_session, clock, monkeypatch):
    from webhooks.outbound.settings import outbound_settings

    production = outbound_settings({})
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, "https://portal.example.gov.vn/hook")
    create_event(db_session, agency)
    db_session.commit()
    connects = []
    monkeypatch.setattr("urllib3.util.connection.create_connection", lambda *a, **k: connects.append(a))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connects.append(a))

    counts = runner.deliver_due(db_session, production, lambda host, port: ["10.0.0.7"], clock)

    assert counts == {DeliveryStatus.SKIPPED: 1}
    (row,) = deliveries(db_session)
    assert row.last_error.startswith("violates security rules") and "10.0.0.7" in row.last_error
    assert connects == []


def test_event_body_stable_across_attempts(db_session):
    agency = create_agency(db_session)
    event = create_event(db_session, agency)
    body = delivery.event_body(event)
    assert body == delivery.event_body(event)
    assert json.loads(body)["id"] == event.id


def test_record_attempt_jitter_uses_given_rng(db_session, clock, settings):
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, "http://127.0.0.1:1/hook")
    create_event(db_session, agency)
    db_session.commit()
    (claim,) = runner.dispatch_and_claim(db_session, settings, clock)
    from webhooks.outbound.sender import AttemptOutcome, AttemptResult

    now = clock()
    (held,) = repository.renew_claims(db_session, [claim], now, now + timedelta(seconds=30))
    failed = AttemptResult(AttemptOutcome.FAILED, 3, status_code=500)
    status = delivery.record_attempt(db_session, held, failed, now, now, random.Random(5))
    db_session.commit()
    assert status == DeliveryStatus.PENDING
    (row,) = deliveries(db_session)
    assert row.failed_attempts == 1
    assert now + timedelta(seconds=4) <= row.next_attempt_at <= now + timedelta(seconds=6)
    assert db_session.scalar(select(func.count()).select_from(WebhookAttempt)) == 1
    assert repository.attempts_for(db_session, row.id)[0].status_code == 500
    assert db_session.get(WebhookEndpoint, row.endpoint_id).enabled


def test_deliver_due_unsubscribed_events_do_not_hide_later_ones(db_session, clock, receiver):
    from webhooks.outbound.settings import outbound_settings

    receiver.expect_request("/hook").respond_with_data("", status=204)
    small_batches = outbound_settings(
        {"WEBHOOKS_ALLOW_HTTP": True, "WEBHOOKS_ALLOW_PRIVATE": True, "WEBHOOKS_BATCH_SIZE": 10}
    )
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, receiver.url_for("/hook"))
    for n in range(25):  # nobody can subscribe to invoice.created
        create_event(db_session, agency, "invoice.created", at=clock.now + timedelta(microseconds=n))
    paid = create_event(db_session, agency, at=clock.now + timedelta(seconds=1))
    db_session.commit()

    assert runner.deliver_due(db_session, small_batches, loopback, clock) == {DeliveryStatus.SUCCEEDED: 1}
    assert [r.headers["webhook-id"] for r, _ in receiver.log] == [paid.id]


def test_dispatch_and_deliver_sends_few_inline_and_hands_back_the_rest(db_session, clock, settings, receiver):
    receiver.expect_request("/a").respond_with_data("", status=200)
    receiver.expect_request("/b").respond_with_data("", status=200)
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, receiver.url_for("/a"))
    create_endpoint(db_session, agency, receiver.url_for("/b"))
    first, second = create_event(db_session, agency), create_event(db_session, agency)
    db_session.commit()

    assert (
        runner.dispatch_and_deliver(db_session, settings, loopback, clock, [first.id], inline_limit=2) == []
    )
    assert sorted(r.path for r, _ in receiver.log) == ["/a", "/b"]

    handed_back = runner.dispatch_and_deliver(
        db_session, settings, loopback, clock, [second.id], inline_limit=1
    )
    assert len(handed_back) == 2 and len(receiver.log) == 2  # claimed, not sent
    assert (
        runner.deliver(db_session, handed_back, settings, loopback, clock) == [DeliveryStatus.SUCCEEDED] * 2
    )
    assert {r.headers["webhook-id"] for r, _ in receiver.log[2:]} == {second.id}


def test_record_attempts_batch_with_one_lost_claim_writes_only_current_claims(db_session, clock, settings):
    agency = create_agency(db_session)
    create_endpoint(db_session, agency, "http://127.0.0.1:1/hook")
    for _ in range(3):
        create_event(db_session, agency)
    db_session.commit()
    claims = runner.dispatch_and_claim(db_session, settings, clock)
    now = clock()
    held = repository.renew_claims(db_session, claims, now, now + timedelta(seconds=30))
    db_session.commit()
    # Another worker took the middle delivery over (its token moved on) before the batch was recorded.
    db_session.execute(
        WebhookDelivery.__table__.update()
        .where(WebhookDelivery.id == held[1].claim.delivery_id)
        .values(claim_token=WebhookDelivery.claim_token + 1)
    )
    from webhooks.outbound.sender import AttemptOutcome, AttemptResult

    ok = AttemptResult(AttemptOutcome.SUCCEEDED, 2, status_code=200)
    failed = AttemptResult(AttemptOutcome.FAILED, 3, status_code=500)
    sent = [
        delivery.Sent(held[0], ok, now),
        delivery.Sent(held[1], ok, now),
        delivery.Sent(held[2], failed, now),
    ]
    statuses = delivery.record_attempts(db_session, sent, now, random.Random(5))
    db_session.commit()

    assert statuses == {
        held[0].claim: DeliveryStatus.SUCCEEDED,
        held[1].claim: None,
        held[2].claim: DeliveryStatus.PENDING,
    }
    rows = deliveries(db_session)
    assert [row.status for row in rows] == [
        DeliveryStatus.SUCCEEDED,
        DeliveryStatus.IN_FLIGHT,
        DeliveryStatus.PENDING,
    ]
    assert [row.attempt_count for row in rows] == [1, 0, 1]
    assert rows[0].finished_at == now and rows[0].lease_expires_at is None
    assert rows[1].lease_expires_at is not None  # still the new holder's
    assert rows[2].failed_attempts == 1 and rows[2].finished_at is None
    assert now + timedelta(seconds=4) <= rows[2].next_attempt_at <= now + timedelta(seconds=6)
    # Every attempt is logged, the one whose claim was lost included: it did happen.
    assert db_session.scalar(select(func.count()).select_from(WebhookAttempt)) == 3
