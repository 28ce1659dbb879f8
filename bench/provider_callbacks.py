"""Bounded figures for the provider path, on loopback: IPN latency, a duplicate storm, mop-up.

Run from the repository root: ``PYTHONPATH=. python bench/provider_callbacks.py [N]`` (SQLite in a temp
directory; set ``FEEGATE_BENCH_DATABASE_URL`` to an empty PostgreSQL database to use that).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from alembic import command
from sqlalchemy import func, select

from payments import create_app
from payments.cli import alembic_config
from payments.db import get_session
from payments.models import Payment
from payments.mopup import run_mop_up
from payments.provider_registry import get_registry
from tests import factories
from tests.providers.live import Checkout, LiveServer, read_db
from tests.providers.simulators.vnpay import VnpaySimulator
from webhooks.models import InboundCallback, OutboxEvent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(n: int) -> None:
    url = os.environ.get("FEEGATE_BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    sim = VnpaySimulator().start()
    server = LiveServer()
    app = create_app(
        {
            "ENV_NAME": "test",
            "DATABASE_URL": url,
            "BASE_URL": server.url,
            "AGENCY_PROVIDERS": {"BENCH": {"vnpay": sim.settings()}},
        }
    )
    with app.app_context():
        command.upgrade(alembic_config(), "head")
    server.start(app)
    agency = factories.create_agency_with_key(app, code="BENCH", providers=("vnpay",))
    checkout = Checkout(server, requests.Session())

    def start_payment() -> str:
        body = factories.invoice_body(return_url=f"{agency.origin}/ket-qua")
        invoice = requests.post(
            f"{server.url}/api/v1/invoices", json=body, headers=agency.headers, timeout=10
        ).json()
        chosen = checkout.choose(invoice["payment_url"], "vnpay")
        requests.get(chosen.headers["Location"], timeout=10)
        return read_db(
            app, lambda s: s.scalars(select(Payment.reference).order_by(Payment.id.desc())).first()
        )

    # 1. IPN latency: one success IPN per payment, sequentially.
    latencies, answers = [], []
    for _ in range(n):
        [ipn] = sim.pay(start_payment())
        started = time.perf_counter()
        reply = ipn.send(f"{server.url}/callbacks/vnpay")
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append(reply.json()["RspCode"])
    print(
        f"IPN over HTTP, {n} payments: p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {_percentile(latencies, 0.95):.1f} ms, answers {sorted(set(answers))}"
    )

    # 2. Duplicate storm: the same IPN 100 times from 8 threads.
    [ipn] = sim.pay(start_payment())
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda _: ipn.send(f"{server.url}/callbacks/vnpay").json()["RspCode"], range(100))
        )
    paid = read_db(
        app,
        lambda s: s.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.event_type == "invoice.paid")
        ),
    )
    applied = read_db(
        app,
        lambda s: s.scalar(
            select(func.count()).select_from(InboundCallback).where(InboundCallback.outcome == "applied")
        ),
    )
    print(
        f"Duplicate storm, 100 copies / 8 threads: answers {dict(Counter(codes))}, "
        f"invoice.paid events {paid} for {n + 1} payments, applied inbox rows {applied}"
    )

    # 3. Mop-up: n payments paid at VNPay whose IPN never came.
    for _ in range(n):
        sim.pay(start_payment())
    with app.app_context():
        started = time.perf_counter()
        report = run_mop_up(get_session(), get_registry(), grace=timedelta(0), limit=10 * n)
        took = time.perf_counter() - started
    print(f"Mop-up of {n} unconfirmed payments: {took:.2f} s ({took / n * 1000:.1f} ms each), {dict(report)}")
    server.stop()
    sim.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
