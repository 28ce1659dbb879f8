from __future__ import annotations

import re

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from payments import repository as payments_repository
from payments.db import get_session, utcnow
from payments.models import AuditEntry
from webhooks.outbound.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.outbound.settings import RESOLVER_EXTENSION
from webhooks.outbox import record_event

API = "/api/v1/webhook-endpoints"


def register(client, agency, url="https://portal.example.gov.vn/hooks/fee", events=("invoice.paid",)):
    return client.post(API, json={"url": url, "event_types": list(events)}, headers=agency.headers)


def audit_actions(session, action):
    session.rollback()
    return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def public_resolver(host, port):
    return ["8.8.8.8"]


def test_create_endpoint_secret_shown_once(app, client, agency, session):
    app.extensions[RESOLVER_EXTENSION] = public_resolver
    created = register(client, agency)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["invoice.paid"] and body["enabled"] is True

    shown = client.get(f"{API}/{body['id']}", headers=agency.headers).get_json()
    listed = client.get(API, headers=agency.headers).get_json()
    assert "secret" not in shown and "secret" not in listed["data"][0]
    assert [a.entity_id for a in audit_actions(session, "webhook_endpoint.created")] == [str(body["id"])]


def test_create_endpoint_without_key_unauthorized(client):
    response = client.post(
        API, json={"url": "https://portal.example.gov.vn/", "event_types": ["invoice.paid"]}
    )
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_create_endpoint_unknown_event_type_rejected(app, client, agency):
    app.extensions[RESOLVER_EXTENSION] = public_resolver
    response = register(client, agency, events=("invoice.paid", "invoice.teleported"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"].startswith("event_types")


def test_other_agency_endpoint_not_found(app, client, agency, other_agency):
    app.extensions[RESOLVER_EXTENSION] = public_resolver
    endpoint_id = register(client, agency).get_json()["id"]
    for response in (
        client.get(f"{API}/{endpoint_id}", headers=other_agency.headers),
        client.patch(f"{API}/{endpoint_id}", json={"enabled": False}, headers=other_agency.headers),
        client.post(f"{API}/{endpoint_id}/rotate-secret", headers=other_agency.headers),
        client.get(f"{API}/{endpoint_id}/deliveries", headers=other_agency.headers),
    ):
        assert response.status_code == 404


def test_update_endpoint_disable_and_change_events(app, client, agency):
    app.extensions[RESOLVER_EXTENSION] = public_resolver
    endpoint_id = register(client, agency).get_json()["id"]
    response = client.patch(
        f"{API}/{endpoint_id}",
        json={"enabled": False, "event_types": ["invoice.expired", "invoice.paid"]},
        headers=agency.headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["enabled"] is False and body["disabled_reason"] == "disabled by owner"
    assert body["event_types"] == ["invoice.expired", "invoice.paid"]


def test_rotate_secret_new_secret_and_overlap_window(app, client, agency, session):
    app.extensions[RESOLVER_EXTENSION] = public_resolver
    created = register(client, agency).get_json()
    rotated = client.post(f"{API}/{created['id']}/rotate-secret", headers=agency.headers)
    assert rotated.status_code == 200
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"] is not None
    assert len(audit_actions(session, "webhook_endpoint.secret_rotated")) == 1


def test_create_endpoint_production_rules_refuse_unsafe_urls(app_config):
    # Built here so the app carries production URL rules and a resolver stub.
    from payments import create_app
    from tests import factories

    app_config.update(WEBHOOKS_ALLOW_HTTP=False, WEBHOOKS_ALLOW_PRIVATE=False)
    app = create_app(app_config)
    answers = {"rebind.example.gov.vn": ["10.0.0.8"], "portal.example.gov.vn": ["8.8.8.8"]}
    app.extensions[RESOLVER_EXTENSION] = lambda host, port: answers[host]
    agency = factories.create_agency_with_key(app, code="HCM-TP")
    client = app.test_client()
    refused = [
        "http://portal.example.gov.vn/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://169.254.169.254/latest",
        "https://10.0.0.5/hook",
        "https://user:pw@portal.example.gov.vn/hook",
        "https://rebind.example.gov.vn/hook",
    ]
    for url in refused:
        response = register(client, agency, url=url)
        assert response.status_code == 422, url
        assert "violates security rules" in response.get_json()["detail"], url
    assert register(client, agency).status_code == 201
    app.extensions["feegate.db"].engine.dispose()


def secret_and_id(output):
    """Read the secret line and the endpoint id from `webhooks endpoints add` output."""
    secret = re.search(r"^whsec_\S+$", output, re.MULTILINE).group(0)
    return secret, re.search(r"Webhook endpoint (\d+) for", output).group(1)


def _dead_delivery(app, agency_code, url):
    """An endpoint with one delivery that exhausted its retries."""
    with app.app_context():
        session = get_session()
        agency = payments_repository.get_agency_by_code(session, agency_code)
        now = utcnow()
        endpoint = WebhookEndpoint(
            agency_id=agency.id,
            url=url,
            description="",
            event_types=["invoice.paid"],
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
        event = record_event(
            session,
            agency_id=agency.id,
            event_type="invoice.paid",
            aggregate_type="invoice",
            aggregate_id="inv_1",
            data={"id": "inv_1"},
        )
        session.flush()
        delivery = WebhookDelivery(
            event_id=event.id,
            endpoint_id=endpoint.id,
            status=DeliveryStatus.DEAD,
            next_attempt_at=now,
            claim_token=10,
            attempt_count=10,
            failed_attempts=10,
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
        session.add(delivery)
        session.commit()
        return endpoint.id, delivery.id, event.id


def test_replay_dead_delivery_over_api_audited(app, client, agency, session):
    endpoint_id, delivery_id, _ = _dead_delivery(app, agency.code, "http://127.0.0.1:1/hook")
    dead = client.get(f"{API}/{endpoint_id}/deliveries?status=dead", headers=agency.headers).get_json()
    assert [d["id"] for d in dead["data"]] == [delivery_id]

    response = client.post(
        f"{API}/{endpoint_id}/deliveries/{delivery_id}/replay",
        json={"reason": "portal was down"},
        headers=agency.headers,
    )

    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "pending"
    (entry,) = audit_actions(session, "webhook_delivery.replay")
    assert entry.detail["reason"] == "portal was down" and entry.actor.startswith("api_key:")
    again = client.post(
        f"{API}/{endpoint_id}/deliveries/{delivery_id}/replay",
        json={"reason": "twice"},
        headers=agency.headers,
    )
    assert again.status_code == 409


def test_replay_other_agency_delivery_not_found(app, client, agency, other_agency):
    endpoint_id, delivery_id, _ = _dead_delivery(app, agency.code, "http://127.0.0.1:1/hook")
    response = client.post(
        f"{API}/{endpoint_id}/deliveries/{delivery_id}/replay",
        json={"reason": "x"},
        headers=other_agency.headers,
    )
    assert response.status_code == 404


def test_cli_deliveries_dead_then_replay_by_event_and_deliver_due(app, agency, session, receiver):
    receiver.expect_request("/hook").respond_with_data("ok", status=200)
    _, delivery_id, event_id = _dead_delivery(app, agency.code, receiver.url_for("/hook"))
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["webhooks", "deliveries", "--status", "dead"])
    assert listed.exit_code == 0 and f"{delivery_id}\t{event_id}" in listed.output

    refused = runner.invoke(args=["webhooks", "replay", event_id, "--reason", " "])
    assert refused.exit_code != 0
    replayed = runner.invoke(args=["webhooks", "replay", event_id, "--reason", "portal restored"])
    assert replayed.exit_code == 0, replayed.output
    assert len(audit_actions(session, "webhook_delivery.replay")) == 1

    sent = runner.invoke(args=["webhooks", "deliver-due"])
    assert sent.exit_code == 0 and "1 succeeded" in sent.output
    ((request, _),) = receiver.log
    assert request.headers["webhook-id"] == event_id


def _add_endpoint(runner, agency_code: str, url: str):
    """Register an endpoint for invoice.paid through the CLI."""
    args = ["webhooks", "endpoints", "add", "--agency", agency_code, "--url", url, "--event", "invoice.paid"]
    return runner.invoke(args=args)


def test_cli_endpoints_add_then_send_test_verified(app, agency, receiver):
    receiver.expect_request("/hook").respond_with_data("ok", status=200)
    runner = app.test_cli_runner()
    added = _add_endpoint(runner, agency.code, receiver.url_for("/hook"))
    assert added.exit_code == 0, added.output
    secret, endpoint_id = secret_and_id(added.output)

    listed = runner.invoke(args=["webhooks", "endpoints", "list", "--agency", agency.code])
    assert receiver.url_for("/hook") in listed.output

    tested = runner.invoke(args=["webhooks", "send-test", endpoint_id])
    assert tested.exit_code == 0 and "succeeded" in tested.output, tested.output
    ((request, _),) = receiver.log
    payload = Webhook(secret).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "webhook.test"


def test_cli_endpoints_rotate_secret_both_verify(app, agency, receiver):
    receiver.expect_request("/hook").respond_with_data("ok", status=200)
    runner = app.test_cli_runner()
    added = _add_endpoint(runner, agency.code, receiver.url_for("/hook"))
    old_secret, endpoint_id = secret_and_id(added.output)
    rotated = runner.invoke(args=["webhooks", "endpoints", "rotate-secret", endpoint_id])
    new_secret = re.search(r"^whsec_\S+$", rotated.output, re.MULTILINE).group(0)

    runner.invoke(args=["webhooks", "send-test", endpoint_id])

    ((request, _),) = receiver.log
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(request.get_data(), dict(request.headers))
