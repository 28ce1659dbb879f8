"""The API-key cache: a hit skips the lookup, but revocation still bites within API_KEY_CACHE_SECONDS."""

from __future__ import annotations

import pytest
from freezegun import freeze_time
from sqlalchemy import select, update

from payments import agencies, apikey_cache
from payments.apikey_cache import ApiKeyCache
from payments.auth import authenticate_request
from payments.db import get_session, utcnow
from payments.models import ApiKey
from tests.factories import invoice_body


def _revoke_elsewhere(app, key_id: str) -> None:
    # As another process (a CLI run, another gunicorn worker) would: straight in the database,
    # without touching this app's cache.
    with app.app_context():
        session = get_session()
        session.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(revoked_at=utcnow()))
        session.commit()


def test_api_key_cache_revoked_elsewhere_works_until_ttl_then_401(client, agency, app):
    key_id = agency.key.split("_")[2]
    with freeze_time("2026-11-26 12:00:00") as frozen:
        assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200
        _revoke_elsewhere(app, key_id)

        frozen.tick(9)
        still_cached = client.get("/api/v1/invoices", headers=agency.headers)
        frozen.tick(1.5)
        expired = client.get("/api/v1/invoices", headers=agency.headers)

    assert still_cached.status_code == 200  # the documented bound: up to API_KEY_CACHE_SECONDS
    assert expired.status_code == 401


def test_api_key_cache_revoked_in_this_process_is_401_at_once(client, agency, app):
    key_id = agency.key.split("_")[2]
    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200
    with app.app_context():
        agencies.revoke_api_key(get_session(), key_id, actor="test")
        get_session().commit()

    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 401


def test_api_key_cache_wrong_secret_for_cached_key_is_401(client, agency):
    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200
    forged = agency.key[:-4] + ("AAAA" if not agency.key.endswith("AAAA") else "BBBB")

    response = client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401


def test_api_key_cache_disabled_sees_revocation_at_once(client, agency, app):
    app.config["API_KEY_CACHE_SECONDS"] = 0
    apikey_cache.init_app(app)
    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200
    _revoke_elsewhere(app, agency.key.split("_")[2])

    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 401


def test_api_key_cache_longer_than_ten_seconds_is_refused():
    with pytest.raises(ValueError, match="API_KEY_CACHE_SECONDS"):
        ApiKeyCache(30)


def test_api_key_cache_entry_survives_a_rollback_of_the_request_that_cached_it(app, agency, client):
    # A rollback expires every object its session holds; a cached key still in that session would
    # be left expired and detached, and every request in the next 10 s would fail reading it.
    with app.test_request_context(headers=agency.headers):
        authenticate_request()
        get_session().execute(select(1))
        get_session().rollback()

    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200
    assert client.post("/api/v1/invoices", json=invoice_body(), headers=agency.headers).status_code == 201
