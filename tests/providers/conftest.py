"""Fixtures for running the app over HTTP with the real adapters against their simulators."""

from __future__ import annotations

import pytest
import requests

from tests import factories

from .harness import ALL_CODES, start_harness, stop_harness
from .live import Checkout, LiveServer

AGENCY = "HCM-TP"


@pytest.fixture
def harnesses():
    started = {code: start_harness(code) for code in ALL_CODES}
    yield started
    for harness in started.values():
        stop_harness(harness)


@pytest.fixture
def live_server():
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, harnesses, live_server):
    """The test app, reachable at the live server's URL, with every simulator configured for HCM-TP."""
    app_config["BASE_URL"] = live_server.url
    app_config["AGENCY_PROVIDERS"] = {AGENCY: {code: h.simulator.settings() for code, h in harnesses.items()}}
    return app_config


@pytest.fixture
def served_app(app, live_server):
    return live_server.start(app).app


@pytest.fixture
def provider_agency(served_app):
    return factories.create_agency_with_key(served_app, code=AGENCY, providers=("sandbox", *ALL_CODES))


@pytest.fixture
def checkout(live_server):
    with requests.Session() as browser:
        yield Checkout(live_server, browser)


@pytest.fixture
def api(live_server, provider_agency):
    """POST/GET our API over HTTP as the agency's portal."""

    class Api:
        def create_invoice(self, **overrides):
            body = factories.invoice_body(return_url=f"{provider_agency.origin}/ket-qua", **overrides)
            reply = requests.post(f"{live_server.url}/api/v1/invoices", json=body,
                                  headers=provider_agency.headers, timeout=10)  # fmt: skip
            assert reply.status_code == 201, reply.text
            return reply.json()

        def invoice(self, invoice_id):
            reply = requests.get(f"{live_server.url}/api/v1/invoices/{invoice_id}",
                                 headers=provider_agency.headers, timeout=10)  # fmt: skip
            return reply.json()

    return Api()
