"""The shared contract: every adapter, against its own simulator, through the same cases."""

from __future__ import annotations

import base64
import json

import pytest

from providers.base import (
    CallbackReply,
    CallbackResult,
    Outcome,
    PaymentQuery,
    RefundRequest,
    SupportsRefund,
)
from providers.errors import CallbackRejected, ProviderUnavailable
from providers.vietqr import emvco

from .harness import ALL_CODES, Harness, payment_request, start_harness, stop_harness

CALLBACK_PATH = "/callbacks/provider"
SECRET_SETTING = {
    "vnpay": "hash_secret",
    "momo": "secret_key",
    "zalopay": "key2",
    "vietqr": "notification_secret",
}
OTHER_SECRET = {"vietqr": "whsec_" + base64.b64encode(b"another-bank-secret-of-32-bytes!").decode()}
MERCHANT_SETTING = {
    "vnpay": "tmn_code",
    "momo": "partner_code",
    "zalopay": "app_id",
    "vietqr": "account_number",
}


def acknowledged(code: str, reply: CallbackReply) -> bool:
    """Whether the provider takes ``reply`` as "received, do not send again"."""
    if code == "vnpay":
        return reply.status == 200 and json.loads(reply.body)["RspCode"] in {"00", "01", "02", "04"}
    if code == "momo":
        return reply.status == 204
    if code == "zalopay":
        return reply.status == 200 and json.loads(reply.body)["return_code"] != 0
    return 200 <= reply.status < 300


@pytest.fixture(params=ALL_CODES)
def harness(request):
    started = start_harness(request.param)
    yield started
    stop_harness(started)


@pytest.fixture
def api_harness(harness):
    if not harness.has_api:
        pytest.skip(f"{harness.code} makes no server-to-server calls")
    return harness


def _paid(harness: Harness, amount: int = 150_000, succeed: bool = True):
    adapter = harness.adapter()
    request = payment_request(amount)
    result = adapter.start_payment(request)
    return adapter, request, result, harness.pay(result, request, succeed)


def _query(request, provider_ref=None) -> PaymentQuery:
    return PaymentQuery(request.reference, provider_ref, request.amount, request.created_at)


def test_contract_adapter_code_matches_class_attributes(harness):
    adapter = harness.adapter()
    assert adapter.code == harness.code and adapter.display_name
    assert adapter.merchant_id == str(harness.simulator.settings()[MERCHANT_SETTING[harness.code]]) or (
        harness.code == "vietqr" and adapter.merchant_id.endswith(":" + harness.simulator.account_number)
    )


def test_contract_start_payment_is_accepted_by_provider(harness):
    adapter, request, result, _ = _paid(harness)
    if harness.code == "vietqr":
        qr = emvco.parse(result.action.payload)
        assert (qr.amount, qr.bill_number, qr.purpose) == (
            request.amount,
            request.reference,
            request.reference,
        )
        assert result.action.transfer_content == request.reference
    else:
        order = harness.simulator.orders.get(request.reference) or harness.simulator.order_for(
            request.reference
        )
        assert order.amount == request.amount


def test_contract_paid_callback_parses_to_succeeded_event(harness):
    adapter, request, _, callbacks = _paid(harness)
    callback = callbacks[0].as_request(CALLBACK_PATH)
    event = adapter.parse_callback(callback)
    assert (event.reference, event.outcome, event.amount, event.currency) == (
        request.reference, Outcome.SUCCEEDED, request.amount, "VND",
    )  # fmt: skip
    assert event.provider_ref and event.external_id
    assert harness.adapter_class.callback_merchant_id(callback) == adapter.merchant_id


def test_contract_failed_payment_callback_parses_to_not_succeeded(harness):
    if not harness.can_fail_by_callback:
        pytest.skip(f"{harness.code} calls back only when the money arrived")
    adapter, request, _, callbacks = _paid(harness, succeed=False)
    event = adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH))
    assert event.reference == request.reference
    assert event.outcome in (Outcome.FAILED, Outcome.CANCELLED)


