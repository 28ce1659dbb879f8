from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.outbound.signing import SigningKeys, generate_secret, rotate, signature_header, webhook_headers

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def test_signature_header_published_vector_matches():
    # Standard Webhooks S1, identical in every official library's tests.
    header = signature_header(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, UTC),
        '{"test": 2432232314}',
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_generate_secret_prefixed_32_random_bytes():
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


@freeze_time(NOW)
def test_webhook_headers_verified_by_library():
    secret = generate_secret()
    body = '{"id":"evt_1","type":"invoice.paid","data":{"amount":150000}}'
    headers = webhook_headers("evt_1", NOW, body, [secret])
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert Webhook(secret).verify(body.encode(), headers)["type"] == "invoice.paid"


@freeze_time(NOW)
def test_webhook_headers_tampered_body_rejected_by_library():
    secret = generate_secret()
    headers = webhook_headers("evt_1", NOW, '{"amount":150000}', [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"amount":150001}', headers)


def test_signing_keys_rotation_overlap_signs_with_both_then_only_new():
    old, new = generate_secret(), generate_secret()
    keys = rotate(SigningKeys(current=old), new, NOW, timedelta(hours=24))
    body = '{"id":"evt_2"}'

    during = NOW + timedelta(hours=23)
    with freeze_time(during):
        headers = webhook_headers("evt_2", during, body, keys.active(during))
        assert len(headers["webhook-signature"].split(" ")) == 2
        # A consumer holding only the old secret, or only the new one, still verifies.
        Webhook(old).verify(body, headers)
        Webhook(new).verify(body, headers)

    after = NOW + timedelta(hours=24, seconds=1)
    with freeze_time(after):
        headers = webhook_headers("evt_2", after, body, keys.active(after))
        assert len(headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, headers)


def test_webhook_headers_timestamp_skewed_over_five_minutes_rejected_by_library():
    secret = generate_secret()
    body = '{"id":"evt_3"}'
    headers = webhook_headers("evt_3", NOW, body, [secret])
    with freeze_time(NOW + timedelta(minutes=5, seconds=1)), pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
