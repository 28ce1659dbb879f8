"""Mop-up of pending and unknown attempts, expiry, refunds and the providers CLI, over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from payments.db import utcnow
from payments.models import Invoice, Payment, Refund
from webhooks.models import InboundCallback, OutboxEvent

from .live import deliver, read_db


def _payment(app, code):
    return read_db(app, lambda s: s.scalars(select(Payment).filter_by(provider_code=code)).one())


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def _start(api, checkout, code):
    invoice = api.create_invoice()
    return invoice, checkout.choose(invoice["payment_url"], code)


def _paid_through(code, served_app, harnesses, api, checkout):
    invoice, chosen = _start(api, checkout, code)
    reference = _payment(served_app, code).reference
    sim = harnesses[code].simulator
    if code != "vietqr":
        checkout.browser.get(chosen.headers["Location"], timeout=10)
    callbacks = {
        "vnpay": lambda: sim.pay(reference, "00"),
        "momo": lambda: sim.pay(reference, 0),
        "zalopay": lambda: sim.pay(reference),
        "vietqr": lambda: sim.credit(1_250_000, reference),
    }[code]()
    deliver(harnesses[code], callbacks, checkout.server)
    assert api.invoice(invoice["id"])["status"] == "paid"
    return invoice, _payment(served_app, code)


def _wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_mopup_create_timeout_leaves_unknown_then_query_applies_success(served_app, harnesses, api, checkout):
    momo = harnesses["momo"].simulator
    momo.faults.delay = 2.5  # the adapter reads with a 1.5 s timeout
    invoice, chosen = _start(api, checkout, "momo")

    assert chosen.status_code == 303 and "/pay/return/" in chosen.headers["Location"]
    payment = _payment(served_app, "momo")
    assert payment.status.value == "unknown"  # never "failed": MoMo may well have created it
    _wait_for(lambda: payment.reference in momo.orders)  # it did, after we stopped waiting
    momo.faults.delay = 0
    late_ipn = momo.pay(payment.reference, 0)  # the citizen paid; the IPN is lost for now

    result = _cli(served_app, "payments", "mop-up", "--grace-seconds", "0")

    assert "applied: 1" in result.output
    assert _payment(served_app, "momo").status.value == "succeeded"
    assert api.invoice(invoice["id"])["status"] == "paid"
    [reply] = deliver(harnesses["momo"], late_ipn, checkout.server)  # the IPN arrives after all
    assert reply.status_code == 204
    outcomes = read_db(served_app, lambda s: s.scalars(select(InboundCallback.outcome)).all())
    assert sorted(outcomes) == ["applied", "duplicate"]
    paid_events = read_db(
        served_app,
        lambda s: s.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.event_type == "invoice.paid")
        ),
    )
    assert paid_events == 1


def test_mopup_query_timeout_leaves_attempt_unknown_never_failed(served_app, harnesses, api, checkout):
    _start(api, checkout, "vnpay")
    harnesses["vnpay"].simulator.faults.delay = 2.5

    result = _cli(served_app, "payments", "mop-up", "--grace-seconds", "0")

    assert "unreachable: 1" in result.output
    assert _payment(served_app, "vnpay").status.value == "unknown"

    harnesses["vnpay"].simulator.faults.delay = 0
    again = _cli(served_app, "payments", "mop-up", "--grace-seconds", "0")

    assert "unreachable" not in again.output
    assert _payment(served_app, "vnpay").status.value == "pending"  # VNPay says: not paid yet


def test_mopup_within_grace_period_asks_nobody(served_app, harnesses, api, checkout):
    _start(api, checkout, "zalopay")
    seen_before = len(harnesses["zalopay"].simulator.requests_seen)

    result = _cli(served_app, "payments", "mop-up")

    assert result.output.strip() == "invoices_expired: 0"
    assert len(harnesses["zalopay"].simulator.requests_seen) == seen_before


def _expire_now(app, invoice_id):
    def expire(session):
        session.execute(update(Invoice).where(Invoice.public_id == invoice_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
        session.commit()

    read_db(app, expire)


def test_mopup_expired_invoice_expires_and_cancels_unpaid_attempt(served_app, harnesses, api, checkout):
    invoice, _ = _start(api, checkout, "vnpay")  # never paid: VNPay's querydr says "not found"
    _expire_now(served_app, invoice["id"])

    result = _cli(served_app, "payments", "mop-up")

    assert "invoices_expired: 1" in result.output and "cancelled: 1" in result.output
    assert api.invoice(invoice["id"])["status"] == "expired"
    assert _payment(served_app, "vnpay").status.value == "cancelled"


def test_mopup_expired_invoice_paid_at_provider_is_flagged_not_lost(served_app, harnesses, api, checkout):
    invoice, chosen = _start(api, checkout, "zalopay")
    checkout.browser.get(chosen.headers["Location"], timeout=10)
    reference = _payment(served_app, "zalopay").reference
    harnesses["zalopay"].simulator.pay(reference)  # paid, but the callback never arrives
    _expire_now(served_app, invoice["id"])

    _cli(served_app, "payments", "mop-up")

    payment = _payment(served_app, "zalopay")
    assert (payment.status.value, payment.review_reason) == ("succeeded", "refund_required")
    assert api.invoice(invoice["id"])["status"] == "expired"


def test_mopup_vietqr_attempt_of_open_invoice_stays_pending(served_app, harnesses, api, checkout):
    _start(api, checkout, "vietqr")

    result = _cli(served_app, "payments", "mop-up", "--grace-seconds", "0")

    assert "still_pending: 1" in result.output
    assert _payment(served_app, "vietqr").status.value == "pending"


@pytest.mark.parametrize("code", ["vnpay", "momo", "zalopay"])
def test_refund_partial_then_rest_never_more_than_paid(code, served_app, harnesses, api, checkout):
    _, payment = _paid_through(code, served_app, harnesses, api, checkout)

    first = _cli(
        served_app, "payments", "refund", payment.public_id, "--amount", "1000000", "--reason", "Huy"
    )
    too_much = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "250001"]
    )
    rest = _cli(served_app, "payments", "refund", payment.public_id, "--amount", "250000")
    nothing_left = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "1000"]
    )

    assert "succeeded" in first.output and "succeeded" in rest.output
    assert too_much.exit_code != 0 and "At most 250000 VND" in too_much.output
    assert nothing_left.exit_code != 0 and "At most 0 VND" in nothing_left.output
    sim = harnesses[code].simulator
    order = sim.orders[payment.reference] if code != "zalopay" else sim.order_for(payment.reference)
    assert order.refunded == 1_250_000
    statuses = read_db(served_app, lambda s: s.scalars(select(Refund.status)).all())
    assert [s.value for s in statuses] == ["succeeded", "succeeded"]


def test_refund_vietqr_fails_without_holding_the_amount(served_app, harnesses, api, checkout):
    _, payment = _paid_through("vietqr", served_app, harnesses, api, checkout)

    result = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "5000"]
    )

    assert result.exit_code == 1 and "failed" in result.output and "no refund API" in result.output
    again = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "1250001"]
    )
    assert "At most 1250000 VND" in again.output


def test_refund_provider_timeout_is_unknown_and_keeps_amount_reserved(served_app, harnesses, api, checkout):
    _, payment = _paid_through("momo", served_app, harnesses, api, checkout)
    harnesses["momo"].simulator.faults.delay = 2.5

    result = _cli(served_app, "payments", "refund", payment.public_id, "--amount", "1250000")

    assert "unknown" in result.output
    again = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "1000"]
    )
    assert again.exit_code != 0 and "At most 0 VND" in again.output


def test_refund_pending_payment_refused(served_app, harnesses, api, checkout):
    _start(api, checkout, "vnpay")
    payment = _payment(served_app, "vnpay")

    result = served_app.test_cli_runner().invoke(
        args=["payments", "refund", payment.public_id, "--amount", "1000"]
    )

    assert result.exit_code != 0 and "nothing to refund" in result.output


def test_providers_list_shows_abilities_and_enabling_agencies(served_app, provider_agency):
    output = _cli(served_app, "providers", "list").output
    lines = {line.split()[0]: line for line in output.splitlines()[1:]}

    assert set(lines) >= {"vnpay", "momo", "zalopay", "vietqr", "sandbox"}
    assert "refund" in lines["vnpay"] and "HCM-TP" in lines["vnpay"]
    assert "refund" not in lines["vietqr"] and "HCM-TP" in lines["vietqr"]
    assert "start, callback, query" in lines["momo"]


def test_refund_two_concurrent_requests_never_exceed_paid(served_app, harnesses, api, checkout):
    import threading

    from payments.db import get_session
    from payments.errors import ValidationFailed
    from payments.refunds import request_refund

    _, payment = _paid_through("vnpay", served_app, harnesses, api, checkout)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def refund_most_of_it():
        with served_app.app_context():
            session = get_session()
            barrier.wait()
            try:
                request_refund(session, payment.public_id, 1_000_000, reason="race", actor="test")
                session.commit()
                results.append("recorded")
            except ValidationFailed:
                session.rollback()
                results.append("refused")

    threads = [threading.Thread(target=refund_most_of_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["recorded", "refused"]
    total = read_db(served_app, lambda s: s.scalar(select(func.sum(Refund.amount))))
    assert total == 1_000_000


def test_mopup_abandoned_vnpay_attempt_cancelled_and_invoice_stays_payable(
    served_app, harnesses, api, checkout
):
    invoice, chosen = _start(api, checkout, "vnpay")
    checkout.browser.get(chosen.headers["Location"], timeout=10)  # looked at VNPay's page, then left

    def age(session):
        session.execute(update(Payment).values(created_at=utcnow() - timedelta(hours=1)))
        session.commit()

    read_db(served_app, age)

    result = _cli(served_app, "payments", "mop-up")

    assert "applied: 1" in result.output
    assert _payment(served_app, "vnpay").status.value == "cancelled"
    assert api.invoice(invoice["id"])["status"] == "open"
    assert 'name="provider"' in checkout.browser.get(invoice["payment_url"], timeout=10).text


def test_mopup_answer_racing_the_late_ipn_applies_once(served_app, harnesses, api, checkout):
    import threading

    from payments.db import get_session
    from payments.mopup import apply_answer, ask_provider, find_stale_attempts
    from payments.provider_registry import get_registry

    invoice, chosen = _start(api, checkout, "vnpay")
    checkout.browser.get(chosen.headers["Location"], timeout=10)
    [ipn] = harnesses["vnpay"].simulator.pay(_payment(served_app, "vnpay").reference, "00")
    barrier = threading.Barrier(2)
    replies = []

    def mop_up():
        with served_app.app_context():
            session = get_session()
            [attempt] = find_stale_attempts(session, now=utcnow(), grace=timedelta(0), limit=10)
            session.rollback()
            event = ask_provider(get_registry(), attempt)
            barrier.wait()
            apply_answer(session, attempt, event, now=utcnow())
            session.commit()

    def late_ipn():
        barrier.wait()
        replies.append(ipn.send(f"{checkout.server.url}/callbacks/vnpay").json()["RspCode"])

    threads = [threading.Thread(target=mop_up), threading.Thread(target=late_ipn)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert replies and replies[0] in ("00", "02")
    outcomes = read_db(served_app, lambda s: s.scalars(select(InboundCallback.outcome)).all())
    assert outcomes.count("applied") == 1
    paid_events = read_db(
        served_app,
        lambda s: s.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.event_type == "invoice.paid")
        ),
    )
    assert paid_events == 1
    assert api.invoice(invoice["id"])["status"] == "paid"
