"""The citizen's whole journey over HTTP, with the built-in sandbox bank."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import func, select

from payments.models import AuditEntry, Payment
from tests.factories import create_invoice, csrf_token, form_fields
from webhooks.models import InboundCallback, OutboxEvent


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _pay_with_sandbox(client, invoice, decision: str):
    page = client.get(_path(invoice["payment_url"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    chosen = client.post(
        _path(invoice["payment_url"]),
        data={"csrf_token": csrf_token(html), "provider": "sandbox", "nonce": form_fields(html)["nonce"]},
    )
    assert chosen.status_code == 303
    bank_url = chosen.headers["Location"]
    assert urlsplit(bank_url).path == "/sandbox-bank/pay"
    bank_page = client.get(_path(bank_url))
    assert bank_page.status_code == 200
    fields = form_fields(bank_page.get_data(as_text=True))
    fields["decision"] = decision
    back = client.post("/sandbox-bank/pay", data=fields)
    assert back.status_code == 303
    return client.get(_path(back.headers["Location"]))


def test_citizen_flow_sandbox_approve_pays_invoice(client, agency, session):
    invoice = create_invoice(client, agency)
    assert invoice["status"] == "open" and invoice["total"] == 1_250_000

    result = _pay_with_sandbox(client, invoice, "approve")

    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert "Thanh toán thành công" in html or "Payment successful" in html
    assert invoice["return_url"] in html
    api = client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).get_json()
    assert api["status"] == "paid" and api["paid_at"]
    payments = session.scalars(select(Payment)).all()
    assert [(p.status.value, p.provider_code) for p in payments] == [("succeeded", "sandbox")]
    inbox = session.scalars(select(InboundCallback)).all()
    assert [row.outcome for row in inbox] == ["applied"]
    events = session.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.created_at)).all()
    assert events.count("invoice.paid") == 1 and events.count("payment.succeeded") == 1


def test_citizen_flow_sandbox_decline_leaves_invoice_open(client, agency, session):
    invoice = create_invoice(client, agency)

    result = _pay_with_sandbox(client, invoice, "decline")

    assert result.status_code == 200
    assert (
        client.get(f"/api/v1/invoices/{invoice['id']}", headers=agency.headers).get_json()["status"] == "open"
    )
    assert session.scalars(select(Payment.status)).one().value == "failed"
    # The citizen can try again: the checkout still offers the providers.
    again = client.get(_path(invoice["payment_url"]))
    assert 'name="provider"' in again.get_data(as_text=True)


def test_checkout_double_submit_creates_one_attempt(client, agency, session):
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    form = {"csrf_token": csrf_token(html), "provider": "sandbox", "nonce": form_fields(html)["nonce"]}

    first = client.post(_path(invoice["payment_url"]), data=form)
    second = client.post(_path(invoice["payment_url"]), data=form)

    assert first.headers["Location"] == second.headers["Location"]
    assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_paid_invoice_checkout_shows_no_pay_button(client, agency):
    invoice = create_invoice(client, agency)
    _pay_with_sandbox(client, invoice, "approve")

    page = client.get(_path(invoice["payment_url"]))

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="provider"' not in html
    assert "1.250.000" in html


def test_return_page_ignores_outcome_in_query_string(client, agency, session):
    invoice = create_invoice(client, agency)
    html = client.get(_path(invoice["payment_url"])).get_data(as_text=True)
    client.post(
        _path(invoice["payment_url"]),
        data={"csrf_token": csrf_token(html), "provider": "sandbox", "nonce": "n1"},
    )
    payment = session.scalars(select(Payment)).one()
    from payments.checkout_links import return_url_for

    with client.application.test_request_context():
        url = return_url_for(payment.public_id)

    page = client.get(_path(url) + "?status=succeeded&vnp_ResponseCode=00")

    text = page.get_data(as_text=True)
    assert "Payment successful" not in text and "Thanh toán thành công" not in text
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "invoice.paid")
        )
        == 0
    )
