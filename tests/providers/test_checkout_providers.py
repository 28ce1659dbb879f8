"""The citizen's whole journey over HTTP with each real adapter against its simulator."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import select

from payments.models import Payment
from providers.vietqr import emvco
from webhooks.models import InboundCallback

from .harness import ALL_CODES
from .live import deliver, read_db

ACKNOWLEDGED = {
    "vnpay": lambda r: r.status_code == 200 and r.json()["RspCode"] == "00",
    "momo": lambda r: r.status_code == 204,
    "zalopay": lambda r: r.status_code == 200 and r.json()["return_code"] == 1,
    "vietqr": lambda r: r.status_code == 200 and r.json()["result"] == "recorded",
}


def _payment(app, **where):
    return read_db(app, lambda s: s.scalars(select(Payment).filter_by(**where)).one())


def _start(api, checkout, code):
    invoice = api.create_invoice()
    chosen = checkout.choose(invoice["payment_url"], code)
    return invoice, chosen


def _pay(harness, app, chosen, reference):
    """The citizen completes the payment at the provider; return the provider's callbacks."""
    if harness.code == "vietqr":
        assert chosen.status_code == 200
        return harness.simulator.credit(1_250_000, f"CK {reference.lower()} le phi")
    assert chosen.status_code == 303
    assert requests.get(chosen.headers["Location"], timeout=10).status_code == 200  # the provider's page
    if harness.code == "vnpay":
        return harness.simulator.pay(reference, "00")
    if harness.code == "momo":
        return harness.simulator.pay(reference, 0)
    return harness.simulator.pay(reference)


@pytest.mark.parametrize("code", ALL_CODES)
def test_checkout_each_provider_paid_by_callback_pays_invoice(code, served_app, harnesses, api, checkout):
    invoice, chosen = _start(api, checkout, code)
    payment = _payment(served_app, provider_code=code)
    assert payment.status.value == "pending"

    replies = deliver(harnesses[code], _pay(harnesses[code], served_app, chosen, payment.reference),
                      checkout.server)  # fmt: skip

    assert [ACKNOWLEDGED[code](reply) for reply in replies] == [True]
    assert api.invoice(invoice["id"])["status"] == "paid"
    paid = _payment(served_app, provider_code=code)
    assert paid.status.value == "succeeded" and paid.provider_ref
    back = checkout.browser.get(f"{checkout.server.url}/pay/return/x", timeout=10)
    assert back.status_code == 404  # the return page is reached only through a signed link


def test_checkout_vietqr_page_shows_qr_svg_and_typed_details(served_app, api, checkout):
    invoice, chosen = _start(api, checkout, "vietqr")
    reference = _payment(served_app, provider_code="vietqr").reference

    html = chosen.text
    assert "<svg" in html and "VietQR" in html
    assert reference in html and "0011012345678" in html and "1.250.000" in html
    stored = _payment(served_app, provider_code="vietqr").next_action
    qr = emvco.parse(stored["payload"])
    assert (qr.amount, qr.bill_number, qr.bank_bin) == (1_250_000, reference, "970403")


def test_checkout_vnpay_redirect_url_is_accepted_by_simulator(served_app, harnesses, api, checkout):
    _, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference
    requests.get(chosen.headers["Location"], timeout=10)
    assert harnesses["vnpay"].simulator.orders[reference].amount == 1_250_000
    assert harnesses["vnpay"].simulator.rejected_pages == []


def test_callback_vnpay_duplicate_answered_already_confirmed(served_app, harnesses, api, checkout):
    harnesses["vnpay"].simulator.faults.duplicate = True
    _, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference

    first, second = deliver(harnesses["vnpay"], _pay(harnesses["vnpay"], served_app, chosen, reference),
                            checkout.server)  # fmt: skip

    assert (first.json()["RspCode"], second.json()["RspCode"]) == ("00", "02")
    outcomes = read_db(served_app, lambda s: s.scalars(select(InboundCallback.outcome)).all())
    assert sorted(outcomes) == ["applied", "duplicate"]


def test_callback_vnpay_wrong_amount_flags_review_and_answers_04(served_app, harnesses, api, checkout):
    harnesses["vnpay"].simulator.faults.wrong_amount = True
    invoice, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference

    [reply] = deliver(
        harnesses["vnpay"], _pay(harnesses["vnpay"], served_app, chosen, reference), checkout.server
    )

    assert reply.json()["RspCode"] == "04"
    payment = _payment(served_app, reference=reference)
    assert (payment.status.value, payment.review_reason) == ("pending", "amount_mismatch")
    assert api.invoice(invoice["id"])["status"] == "open"