def test_contract_wrong_signature_rejected(harness):
    harness.simulator.faults.wrong_signature = True
    adapter, _, _, callbacks = _paid(harness)
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH))


def test_contract_other_secret_rejected(harness):
    adapter, request, _, callbacks = _paid(harness)
    other = harness.adapter(
        **{SECRET_SETTING[harness.code]: OTHER_SECRET.get(harness.code, "another-secret")}
    )
    with pytest.raises(CallbackRejected):
        other.parse_callback(callbacks[0].as_request(CALLBACK_PATH))


def test_contract_callback_for_other_merchant_rejected(harness):
    _, _, _, callbacks = _paid(harness)
    other = harness.adapter(**{MERCHANT_SETTING[harness.code]: "99999999"})
    with pytest.raises(CallbackRejected):
        other.parse_callback(callbacks[0].as_request(CALLBACK_PATH))


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"data": 1}', b"\xff\xfe"])
def test_contract_malformed_callback_rejected(harness, body):
    from providers.base import CallbackRequest

    adapter = harness.adapter()
    with pytest.raises(CallbackRejected):
        adapter.parse_callback(CallbackRequest("POST", CALLBACK_PATH, {}, {}, body))
    assert (
        harness.adapter_class.callback_merchant_id(CallbackRequest("POST", CALLBACK_PATH, {}, {}, body))
        is None
    )


def test_contract_wrong_amount_reported_as_sent(harness):
    # The adapter reports what the provider says; the payments service flags the mismatch.
    harness.simulator.faults.wrong_amount = True
    adapter, request, _, callbacks = _paid(harness)
    assert adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH)).amount == request.amount + 1000


def test_contract_duplicate_callback_has_same_external_id(harness):
    harness.simulator.faults.duplicate = True
    adapter, _, _, callbacks = _paid(harness)
    assert len(callbacks) == 2
    first, second = (adapter.parse_callback(c.as_request(CALLBACK_PATH)) for c in callbacks)
    assert first.external_id == second.external_id


def test_contract_out_of_order_stale_callback_is_distinct_and_not_success(harness):
    if not harness.has_stale_callback:
        pytest.skip(f"{harness.code} sends no intermediate statements")
    harness.simulator.faults.out_of_order = True
    adapter, _, _, callbacks = _paid(harness)
    final, stale = (adapter.parse_callback(c.as_request(CALLBACK_PATH)) for c in callbacks)
    assert final.outcome is Outcome.SUCCEEDED
    assert stale.outcome is not Outcome.SUCCEEDED
    assert stale.external_id != final.external_id


def test_contract_answer_callback_acknowledges_handled_and_asks_retry_on_error(harness):
    adapter = harness.adapter()
    for result in (CallbackResult.RECORDED, CallbackResult.DUPLICATE, CallbackResult.AMOUNT_MISMATCH):
        assert acknowledged(harness.code, adapter.answer_callback(result)), result
    assert not acknowledged(harness.code, adapter.answer_callback(CallbackResult.ERROR))
    for result in CallbackResult:
        assert isinstance(adapter.answer_callback(result), CallbackReply)


def test_contract_query_after_payment_reports_succeeded(api_harness):
    adapter, request, _, callbacks = _paid(api_harness)
    event = adapter.query_status(_query(request))
    assert (event.reference, event.outcome, event.amount) == (
        request.reference,
        Outcome.SUCCEEDED,
        request.amount,
    )
    # The same statement by callback and by query dedupes to one inbox row.
    assert event.external_id == adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH)).external_id


def test_contract_query_before_payment_reports_pending(harness):
    adapter = harness.adapter()
    request = payment_request()
    adapter.start_payment(request)  # the order may exist at the provider; nobody has paid
    assert adapter.query_status(_query(request)).outcome is Outcome.PENDING


