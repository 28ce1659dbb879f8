from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.orm import Session

from payments import agencies
from payments.db import get_session, utcnow
from webhooks.outbound.models import WebhookEndpoint
from webhooks.outbound.settings import outbound_settings
from webhooks.outbound.signing import generate_secret
from webhooks.outbox import RecordedEvent, record_event


class Clock:
    """A clock the test moves by hand; it starts at the real time so signatures verify."""

    def __init__(self) -> None:
        self.start = utcnow()
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


@pytest.fixture
def db_session(app):
    """The app's own session inside an application context (what tasks and commands use)."""
    with app.app_context():
        yield get_session()


@pytest.fixture
def settings():
    return outbound_settings(
        {
            "WEBHOOKS_ALLOW_HTTP": True,
            "WEBHOOKS_ALLOW_PRIVATE": True,
            "WEBHOOKS_TIMEOUT_SECONDS": 2,
            "WEBHOOKS_LEASE_SECONDS": 30,
            "WEBHOOKS_CLAIM_LEASE_SECONDS": 120,
        }
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def receiver():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def create_agency(session: Session, code: str = "HCM-TP") -> int:
    agency = agencies.create_agency(
        session,
        code=code,
        name=f"Agency {code}",
        treasury_account="3511.0.1049123",
        treasury_code="0111",
        return_origins=["https://dichvucong.example.gov.vn"],
        providers=["sandbox"],
        actor="test",
    )
    session.flush()
    return agency.id


def create_endpoint(
    session: Session,
    agency_id: int,
    url: str,
    *,
    event_types: tuple[str, ...] = ("invoice.paid",),
    enabled: bool = True,
) -> WebhookEndpoint:
    now = utcnow()
    endpoint = WebhookEndpoint(
        agency_id=agency_id,
        url=url,
        description="",
        event_types=list(event_types),
        secret=generate_secret(),
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


INVOICE_DATA: dict[str, Any] = {"id": "inv_1", "amount": 150000, "currency": "VND", "status": "paid"}


def create_event(
    session: Session, agency_id: int, event_type: str = "invoice.paid", *, at: datetime | None = None
) -> RecordedEvent:
    return record_event(
        session,
        agency_id=agency_id,
        event_type=event_type,
        aggregate_type="invoice",
        aggregate_id="inv_1",
        data=dict(INVOICE_DATA),
        created_at=at,
    )
