"""A PostgreSQL that ends its sessions (a restart, an administrator) costs the API no failed request."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import requires_postgres
from tests.factories import create_invoice


def _terminate_other_sessions(database_url: str) -> int:
    url = make_url(database_url)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@requires_postgres
def test_pooled_connections_the_server_ended_are_replaced_before_use(app, client, agency, database_url):
    first = create_invoice(client, agency)  # leaves a connection in the pool
    pool = app.extensions["feegate.db"].engine.pool
    assert pool.checkedin() >= 1

    assert _terminate_other_sessions(database_url) >= 1

    for _ in range(3):  # every pooled connection is dead now; none may fail a request
        listed = client.get("/api/v1/invoices", headers=agency.headers)
        assert listed.status_code == 200
        assert first["id"] in [invoice["id"] for invoice in listed.get_json()["data"]]
    assert create_invoice(client, agency)["status"] == "open"