@pytest.mark.parametrize("status", [500, 503, 429])
def test_contract_query_5xx_or_429_raises_unavailable(api_harness, status):
    adapter, request, _, _ = _paid(api_harness)
    api_harness.simulator.faults.status = status
    with pytest.raises(ProviderUnavailable) as caught:
        adapter.query_status(_query(request))
    assert not caught.value.timed_out


def test_contract_query_timeout_raises_unavailable_timed_out(api_harness):
    adapter, request, _, _ = _paid(api_harness)
    api_harness.simulator.faults.delay = 2.5  # the adapters read with a 1.5 s timeout here
    with pytest.raises(ProviderUnavailable) as caught:
        adapter.query_status(_query(request))
    assert caught.value.timed_out


def test_contract_start_payment_timeout_raises_unavailable_timed_out(api_harness):
    if api_harness.code == "vnpay":
        pytest.skip("VNPay's start is a signed URL: no call to time out")
    api_harness.simulator.faults.delay = 2.5
    with pytest.raises(ProviderUnavailable) as caught:
        api_harness.adapter().start_payment(payment_request())
    assert caught.value.timed_out


def test_contract_connection_refused_raises_unavailable(api_harness):
    api_harness.simulator.stop()
    adapter = api_harness.adapter()
    request = payment_request()
    with pytest.raises(ProviderUnavailable):
        adapter.query_status(_query(request))


def _refund(request, provider_ref, amount, n) -> RefundRequest:
    return RefundRequest(
        refund_reference=f"RF{request.reference[2:]}{n}", payment_reference=request.reference,
        provider_ref=provider_ref, amount=amount, original_amount=request.amount,
        paid_at=request.created_at, reason="Huy ho so", payment_created_at=request.created_at,
    )  # fmt: skip


def test_contract_refund_full_succeeds_once(harness):
    adapter, request, _, callbacks = _paid(harness)
    if not isinstance(adapter, SupportsRefund):
        pytest.skip(f"{harness.code} cannot refund through an API")
    event = adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH))
    assert (
        adapter.refund(_refund(request, event.provider_ref, request.amount, 1)).outcome is Outcome.SUCCEEDED
    )
    assert adapter.refund(_refund(request, event.provider_ref, 1000, 2)).outcome is Outcome.FAILED


def test_contract_refund_partials_never_exceed_paid(harness):
    adapter, request, _, callbacks = _paid(harness, amount=150_000)
    if not isinstance(adapter, SupportsRefund):
        pytest.skip(f"{harness.code} cannot refund through an API")
    ref = adapter.parse_callback(callbacks[0].as_request(CALLBACK_PATH)).provider_ref
    assert adapter.refund(_refund(request, ref, 100_000, 1)).outcome is Outcome.SUCCEEDED
    assert adapter.refund(_refund(request, ref, 50_001, 2)).outcome is Outcome.FAILED
    assert adapter.refund(_refund(request, ref, 50_000, 3)).outcome is Outcome.SUCCEEDED


def test_contract_vietqr_has_no_refund_ability():
    from providers.vietqr import VietqrAdapter

    assert not issubclass(VietqrAdapter, SupportsRefund)


def test_contract_covers_every_installed_adapter():
    # A new adapter must bring a harness here; the sandbox bank has its own in-app flow tests.
    from providers.registry import installed_adapters

    assert set(installed_adapters()) - {"sandbox"} == set(ALL_CODES)


REQUEST_SECRET = {"vnpay": "hash_secret", "momo": "secret_key", "zalopay": "key1"}


def test_contract_provider_refuses_request_signed_with_wrong_secret(api_harness):
    import requests

    from providers.errors import ProviderRejected

    adapter = api_harness.adapter(**{REQUEST_SECRET[api_harness.code]: "not-the-shared-secret"})
    request = payment_request()
    if api_harness.code == "vnpay":
        page = requests.get(adapter.start_payment(request).action.url, timeout=5)
        assert page.status_code == 400 and request.reference not in api_harness.simulator.orders
    else:
        with pytest.raises(ProviderRejected):
            adapter.start_payment(request)
