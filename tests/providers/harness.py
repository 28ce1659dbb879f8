"""One harness per adapter: its simulator, and how a payer completes a payment there.

The contract test runs every harness through the same cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from providers.base import PaymentRequest, Redirect, ShowQR, StartResult
from providers.momo import MomoAdapter
from providers.vietqr import VietqrAdapter
from providers.vnpay import VnpayAdapter
from providers.zalopay import ZalopayAdapter

from .simulators.base import SimCallback
from .simulators.momo import MomoSimulator
from .simulators.vietqr import BankSimulator
from .simulators.vnpay import VnpaySimulator
from .simulators.zalopay import ZalopaySimulator

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A fresh ``FG`` + 10 Crockford characters payment reference."""
    raw = uuid.uuid4().int
    return "FG" + "".join(CROCKFORD[(raw >> (5 * i)) & 31] for i in range(10))


def payment_request(amount: int = 150_000, reference: str | None = None) -> PaymentRequest:
    """A payment request as the payments service would build it."""
    now = datetime.now(UTC)
    reference = reference or new_reference()
    return PaymentRequest(
        reference=reference, amount=amount, currency="VND",
        description="Lệ phí cấp hộ chiếu (HS-01)! ~đợt 2", language="vi",
        return_url=f"http://127.0.0.1:5000/checkout/return/{reference}",
        callback_url="http://127.0.0.1:5000/callbacks/x", expires_at=now + timedelta(hours=1),
        created_at=now, client_ip="127.0.0.1", invoice_reference="HS-01",
    )  # fmt: skip


@dataclass
class Harness:
    """How to drive one adapter against its simulator."""

    code: str
    adapter_class: type
    simulator: Any
    has_api: bool
    pay: Callable[[StartResult, PaymentRequest, bool], list[SimCallback]]
    can_fail_by_callback: bool
    has_stale_callback: bool

    def adapter(self, **overrides: Any) -> Any:
        """An adapter configured for the simulator, with ``overrides`` applied."""
        return self.adapter_class({**self.simulator.settings(), **overrides})


def _browse(action: Any) -> None:
    assert isinstance(action, Redirect)
    page = requests.get(action.url, timeout=5)
    assert page.status_code == 200, page.text


def _pay_vnpay(sim: VnpaySimulator) -> Callable[[StartResult, PaymentRequest, bool], list[SimCallback]]:
    def pay(result: StartResult, request: PaymentRequest, succeed: bool) -> list[SimCallback]:
        _browse(result.action)
        return sim.pay(request.reference, "00" if succeed else "24")

    return pay


def _pay_momo(sim: MomoSimulator) -> Callable[[StartResult, PaymentRequest, bool], list[SimCallback]]:
    def pay(result: StartResult, request: PaymentRequest, succeed: bool) -> list[SimCallback]:
        _browse(result.action)
        return sim.pay(request.reference, 0 if succeed else 1006)

    return pay


def _pay_zalopay(sim: ZalopaySimulator) -> Callable[[StartResult, PaymentRequest, bool], list[SimCallback]]:
    def pay(result: StartResult, request: PaymentRequest, succeed: bool) -> list[SimCallback]:
        _browse(result.action)
        return sim.pay(request.reference) if succeed else []

    return pay


def _pay_vietqr(sim: BankSimulator) -> Callable[[StartResult, PaymentRequest, bool], list[SimCallback]]:
    def pay(result: StartResult, request: PaymentRequest, succeed: bool) -> list[SimCallback]:
        action = result.action
        assert isinstance(action, ShowQR)
        # A citizen typing the content by hand, with a bank prefix glued on by punctuation.
        content = f"MBVCB.8812.{action.transfer_content.lower()}.chuyen tien le phi"
        return sim.credit(action.amount, content) if succeed else []

    return pay


def start_harness(code: str) -> Harness:
    """Start the simulator for ``code`` and return its harness (call ``stop_harness`` after)."""
    if code == "vnpay":
        vnp = VnpaySimulator().start()
        return Harness(code, VnpayAdapter, vnp, True, _pay_vnpay(vnp), True, True)
    if code == "momo":
        momo = MomoSimulator().start()
        return Harness(code, MomoAdapter, momo, True, _pay_momo(momo), True, True)
    if code == "zalopay":
        zlp = ZalopaySimulator().start()
        return Harness(code, ZalopayAdapter, zlp, True, _pay_zalopay(zlp), False, False)
    bank = BankSimulator()
    return Harness(code, VietqrAdapter, bank, False, _pay_vietqr(bank), False, False)


def stop_harness(harness: Harness) -> None:
    """Stop the simulator's server, if it has one."""
    if hasattr(harness.simulator, "stop"):
        harness.simulator.stop()


ALL_CODES = ("vnpay", "momo", "zalopay", "vietqr")
