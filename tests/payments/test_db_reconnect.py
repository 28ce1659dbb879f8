"""A PostgreSQL that ends its sessions (a restart, an administrator, a failover) and the API."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from payments import db
from tests.conftest import ON_POSTGRES
from tests.factories import create_invoice, invoice_body

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL (FEEGATE_TEST_DATABASE_URL): the tests end its sessions"
)


def _end_other_sessions(database_url: str) -> None:
    """Terminate every other session on the database and wait until the server has ended them."""
    url = make_url(database_url)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ended = conn.execute(f"SELECT count(pg_terminate_backend(pid)) {others}").fetchone()
        assert ended is not None and ended[0] >= 1
        deadline = time.monotonic() + 10
        while conn.execute(f"SELECT count(*) {others}").fetchone() != (0,):
            assert time.monotonic() < deadline, "sessions did not end"
            time.sleep(0.01)


def test_pooled_connections_the_server_ended_are_replaced_before_use(app, client, agency, database_url):
    first = create_invoice(client, agency)  # leaves a connection in the pool
    assert app.extensions["feegate.db"].engine.pool.checkedin() >= 1

    _end_other_sessions(database_url)

    for _ in range(3):  # every pooled connection is dead now; none may fail a request
        listed = client.get("/api/v1/invoices", headers=agency.headers)
        assert listed.status_code == 200
        assert first["id"] in [invoice["id"] for invoice in listed.get_json()["data"]]
    assert create_invoice(client, agency)["status"] == "open"


def test_connection_lost_mid_request_is_a_503_to_retry_and_the_next_request_reconnects(
    app, client, agency, database_url
):
    create_invoice(client, agency)
    # As if the server ended the session just after the pool's check let the connection out.
    engine = app.extensions["feegate.db"].engine
    event.remove(engine, "checkout", db._refuse_closed_connection)
    _end_other_sessions(database_url)

    lost = client.get("/api/v1/invoices", headers=agency.headers)

    assert lost.status_code == 503
    assert lost.headers["Retry-After"] == "1"
    assert lost.mimetype == "application/problem+json"
    assert lost.get_json()["type"].endswith("/database-unavailable")
    assert client.get("/api/v1/invoices", headers=agency.headers).status_code == 200


def test_connection_lost_under_an_invoice_created_alone_is_a_503_and_the_retry_creates_it(
    app, client, agency, database_url
):
    create_invoice(client, agency)  # warms the key cache: the next create is one statement alone
    engine = app.extensions["feegate.db"].engine
    event.remove(engine, "checkout", db._refuse_closed_connection)
    _end_other_sessions(database_url)

    body = {**invoice_body(return_url=f"{agency.origin}/ket-qua"), "reference": "LOST-1"}
    lost = client.post("/api/v1/invoices", json=body, headers=agency.headers)

    assert lost.status_code == 503 and lost.headers["Retry-After"] == "1"
    assert lost.get_json()["type"].endswith("/database-unavailable")
    retried = client.post("/api/v1/invoices", json=body, headers=agency.headers)
    assert retried.status_code == 201
    listed = client.get("/api/v1/invoices?reference=LOST-1", headers=agency.headers).get_json()["data"]
    assert [invoice["id"] for invoice in listed] == [retried.get_json()["id"]]
