"""The invoices API contract: creation, reads, listing, cancelling, and every kind of bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from payments.models import Invoice
from tests.factories import PORTAL, create_invoice, invoice_body
from webhooks.models import OutboxEvent


def _count(session, model) -> int:
    session.rollback()  # see other connections' commits
    return int(session.scalar(select(func.count()).select_from(model)))


def _items(*, times: int = 1, **change: object) -> list[dict[str, object]]:
    """``times`` copies of one otherwise valid invoice line with ``change`` applied."""
    item = {"fee_code": "X", "description": "d", "amount": 5, "chapter_code": "418", "sub_item_code": "2665"}
    return [{**item, **change} for _ in range(times)]


def test_create_invoice_returns_invoice_with_signed_payment_link(client, agency, session):
    response = client.post("/api/v1/invoices", json=invoice_body(), headers=agency.headers)

    assert response.status_code == 201
    data = response.get_json()
    assert data["id"].startswith("inv_") and response.headers["Location"] == f"/api/v1/invoices/{data['id']}"
    assert data["total"] == 1_250_000 and data["currency"] == "VND" and data["status"] == "open"
    assert [i["amount"] for i in data["items"]] == [1_200_000, 50_000]
    assert data["items"][0]["chapter_code"] == "418" and data["language"] == "vi"
    assert data["payment_url"].startswith("http://localhost/pay/")
    assert data["payer"]["name"] == "Nguyễn Văn A"
    assert _count(session, OutboxEvent) == 1


def test_create_invoice_defaults_expiry_to_24_hours(client, agency):
    data = create_invoice(client, agency)
    from datetime import datetime

    created = datetime.fromisoformat(data["created_at"])
    expires = datetime.fromisoformat(data["expires_at"])
    assert (expires - created).total_seconds() == pytest.approx(24 * 3600, abs=2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": _items(amount=0)}, "items.0.amount"),
        ({"items": _items(amount=-5)}, "items.0.amount"),
        ({"items": _items(amount=10**12 + 1)}, "items.0.amount"),
        ({"items": _items(amount=1.5)}, "items.0.amount"),
        ({"items": _items(amount="100")}, "items.0.amount"),
        ({"items": _items(amount=True)}, "items.0.amount"),
        ({"items": _items(amount=10**12, times=2)}, "items"),
        ({"items": _items(amount=5, chapter_code="41")}, "items.0.chapter_code"),
        ({"total": 5}, "total"),
        ({"currency": "USD"}, "currency"),
        ({"reference": ""}, "reference"),
        ({"reference": "x" * 65}, "reference"),
        ({"description": "bad\u0000byte"}, "description"),
        ({"description": "lone \ud800 surrogate"}, "description"),
        ({"language": "fr"}, "language"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": {"k": "v" * 256}}, "metadata"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"payer": {"email": "not-an-email"}}, "payer.email"),
        ({"payer": {"nickname": "x"}}, "payer.nickname"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
        ({"expires_at": "2999-01-01T00:00:00+00:00"}, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ],
)
def test_create_invoice_bad_field_is_422_naming_it_and_writes_nothing(client, agency, session, change, field):
    # json.dumps escapes a lone surrogate as \ud800, as a real client's encoder would.
    body = json.dumps(invoice_body(**change))
    response = client.post(
        "/api/v1/invoices", data=body, content_type="application/json", headers=agency.headers
    )

    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and problem["type"] == "/api/v1/problems/validation-error"
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert _count(session, Invoice) == 0


def test_create_invoice_missing_fields_are_each_named(client, agency):
    response = client.post("/api/v1/invoices", json={}, headers=agency.headers)

    fields = {e["field"] for e in response.get_json()["errors"]}
    assert {"reference", "description", "items", "return_url"} <= fields


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"reference": ', "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b'"just a string"', "application/json", 422),
        (b"reference=x", "application/x-www-form-urlencoded", 422),
    ],
)
def test_create_invoice_malformed_body_is_4xx_problem(client, agency, session, body, content_type, status):
    response = client.post("/api/v1/invoices", data=body, content_type=content_type, headers=agency.headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert _count(session, Invoice) == 0


def test_create_invoice_oversized_body_is_413(client, agency, session):
    body = invoice_body(description="x" * 100_000)

    response = client.post("/api/v1/invoices", json=body, headers=agency.headers)

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert _count(session, Invoice) == 0


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer fg_test_nonsense",
        "Bearer fg_test_0123456789abcdef_wrongsecret",
    ],
)
def test_api_without_valid_key_is_401(client, agency, session, header):
    headers = {"Authorization": header} if header else {}

    response = client.post("/api/v1/invoices", json=invoice_body(), headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"
    assert _count(session, Invoice) == 0


def test_api_with_tampered_secret_is_401(client, agency):
    tampered = agency.key[:-1] + ("A" if agency.key[-1] != "A" else "B")

    response = client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {tampered}"})

    assert response.status_code == 401


def test_api_revoked_key_is_401(client, agency, app):
    from payments import agencies
    from payments.db import get_session

    key_id = agency.key.split("_")[2]
    with app.app_context():
        agencies.revoke_api_key(get_session(), key_id, actor="test")
        get_session().commit()

    response = client.get("/api/v1/invoices", headers=agency.headers)

    assert response.status_code == 401


def test_api_live_key_on_test_deployment_is_401(client, agency):
    live = agency.key.replace("fg_test_", "fg_live_", 1)

    assert client.get("/api/v1/invoices", headers={"Authorization": f"Bearer {live}"}).status_code == 401


@pytest.mark.parametrize(
    "return_url",
    [
        "//evil.example/x",
        "https://dichvucong.example.gov.vn.evil.com/ket-qua",
        "https://evil.com\\@dichvucong.example.gov.vn/",
        "https://user:pw@dichvucong.example.gov.vn/",
        "javascript:alert(1)",
        "http://dichvucong.example.gov.vn/ket-qua",
        "https://dichvucong.example.gov.vn:8443/ket-qua",
        "https://dichvucong.hanoi.gov.vn/ket-qua",
        "https://xn--dchvcng-m2a.example.gov.vn/",
        "https://dịchvụcông.example.gov.vn/",
        "data:text/html,hi",
        "/relative/path",
    ],
)
def test_create_invoice_return_url_off_registered_origins_is_422(
    client, agency, other_agency, session, return_url
):
    response = client.post(
        "/api/v1/invoices", json=invoice_body(return_url=return_url), headers=agency.headers
    )

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "return_url"
    assert _count(session, Invoice) == 0


def test_create_invoice_return_url_on_registered_origin_is_kept_verbatim(client, agency):
    url = f"{PORTAL}:443/thanh-toan/ket-qua?hoso=H40"

    data = client.post(
        "/api/v1/invoices", json=invoice_body(return_url=url), headers=agency.headers
    ).get_json()

    assert data["return_url"] == url


def test_get_invoice_of_another_agency_is_404(client, agency, other_agency):
    invoice = create_invoice(client, agency)

    assert client.get(f"/api/v1/invoices/{invoice['id']}", headers=other_agency.headers).status_code == 404
    assert (
        client.post(f"/api/v1/invoices/{invoice['id']}/cancel", headers=other_agency.headers).status_code
        == 404
    )
    assert client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).status_code == 200


def test_get_unknown_invoice_is_404_problem(client, agency):
    response = client.get("/api/v1/invoices/inv_doesnotexist", headers=agency.headers)

    assert response.status_code == 404 and response.get_json()["type"] == "/api/v1/problems/not-found"


def test_list_invoices_filters_and_paginates_with_cursor(client, agency, other_agency):
    made = [create_invoice(client, agency, reference=f"H40-{i % 2}") for i in range(5)]
    create_invoice(client, other_agency, reference="H40-0")

    first = client.get("/api/v1/invoices?limit=2", headers=agency.headers).get_json()
    second = client.get(
        f"/api/v1/invoices?limit=2&cursor={first['next_cursor']}", headers=agency.headers
    ).get_json()
    third = client.get(
        f"/api/v1/invoices?limit=2&cursor={second['next_cursor']}", headers=agency.headers
    ).get_json()
    by_ref = client.get("/api/v1/invoices?reference=H40-0", headers=agency.headers).get_json()

    ids = [i["id"] for page in (first, second, third) for i in page["data"]]
    assert ids == [m["id"] for m in reversed(made)]
    assert first["has_more"] and second["has_more"] and not third["has_more"] and third["next_cursor"] is None
    assert {i["reference"] for i in by_ref["data"]} == {"H40-0"} and len(by_ref["data"]) == 3


def test_list_invoices_by_status_and_time(client, agency):
    a = create_invoice(client, agency)
    create_invoice(client, agency)
    client.post(f"/api/v1/invoices/{a['id']}/cancel", headers=agency.headers)

    cancelled = client.get("/api/v1/invoices?status=cancelled", headers=agency.headers).get_json()
    future = client.get(
        "/api/v1/invoices?created_from=2999-01-01T00:00:00Z", headers=agency.headers
    ).get_json()

    assert [i["id"] for i in cancelled["data"]] == [a["id"]]
    assert future["data"] == []


@pytest.mark.parametrize(
    "query", ["status=bogus", "limit=0", "limit=101", "cursor=%%%", "cursor=aTpYWA", "colour=red"]
)
def test_list_invoices_bad_query_is_422(client, agency, query):
    response = client.get(f"/api/v1/invoices?{query}", headers=agency.headers)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_cancel_open_invoice_then_again_is_idempotent(client, agency, session):
    invoice = create_invoice(client, agency)

    first = client.post(f"/api/v1/invoices/{invoice['id']}/cancel", headers=agency.headers)
    second = client.post(f"/api/v1/invoices/{invoice['id']}/cancel", headers=agency.headers)

    assert first.status_code == 200 and first.get_json()["status"] == "cancelled"
    assert second.status_code == 200
    session.rollback()
    assert session.scalars(select(OutboxEvent.event_type)).all().count("invoice.cancelled") == 1


def test_cancel_paid_invoice_is_409(client, agency, app):
    from tests.payments.test_checkout_flow import _pay_with_sandbox

    invoice = create_invoice(client, agency)
    _pay_with_sandbox(client, invoice, "approve")

    response = client.post(f"/api/v1/invoices/{invoice['id']}/cancel", headers=agency.headers)

    assert response.status_code == 409
    assert response.get_json()["type"] == "/api/v1/problems/invalid-transition"
    assert (
        client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).get_json()["status"] == "paid"
    )


def test_unknown_api_route_and_method_are_problems(client, agency):
    assert client.get("/api/v1/nothing", headers=agency.headers).status_code == 404
    response = client.delete("/api/v1/invoices", headers=agency.headers)
    assert response.status_code == 405 and response.mimetype == "application/problem+json"


def test_openapi_document_and_docs_page_are_served(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    docs = client.get("/api/v1/docs")

    assert "/api/v1/invoices" in spec["paths"] and "post" in spec["paths"]["/api/v1/invoices"]
    assert "InvoiceCreate" in spec["components"]["schemas"]
    assert docs.status_code == 200 and "/api/v1/invoices" in docs.get_data(as_text=True)