@pytest.mark.parametrize("code", ["vnpay", "momo", "zalopay", "vietqr"])
def test_callback_wrong_signature_rejected_without_state_change(code, served_app, harnesses, api, checkout):
    harnesses[code].simulator.faults.wrong_signature = True
    invoice, chosen = _start(api, checkout, code)
    reference = _payment(served_app, provider_code=code).reference

    [reply] = deliver(harnesses[code], _pay(harnesses[code], served_app, chosen, reference), checkout.server)

    assert not ACKNOWLEDGED[code](reply)
    if code == "vnpay":
        assert reply.status_code == 200 and reply.json()["RspCode"] == "97"
    assert _payment(served_app, reference=reference).status.value == "pending"
    assert read_db(served_app, lambda s: s.scalars(select(InboundCallback.outcome)).all()) == ["rejected"]


def test_callback_momo_stale_pending_after_success_leaves_invoice_paid(served_app, harnesses, api, checkout):
    harnesses["momo"].simulator.faults.out_of_order = True
    invoice, chosen = _start(api, checkout, "momo")
    reference = _payment(served_app, provider_code="momo").reference

    replies = deliver(
        harnesses["momo"], _pay(harnesses["momo"], served_app, chosen, reference), checkout.server
    )

    assert [r.status_code for r in replies] == [204, 204]
    assert api.invoice(invoice["id"])["status"] == "paid"
    assert _payment(served_app, reference=reference).status.value == "succeeded"


def test_callback_vietqr_unmatched_content_kept_as_not_found(served_app, harnesses, api, checkout):
    _start(api, checkout, "vietqr")
    [callback] = harnesses["vietqr"].simulator.credit(1_250_000, "chuyen tien le phi ho so")

    [reply] = deliver(harnesses["vietqr"], [callback], checkout.server)

    assert (reply.status_code, reply.json()) == (200, {"result": "not_found"})
    rows = read_db(served_app, lambda s: s.scalars(select(InboundCallback)).all())
    assert [row.outcome for row in rows] == ["not_found"]
    assert "chuyen tien" in rows[0].body and "webhook-signature" not in json.dumps(rows[0].body)


def test_callback_vnpay_unknown_reference_answered_order_not_found(
    served_app, harnesses, checkout, provider_agency
):
    from .simulators.vnpay import VnpOrder

    sim = harnesses["vnpay"].simulator
    sim.orders["FG0000000000"] = VnpOrder("FG0000000000", 10_000, "20261126120000", "x")

    [reply] = deliver(harnesses["vnpay"], sim.pay("FG0000000000"), checkout.server)

    assert (reply.status_code, reply.json()["RspCode"]) == (200, "01")


@pytest.mark.parametrize("code", ALL_CODES)
def test_callback_inbox_row_keeps_no_signature(code, served_app, harnesses, api, checkout):
    _, chosen = _start(api, checkout, code)
    reference = _payment(served_app, provider_code=code).reference
    [callback] = _pay(harnesses[code], served_app, chosen, reference)
    signature = {
        "vnpay": lambda: callback.query["vnp_SecureHash"],
        "momo": lambda: json.loads(callback.body)["signature"],
        "zalopay": lambda: json.loads(callback.body)["mac"],
        "vietqr": lambda: callback.headers["webhook-signature"].split(",", 1)[1],
    }[code]()

    deliver(harnesses[code], [callback], checkout.server)

    [row] = read_db(served_app, lambda s: s.scalars(select(InboundCallback)).all())
    stored = json.dumps([row.headers, row.query, row.body])
    assert row.outcome == "applied" and reference.lower() in stored.lower()
    assert signature not in stored


CLAIM = 'class="provider-claim"'


