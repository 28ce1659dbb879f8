"""Provider-specific mapping rules that the shared contract does not pin down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from providers.base import CallbackRequest, CallbackResult, Outcome
from providers.errors import CallbackRejected, ProviderRejected
from providers.http import Timeouts, make_session, send
from providers.momo.mapping import result_outcome
from providers.text import safe_text, strip_diacritics
from providers.vietqr import VietqrAdapter, qr_svg
from providers.vnpay import VnpayAdapter
from providers.vnpay.mapping import from_vnp_amount, payment_outcome, query_outcome
from providers.zalopay.mapping import app_trans_id, create_form, reference_of

from .harness import payment_request, start_harness, stop_harness
from .simulators.vietqr import BankSimulator
from .simulators.vnpay import VnpaySimulator


def test_strip_diacritics_vietnamese_letters_become_ascii():
    assert strip_diacritics("Lệ phí đăng ký ĐẤT ĐAI ủng hộ") == "Le phi dang ky DAT DAI ung ho"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lệ phí cấp hộ chiếu (HS-01)! ~đợt 2", "Le phi cap ho chieu HS-01 dot 2"),
        ("a\n\tb  c", "a b c"),
        ("Phí #12: ok_1.5", "Phi #12: ok_1.5"),
        ("€€€", ""),
    ],
)
def test_safe_text_keeps_only_the_agreed_set(text, expected):
    assert safe_text(text, 255) == expected


def test_safe_text_truncates_without_trailing_space():
    assert safe_text("ab cd", 3) == "ab"


def test_vnpay_payment_url_carries_required_fields_in_vnpay_units():
    sim = VnpaySimulator()
    adapter = VnpayAdapter({**sim.settings(), "pay_url": "https://sandbox.example/pay"})
    request = payment_request(amount=150_000)
    with freeze_time("2026-11-26 17:30:00"):
        request = payment_request(amount=150_000)
        url = adapter.start_payment(request).action.url
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert params["vnp_Amount"] == "15000000"
    assert params["vnp_CreateDate"] == "20261127003000"  # GMT+7: already the next day
    assert params["vnp_ExpireDate"] == "20261127004500"  # capped at the 15-minute window
    assert params["vnp_OrderInfo"] == f"Le phi cap ho chieu HS-01 dot 2 {request.reference}"
    assert params["vnp_Version"] == "2.1.0" and "vnp_SecureHashType" not in params
    assert params["vnp_TxnRef"] == request.reference and params["vnp_CurrCode"] == "VND"


def test_vnpay_payment_url_tampered_amount_rejected_by_simulator():
    harness = start_harness("vnpay")
    try:
        url = harness.adapter().start_payment(payment_request(amount=150_000)).action.url
        page = requests.get(url.replace("vnp_Amount=15000000", "vnp_Amount=100"), timeout=5)
        assert page.status_code == 400 and "signature" in page.text
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        stop_harness(harness)


@pytest.mark.parametrize(
    ("response_code", "status", "outcome"),
    [
        ("00", "00", Outcome.SUCCEEDED),
        ("00", "02", Outcome.FAILED),  # one public demo uses ||: both must be 00
        ("51", "00", Outcome.FAILED),
        ("24", "02", Outcome.CANCELLED),
        ("07", "07", Outcome.PENDING),
        ("11", "02", Outcome.FAILED),
    ],
)
def test_vnpay_payment_outcome_success_needs_both_codes(response_code, status, outcome):
    assert payment_outcome(response_code, status) is outcome


@pytest.mark.parametrize(("status", "outcome"), [("00", Outcome.SUCCEEDED), ("01", Outcome.PENDING),
                                                  ("02", Outcome.FAILED), ("04", Outcome.FAILED),
                                                  ("05", Outcome.SUCCEEDED)])  # fmt: skip
def test_vnpay_query_outcome_by_transaction_status(status, outcome):
    assert query_outcome(status) is outcome


def test_vnpay_amount_not_whole_vnd_is_malformed():
    assert from_vnp_amount("15000000") == 150_000
    with pytest.raises(ValueError):
        from_vnp_amount("15000050")


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (CallbackResult.RECORDED, "00"),
        (CallbackResult.NOT_FOUND, "01"),
        (CallbackResult.DUPLICATE, "02"),
        (CallbackResult.AMOUNT_MISMATCH, "04"),
        (CallbackResult.REJECTED, "97"),
        (CallbackResult.ERROR, "99"),
    ],
)
def test_vnpay_answer_callback_rspcode_table(result, code):
    reply = VnpayAdapter(VnpaySimulator().settings()).answer_callback(result)
    assert reply.status == 200 and json.loads(reply.body)["RspCode"] == code


def test_vnpay_callback_without_hash_rejected():
    adapter = VnpayAdapter(VnpaySimulator().settings())
    query = {"vnp_TxnRef": "FG7K3M9Q2XAB", "vnp_Amount": "100", "vnp_TmnCode": "FEEGATE1"}
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(CallbackRequest("GET", "/callbacks/vnpay", {}, query, b""))


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(0, Outcome.SUCCEEDED), (9000, Outcome.SUCCEEDED), (1000, Outcome.PENDING), (7000, Outcome.PENDING),
     (1006, Outcome.CANCELLED), (1001, Outcome.FAILED), (99, Outcome.FAILED), (4001, Outcome.FAILED)],
)  # fmt: skip
def test_momo_result_outcome_table(code, outcome):
    assert result_outcome(code) is outcome


def test_zalopay_app_trans_id_uses_gmt7_date():
    # 23:30 UTC on the 26th is already the 27th in Vietnam.
    assert app_trans_id("FG7K3M9Q2XAB", datetime(2026, 11, 26, 23, 30, tzinfo=UTC)) == "261127_FG7K3M9Q2XAB"
    assert reference_of("261127_FG7K3M9Q2XAB") == "FG7K3M9Q2XAB"
    with pytest.raises(ValueError):
        reference_of("2611_FG7K3M9Q2XAB")


def test_zalopay_create_form_expiry_clamped_and_embed_data_compact():
    request = payment_request()
    settings = {"app_id": "2553", "key1": "k1"}
    form = create_form(request, settings)
    assert form["expire_duration_seconds"] == "900"
    assert form["embed_data"] == json.dumps({"redirecturl": request.return_url}, separators=(",", ":"))
    short = create_form(
        payment_request().__class__(
            **{**_fields(request), "expires_at": request.created_at + timedelta(seconds=10)}
        ),
        settings,
    )
    assert short["expire_duration_seconds"] == "300"  # ZaloPay's minimum


def _fields(request):
    return {name: getattr(request, name) for name in request.__slots__}


def test_http_send_4xx_raises_rejected_not_unavailable():
    harness = start_harness("momo")
    try:
        with pytest.raises(ProviderRejected):
            send(make_session(), "momo", "GET", harness.simulator.url + "/nowhere", timeouts=Timeouts(1, 1))
    finally:
        stop_harness(harness)


def test_vietqr_notification_older_than_five_minutes_rejected():
    bank = BankSimulator()
    adapter = VietqrAdapter(bank.settings())
    stale = bank.credit(150_000, "FG7K3M9Q2XAB", timestamp=int(datetime.now(UTC).timestamp()) - 301)[0]
    with pytest.raises(CallbackRejected, match="too old"):
        adapter.parse_callback(stale.as_request("/callbacks/vietqr"))


def test_vietqr_ambiguous_content_gives_no_reference():
    bank = BankSimulator()
    adapter = VietqrAdapter(bank.settings())
    callback = bank.credit(150_000, "FG7K3M9Q2XAB FG7K3M9Q2XAC")[0]
    event = adapter.parse_callback(callback.as_request("/callbacks/vietqr"))
    assert event.reference == "" and event.outcome is Outcome.SUCCEEDED


def test_vietqr_qr_svg_is_an_svg_of_the_payload():
    svg = qr_svg("00020101021238570010A000000727")
    assert svg.startswith("<svg") and "VietQR" in svg


def test_vietqr_invalid_bin_setting_refused():
    with pytest.raises(ValueError):
        VietqrAdapter({**BankSimulator().settings(), "bank_bin": "97040"})


@given(st.text(max_size=80))
def test_safe_text_every_official_encoder_agrees(text):
    # PHP urlencode, Python quote_plus, JS URLSearchParams/Java URLEncoder (leave *), .NET (leave !()*)
    from urllib.parse import quote_plus

    from providers.vnpay.signature import php_urlencode

    cleaned = safe_text(text, 255)
    encodings = {php_urlencode(cleaned), quote_plus(cleaned, safe=""), quote_plus(cleaned, safe="*"),
                 quote_plus(cleaned, safe="!()*"), quote_plus(cleaned, safe="~")}  # fmt: skip
    assert len(encodings) == 1


def test_momo_pay_with_method_accepted_by_simulator():
    harness = start_harness("momo")
    try:
        adapter = harness.adapter(request_type="payWithMethod")
        request = payment_request()
        assert "/pay/" in adapter.start_payment(request).action.url
        assert request.reference in harness.simulator.orders
    finally:
        stop_harness(harness)


def test_momo_unknown_request_type_refused():
    with pytest.raises(ValueError):
        from providers.momo import MomoAdapter

        MomoAdapter({"partner_code": "P", "access_key": "A", "secret_key": "S", "request_type": "payWithCC"})


def _query_vnpay_after(minutes_ago, status=None):
    from providers.base import PaymentQuery

    harness = start_harness("vnpay")
    try:
        sim = harness.simulator
        request = payment_request()
        requests.get(harness.adapter().start_payment(request).action.url, timeout=5)
        if status:
            sim.pay(request.reference, "00")
            sim.orders[request.reference].transaction_status = status
        created = request.created_at - timedelta(minutes=minutes_ago)
        return harness.adapter().query_status(PaymentQuery(request.reference, None, request.amount, created))
    finally:
        stop_harness(harness)


@pytest.mark.parametrize(
    ("minutes_ago", "status", "outcome"),
    [
        (0, None, Outcome.PENDING),  # not found yet: the citizen may still be choosing a bank
        (31, None, Outcome.CANCELLED),  # not found after the window and its margin: abandoned
        (0, "01", Outcome.PENDING),
        (31, "01", Outcome.CANCELLED),
        (31, "07", Outcome.PENDING),  # money held for a fraud review is never written off
        (31, "00", Outcome.SUCCEEDED),
    ],
)
def test_vnpay_querydr_abandoned_attempt_cancelled_only_after_window(minutes_ago, status, outcome):
    assert _query_vnpay_after(minutes_ago, status).outcome is outcome


@pytest.mark.parametrize(
    ("return_code", "minutes_ago", "outcome"),
    [(1, 0, Outcome.SUCCEEDED), (3, 0, Outcome.PENDING), (2, 0, Outcome.PENDING), (2, 31, Outcome.FAILED),
     (3, 31, Outcome.PENDING)],
)  # fmt: skip
def test_zalopay_query_failed_is_final_only_after_order_expiry(return_code, minutes_ago, outcome):
    from providers.base import PaymentQuery
    from providers.zalopay.mapping import event_from_query, payable_until

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    created = now - timedelta(minutes=minutes_ago)
    query = PaymentQuery("FG7K3M9Q2XAB", None, 50_000, created)
    response = {"return_code": return_code, "amount": 50_000 if return_code == 1 else 0, "zp_trans_id": 1}
    event = event_from_query(query, response, "2553", now=now, until=payable_until(created, {}))
    assert event.outcome is outcome
    assert event.amount == 50_000
