"""The baseline: a bare Flask endpoint doing one INSERT through psycopg per request.

It reads the same JSON body the invoice API gets, inserts it as one row in one
transaction and answers 201 with a small JSON document: the least any "create
something" endpoint on this stack can do. gunicorn serves it with feegate's own
``gunicorn.conf.py``, so the ratio between the two isolates feegate's own cost.
Each gunicorn thread keeps one connection (threads are long-lived), like a pool would.
"""

from __future__ import annotations

import os
import threading

import psycopg
from flask import Flask, jsonify, request
from psycopg.types.json import Jsonb
from werkzeug.wrappers import Response

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bench_bare (
    id BIGSERIAL PRIMARY KEY,
    reference VARCHAR(64) NOT NULL,
    body JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

app = Flask(__name__)
_local = threading.local()


def _connection() -> psycopg.Connection[tuple[object, ...]]:
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"])
        _local.conn = conn
    return conn


@app.post("/bare/invoices")
def insert() -> tuple[Response, int]:
    """Insert the posted JSON as one row and return its id."""
    body = request.get_json(force=True)
    conn = _connection()
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO bench_bare (reference, body) VALUES (%s, %s) RETURNING id",
            (str(body.get("reference", "")), Jsonb(body)),
        ).fetchone()
    assert row is not None
    return jsonify({"id": row[0]}), 201


@app.get("/bare/ready")
def ready() -> str:
    """Answer once the worker is up."""
    return "ok"