def test_return_url_signed_success_is_shown_but_not_applied(served_app, harnesses, api, checkout):
    invoice, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference
    checkout.browser.get(chosen.headers["Location"], timeout=10)
    sim = harnesses["vnpay"].simulator
    sim.pay(reference, "00")  # paid; the IPN has not arrived yet

    page = checkout.browser.get(sim.return_redirect(reference), timeout=10)
    sim.faults.wrong_signature = True
    forged = checkout.browser.get(sim.return_redirect(reference), timeout=10)

    assert page.status_code == 200 and CLAIM in page.text
    assert forged.status_code == 200 and CLAIM not in forged.text
    assert _payment(served_app, reference=reference).status.value == "pending"
    assert api.invoice(invoice["id"])["status"] == "open"


def _tampered(ipn, how):
    from .simulators.base import SimCallback

    query = dict(ipn.query)
    if how == "amount":
        query["vnp_Amount"] = str(int(query["vnp_Amount"]) - 100)
    elif how == "signature":
        query["vnp_SecureHash"] = query["vnp_SecureHash"][:-1] + (
            "0" if query["vnp_SecureHash"][-1] != "0" else "1"
        )
    elif how == "missing":
        del query["vnp_SecureHash"]
    elif how == "terminal":
        query["vnp_TmnCode"] = "OTHERTMN"
    return SimCallback(method="GET", query=query)


@pytest.mark.parametrize("how", ["amount", "signature", "missing", "terminal", "wrong_key"])
def test_callback_vnpay_tampered_ipn_answered_97_without_state_change(
    how, served_app, harnesses, api, checkout
):
    from .simulators.vnpay import query_hash

    invoice, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference
    [ipn] = _pay(harnesses["vnpay"], served_app, chosen, reference)
    if how == "wrong_key":
        forged = {k: v for k, v in ipn.query.items() if k != "vnp_SecureHash"}
        ipn = type(ipn)(
            method="GET", query={**forged, "vnp_SecureHash": query_hash("guessed-secret", forged)}
        )
    else:
        ipn = _tampered(ipn, how)

    [reply] = deliver(harnesses["vnpay"], [ipn], checkout.server)

    assert (reply.status_code, reply.json()["RspCode"]) == (200, "97")
    assert _payment(served_app, reference=reference).status.value == "pending"
    assert api.invoice(invoice["id"])["status"] == "open"
    assert read_db(served_app, lambda s: s.scalars(select(InboundCallback.outcome)).all()) == ["rejected"]


def test_callback_vnpay_success_for_cancelled_attempt_acknowledged_and_flagged(
    served_app, harnesses, api, checkout
):
    from sqlalchemy import update

    from payments.db import utcnow
    from payments.models import Invoice

    invoice, chosen = _start(api, checkout, "vnpay")
    reference = _payment(served_app, provider_code="vnpay").reference

    def expire(session):
        session.execute(update(Invoice).values(expires_at=utcnow()))
        session.commit()

    read_db(served_app, expire)
    served_app.test_cli_runner().invoke(args=["payments", "mop-up"])
    assert _payment(served_app, reference=reference).status.value == "cancelled"

    [reply] = deliver(
        harnesses["vnpay"], _pay(harnesses["vnpay"], served_app, chosen, reference), checkout.server
    )

    assert reply.json()["RspCode"] == "00"  # acknowledged: VNPay must stop resending
    payment = _payment(served_app, reference=reference)
    assert (payment.status.value, payment.review_reason) == ("cancelled", "late_success")
    assert api.invoice(invoice["id"])["status"] == "expired"


def test_checkout_offers_only_providers_with_credentials(served_app, api, checkout):
    from tests import factories

    other = factories.create_agency_with_key(served_app, code="HN-TP", providers=("vnpay", "momo", "sandbox"),
                                             origin="https://dvc.hanoi.gov.vn")  # fmt: skip
    body = factories.invoice_body(return_url=f"{other.origin}/ket-qua")
    invoice = requests.post(f"{checkout.server.url}/api/v1/invoices", json=body, headers=other.headers,
                            timeout=10).json()  # fmt: skip

    page = checkout.browser.get(invoice["payment_url"], timeout=10).text

    assert 'value="sandbox"' in page
    assert 'value="vnpay"' not in page and 'value="momo"' not in page
    refused = checkout.choose(invoice["payment_url"], "vnpay")
    assert refused.status_code == 400


def test_checkout_vietqr_offered_in_vietnamese(served_app, api, checkout):
    invoice = api.create_invoice()
    page = checkout.browser.get(invoice["payment_url"], timeout=10).text
    assert "Chuyển khoản ngân hàng (VietQR)" in page and 'value="vietqr"' in page
