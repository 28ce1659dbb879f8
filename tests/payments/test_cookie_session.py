"""The checkout's cookie session: its signing serializer is built once, yet key rotation still applies."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

from tests import factories


def test_a_rotated_key_applies_at_once_and_old_cookies_stay_readable(app: Flask) -> None:
    interface = app.session_interface
    with app.test_request_context():
        old_cookie = interface.get_signing_serializer(app).dumps({"lang": "en"})  # type: ignore[attr-defined]
    old_key = app.secret_key
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    app.secret_key = "a-newer-key-for-signing-checkout-cookies"

    with app.test_request_context(headers={"Cookie": f"feegate_session={old_cookie}"}):
        assert interface.open_session(app, request) == {"lang": "en"}  # read with the fallback key
        new_cookie = interface.get_signing_serializer(app).dumps({"lang": "vi"})  # type: ignore[attr-defined]

    # Signed with the newest key: Flask's own interface with only the old key refuses it.
    only_old = Flask("only_old")
    only_old.secret_key = old_key
    with only_old.test_request_context(headers={"Cookie": f"session={new_cookie}"}):
        assert SecureCookieSessionInterface().open_session(only_old, request) == {}
    with app.test_request_context(headers={"Cookie": f"feegate_session={new_cookie}"}):
        assert interface.open_session(app, request) == {"lang": "vi"}


def test_api_answers_set_no_cookie_and_do_not_vary_on_it(client, agency: factories.AgencyWithKey) -> None:
    body = factories.invoice_body(return_url=f"{agency.origin}/ket-qua")
    response = client.post("/api/v1/invoices", json=body, headers=agency.headers)

    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_the_checkout_language_choice_still_sets_its_cookie(client, agency: factories.AgencyWithKey) -> None:
    created = factories.create_invoice(client, agency)

    page = client.get(urlsplit(created["payment_url"]).path + "?lang=en")

    assert page.status_code == 200
    assert "feegate_session=" in page.headers.get("Set-Cookie", "")
