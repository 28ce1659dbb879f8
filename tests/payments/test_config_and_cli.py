"""Configuration layering, production validation, key rotation, and the admin CLI."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from payments import create_app
from payments.config import ConfigError
from payments.models import ApiKey, AuditEntry
from tests.factories import create_invoice


def test_production_refuses_to_start_and_names_what_is_missing(monkeypatch):
    names = (
        "FEEGATE_SECRET_KEYS",
        "FEEGATE_API_KEY_PEPPER",
        "FEEGATE_BASE_URL",
        "FEEGATE_DATABASE_URL",
        "FEEGATE_CELERY_BROKER_URL",
    )
    for name in names:
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError) as raised:
        create_app({"ENV_NAME": "production"})

    message = str(raised.value)
    for name in names:
        assert name in message


def test_production_starts_with_everything_set(monkeypatch):
    monkeypatch.setenv("FEEGATE_SECRET_KEYS", "old-key-0123456789abcdef,new-key-0123456789abcdef")
    monkeypatch.setenv("FEEGATE_API_KEY_PEPPER", "pepper-0123456789abcdef")
    monkeypatch.setenv("FEEGATE_BASE_URL", "https://pay.example.gov.vn/")
    monkeypatch.setenv("FEEGATE_DATABASE_URL", "postgresql://feegate@db.internal/feegate")
    monkeypatch.setenv("FEEGATE_CELERY_BROKER_URL", "redis://redis.internal:6379/0")

    app = create_app({"ENV_NAME": "production"})

    assert app.config["SECRET_KEYS"] == ["old-key-0123456789abcdef", "new-key-0123456789abcdef"]
    assert app.config["SECRET_KEY"] == "new-key-0123456789abcdef"
    assert app.config["BASE_URL"] == "https://pay.example.gov.vn"
    assert app.config["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-") and app.config["SESSION_COOKIE_SECURE"]


def test_env_variables_override_and_nest(monkeypatch, app_config):
    monkeypatch.setenv("FEEGATE_PROVIDERS__sandbox__secret", "from-env")
    monkeypatch.setenv("FEEGATE_INVOICE_DEFAULT_TTL_SECONDS", "600")

    app = create_app(app_config)

    assert app.config["PROVIDERS"]["sandbox"]["secret"] == "from-env"
    assert app.config["INVOICE_DEFAULT_TTL_SECONDS"] == 600


def test_payment_link_survives_secret_key_rotation(app_config, agency, client):
    invoice = create_invoice(client, agency)
    path = invoice["payment_url"].removeprefix("http://localhost")

    rotated = create_app({**app_config, "SECRET_KEYS": ["dev-only-secret-change-me", "the-new-key"]})
    dropped = create_app({**app_config, "SECRET_KEYS": ["the-new-key"]})

    assert rotated.test_client().get(path).status_code == 200
    assert dropped.test_client().get(path).status_code == 404


def test_cli_creates_agency_and_key_that_works(app, client, session):
    runner = app.test_cli_runner()

    made = runner.invoke(
        args=[
            "agencies",
            "create",
            "--code",
            "DN-STP",
            "--name",
            "Sở Tư pháp Đà Nẵng",
            "--return-origin",
            "https://dichvucong.danang.gov.vn",
            "--treasury-account",
            "3511.0.1",
            "--treasury-code",
            "0511",
        ]
    )
    issued = runner.invoke(args=["api-keys", "create", "--agency", "DN-STP"])

    assert made.exit_code == 0, made.output
    assert issued.exit_code == 0, issued.output
    key = issued.output.strip().splitlines()[-1]
    assert key.startswith("fg_test_") and len(key) > 50
    assert client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    stored = session.scalars(select(ApiKey)).one()
    assert key.split("_")[-1] not in (stored.secret_hash, stored.key_id)  # only a keyed hash is kept
    actions = session.scalars(select(AuditEntry.action)).all()
    assert "agency.created" in actions and "api_key.created" in actions


def test_cli_revoke_stops_the_key_at_once(app, client, agency):
    key_id = agency.key.split("_")[2]

    result = app.test_cli_runner().invoke(args=["api-keys", "revoke", key_id])

    assert result.exit_code == 0
    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 401


@pytest.mark.parametrize(
    "args",
    [
        ["--return-origin", "ftp://x.example"],
        ["--return-origin", "https://user:pw@x.example"],
        ["--return-origin", "not a url"],
    ],
)
def test_cli_agency_with_bad_origin_fails_clearly(app, args):
    result = app.test_cli_runner().invoke(
        args=[
            "agencies",
            "create",
            "--code",
            "X",
            "--name",
            "X",
            "--treasury-account",
            "1",
            "--treasury-code",
            "1",
            *args,
        ]
    )

    assert result.exit_code != 0
    assert "return_origin" in result.output


def test_cli_duplicate_agency_and_unknown_agency_fail_clearly(app, agency):
    runner = app.test_cli_runner()

    dup = runner.invoke(
        args=[
            "agencies",
            "create",
            "--code",
            agency.code,
            "--name",
            "X",
            "--return-origin",
            "https://a.example",
            "--treasury-account",
            "1",
            "--treasury-code",
            "1",
        ]
    )
    nokey = runner.invoke(args=["api-keys", "create", "--agency", "NOPE"])

    assert dup.exit_code != 0 and "exists" in dup.output
    assert nokey.exit_code != 0 and "NOPE" in nokey.output


def test_expire_command_expires_overdue_invoices_only(app, client, agency):
    from datetime import datetime, timedelta

    from freezegun import freeze_time

    later = create_invoice(client, agency, expires_at=(datetime.now(UTC) + timedelta(days=10)).isoformat())
    soon = create_invoice(client, agency)

    with freeze_time(datetime.fromisoformat(soon["expires_at"]) + timedelta(seconds=1)):
        result = app.test_cli_runner().invoke(args=["payments", "expire"])

    assert "1 invoice(s) expired" in result.output
    listed = client.get("/api/v1/invoices", headers=agency.headers).get_json()["data"]
    assert {i["id"]: i["status"] for i in listed} == {soon["id"]: "expired", later["id"]: "open"}
