"""``/api/v1/invoices``: thin views over the invoice service, documented by flask-smorest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import RAISE
from werkzeug.wrappers import Response

from . import idempotency, service
from .auth import authenticate_request, current_actor, current_agency
from .db import autocommit_next_statement, commit, get_session
from .error_handlers import ProblemSchema
from .errors import PROBLEM_JSON
from .fast_load import Blueprint, precompile
from .schemas import (
    CreateInvoice,
    InvoiceCreateSchema,
    InvoiceListQuerySchema,
    InvoicePageSchema,
    InvoiceSchema,
)

blp = Blueprint(
    "invoices",
    __name__,
    url_prefix="/api/v1/invoices",
    description="Fee invoices for dossiers. Send `Authorization: Bearer <api key>`. "
    "Creating POSTs honour `Idempotency-Key` (kept 72 h, scoped to your agency): the same key and body "
    "replay the stored response with `Idempotent-Replayed: true`; the same key with another body is 422; "
    "while the first request runs, 409 with `Retry-After`.",
)


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


_IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            "description": "A unique key per intended request (a UUID v4 is recommended).",
        }
    ]
}
_ERRORS = (400, 401, 404, 409, 413, 422)
# Instances, not classes: webargs builds a fresh schema per request from a class, which costs
# more CPU than the validation itself; an instance is safe to share across threads.
_CREATE_SCHEMA = precompile(InvoiceCreateSchema())
_LIST_QUERY_SCHEMA = InvoiceListQuerySchema()


def _json(status: int, body: str, location: str | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    return response


def run_idempotent(
    work: Callable[[], tuple[int, dict[str, Any], str | None]], *, one_statement: bool = False
) -> Response:
    """Run a creating request under its ``Idempotency-Key``, if it has one, and commit.

    ``one_statement``: ``work`` executes a single statement, so without a key it may
    commit on its own (:func:`~payments.db.autocommit_next_statement`).
    """
    session = get_session()
    key = idempotency.validate_key(request.headers.get(idempotency.HEADER))
    if key is None:
        if one_statement:
            autocommit_next_statement(session)
        status, data, location = work()
        commit(session)
        return _json(status, current_app.json.dumps(data), location)
    fp = idempotency.fingerprint(request.method, request.path, request.get_json(silent=True))
    claimed = idempotency.claim(session, current_agency().id, key, fp)
    session.commit()
    if isinstance(claimed, idempotency.StoredResponse):
        replay = _json(claimed.status, claimed.body, claimed.location)
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    try:
        status, data, location = work()
        body = current_app.json.dumps(data)
        idempotency.finish(session, claimed, idempotency.StoredResponse(status, body, location))
        session.commit()
    except BaseException:
        session.rollback()
        idempotency.release(session, claimed)
        session.commit()
        raise
    return _json(status, body, location)


@blp.route("")
class Invoices(MethodView):
    """Create and list invoices."""

    @blp.arguments(_CREATE_SCHEMA)
    @blp.response(201, InvoiceSchema)
    @blp.doc(**_IDEMPOTENCY_DOC)
    @blp.alt_response(
        400, schema=ProblemSchema, content_type=PROBLEM_JSON, description="Malformed JSON or Idempotency-Key"
    )
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="A request with this Idempotency-Key is in progress",
    )
    @blp.alt_response(
        422,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="Validation failed, or the Idempotency-Key was used with another body",
    )
    def post(self, body: dict[str, Any]) -> Response:
        """Create a fee invoice and its checkout link."""
        command = CreateInvoice.from_body(body)

        def work() -> tuple[int, dict[str, Any], str | None]:
            created = service.create_invoice_with_data(
                get_session(), current_agency(), command, actor=current_actor()
            )
            return 201, created.data, f"/api/v1/invoices/{created.public_id}"

        # On PostgreSQL a new invoice is one statement (payments/change_log.py).
        return run_idempotent(work, one_statement=True)

    @blp.arguments(_LIST_QUERY_SCHEMA, location="query", unknown=RAISE)
    @blp.response(200, InvoicePageSchema)
    def get(self, filters: dict[str, Any]) -> service.InvoicePage:
        """List invoices, newest first; filter by dossier reference, status and creation time."""
        return service.list_invoices(get_session(), current_agency(), filters)


@blp.route("/<string:invoice_id>")
class InvoiceById(MethodView):
    """One invoice."""

    @blp.response(200, InvoiceSchema)
    @blp.alt_response(
        404, schema=ProblemSchema, content_type=PROBLEM_JSON, description="No such invoice for this agency"
    )
    def get(self, invoice_id: str) -> Any:
        """Read an invoice; its status is the truth about payment."""
        return service.get_invoice(get_session(), current_agency(), invoice_id)


@blp.route("/<string:invoice_id>/cancel")
class InvoiceCancel(MethodView):
    """Cancel an open invoice."""

    @blp.response(200, InvoiceSchema)
    @blp.doc(**_IDEMPOTENCY_DOC)
    @blp.alt_response(
        404, schema=ProblemSchema, content_type=PROBLEM_JSON, description="No such invoice for this agency"
    )
    @blp.alt_response(
        409, schema=ProblemSchema, content_type=PROBLEM_JSON, description="The invoice is paid or expired"
    )
    def post(self, invoice_id: str) -> Response:
        """Cancel an open invoice (cancelling a cancelled one is a no-op); paid ones answer 409."""

        def work() -> tuple[int, dict[str, Any], str | None]:
            invoice = service.cancel_invoice(
                get_session(), current_agency(), invoice_id, actor=current_actor()
            )
            return 200, service.invoice_data(invoice), None

        return run_idempotent(work)
