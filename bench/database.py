"""The bench's own PostgreSQL database: create, migrate, seed, prepare callbacks, check, drop."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from flask import Flask
from psycopg import sql

from bench.bare_app import TABLE_DDL
from bench.servers import ROOT
from payments.schemas import CreateInvoice, ItemInput
from providers.sandbox.signature import sign_body

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AGENCY_CODE = "BENCH"
PORTAL_ORIGIN = "https://dichvucong.bench.example.gov.vn"


def database_url(name: str) -> str:
    """Return the URL of database ``name`` on the local server."""
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def create_database(name: str) -> str:
    """Create database ``name`` (dropping a leftover of the same name) and return its URL."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop database ``name``, disconnecting anyone still on it."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str) -> None:
    """Run ``flask --app wsgi db upgrade`` against ``url``, and create the bare endpoint's table."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, "FEEGATE_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE_DDL)


@contextmanager
def app_context(url: str) -> Iterator[Flask]:
    """Yield feegate configured like the server (same environment), on ``url``, in an app context."""
    from payments import create_app

    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        yield app
    app.extensions["feegate.db"].engine.dispose()


def seed(url: str) -> str:
    """Create the bench agency and an API key through the services; return the key."""
    from payments import agencies
    from payments.db import get_session

    with app_context(url) as app:
        session = get_session()
        agencies.create_agency(
            session,
            code=AGENCY_CODE,
            name="Bench agency",
            treasury_account="3511.0.1049123",
            treasury_code="0111",
            return_origins=[PORTAL_ORIGIN],
            providers=["sandbox"],
            actor="cli:bench",
        )
        key = agencies.create_api_key(
            session, AGENCY_CODE, mode=app.config["API_KEY_MODE"], label="bench", actor="cli:bench"
        )
        session.commit()
    return key.plaintext


@dataclass(frozen=True, slots=True)
class SignedCallback:
    """A sandbox bank callback, body and signature header, ready to post."""

    body: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class PreparedCallbacks:
    """Callback bodies for pending attempts, the secret to sign them with, and the invoices made for them."""

    bodies: list[bytes]
    secret: str
    created_invoices: int

    def signed(self, start: int, count: int) -> list[SignedCallback]:
        """Sign ``count`` bodies from ``start`` now (the signature is good for 5 minutes)."""
        return [
            SignedCallback(body, sign_body(self.secret, body)) for body in self.bodies[start : start + count]
        ]


def prepare_callbacks(url: str, count: int) -> PreparedCallbacks:
    """Start a sandbox attempt on ``count`` open invoices and sign one success callback for each.

    Invoices left by the invoice load are used first; missing ones are created through the
    service. The attempts go through the real two-phase start (``create_attempt``,
    ``launch_attempt``), so each is ``pending`` with a reference, as after a citizen chose
    the sandbox bank.
    """
    from sqlalchemy import select

    from payments import attempts, service
    from payments.db import get_session
    from payments.models import Agency, Invoice
    from payments.provider_registry import get_registry
    from payments.state import InvoiceStatus

    bodies: list[bytes] = []
    with app_context(url) as app:
        secret = str(app.config["PROVIDERS"]["sandbox"]["secret"])
        session = get_session()
        agency = session.scalars(select(Agency).where(Agency.code == AGENCY_CODE)).one()
        adapter = get_registry().for_agency("sandbox", agency.code)
        invoices = list(
            session.scalars(
                select(Invoice)
                .where(Invoice.agency_id == agency.id, Invoice.status == InvoiceStatus.OPEN)
                .order_by(Invoice.id)
                .limit(count)
            )
        )
        extra = count - len(invoices)
        for n in range(extra):
            invoices.append(service.create_invoice(session, agency, _command(n), actor="cli:bench"))
            if n % 200 == 199:
                session.commit()
        for n, invoice in enumerate(invoices, 1):
            payment = attempts.create_attempt(session, invoice, "sandbox", nonce=None, actor="citizen")
            session.flush()
            attempts.launch_attempt(session, adapter, payment, invoice, client_ip="127.0.0.1")
            body = json.dumps(
                {
                    "merchant": agency.code,
                    "reference": payment.reference,
                    "transaction_id": "SBX" + secrets.token_hex(8).upper(),
                    "status": "succeeded",
                    "amount": payment.amount,
                    "currency": payment.currency,
                },
                separators=(",", ":"),
            ).encode()
            bodies.append(body)
            if n % 200 == 0:
                session.commit()
        session.commit()
    return PreparedCallbacks(bodies, secret, max(extra, 0))


def _command(n: int) -> CreateInvoice:
    return CreateInvoice(
        reference=f"BENCH-PREP-{n}",
        description="Cấp phiếu lý lịch tư pháp",
        items=(ItemInput("LLTP", "Lệ phí cấp phiếu", 200_000, "418", "2665"),),
        return_url=f"{PORTAL_ORIGIN}/thanh-toan/ket-qua",
        language="vi",
        payer={"name": "Nguyễn Văn A"},
        metadata={},
        expires_at=None,
    )


def count_rows(url: str) -> dict[str, int]:
    """Count what the load wrote: invoices, audit rows and outbox events by kind, inbox rows by outcome."""
    queries = {
        "invoices": "SELECT count(*) FROM invoices",
        "invoices paid": "SELECT count(*) FROM invoices WHERE status = 'paid'",
        "audit invoice.created": "SELECT count(*) FROM audit_log WHERE action = 'invoice.created'",
        "outbox invoice.created": "SELECT count(*) FROM outbox_events WHERE event_type = 'invoice.created'",
        "payments succeeded": "SELECT count(*) FROM payments WHERE status = 'succeeded'",
        "outbox payment.succeeded": (
            "SELECT count(*) FROM outbox_events WHERE event_type = 'payment.succeeded'"
        ),
        "outbox invoice.paid": "SELECT count(*) FROM outbox_events WHERE event_type = 'invoice.paid'",
        "inbox applied": "SELECT count(*) FROM inbound_callbacks WHERE outcome = 'applied'",
        "inbox duplicate": "SELECT count(*) FROM inbound_callbacks WHERE outcome = 'duplicate'",
        "bare rows": "SELECT count(*) FROM bench_bare",
    }
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for name, query in queries.items():
            row = conn.execute(query).fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts
