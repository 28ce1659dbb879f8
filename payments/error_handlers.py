"""Render every error: problem+json on the API and callbacks, a friendly page elsewhere."""

from __future__ import annotations

import http
import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .errors import PROBLEM_JSON, PROBLEMS, STATUS_SLUGS, FeegateError, problem

log = logging.getLogger(__name__)


def _wants_problem_json() -> bool:
    return request.path.startswith(("/api/", "/callbacks/"))


def _problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = int(body["status"])
    response.mimetype = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, detail=detail), status


def _field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow's nested messages into ``[{field, message}]`` with dotted paths."""
    if isinstance(messages, dict):
        out: list[dict[str, str]] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_field_errors(value, "" if key == "_schema" and not prefix else path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "body", "message": m} for m in messages]
    if isinstance(messages, list):
        return [e for m in messages for e in _field_errors(m, prefix)]
    return [{"field": prefix or "body", "message": str(messages)}]


def handle_feegate_error(error: FeegateError) -> Response | tuple[str, int]:
    """Render one of our own errors."""
    if _wants_problem_json():
        return _problem_response(error.to_problem(), error.headers)
    return _page(error.status, PROBLEMS[error.slug][0], error.detail)


def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    """Render werkzeug/webargs errors; webargs puts field messages in ``error.data``."""
    status = error.code or 500
    slug = STATUS_SLUGS.get(status, "bad-request")
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    errors: list[dict[str, str]] = []
    if messages:
        # webargs keys messages by location ("json", "query"); the field path is what matters.
        inner = (
            messages.get("json", messages.get("query", messages)) if isinstance(messages, dict) else messages
        )
        errors = _field_errors(inner)
        if status == 400 or any(e["message"] == "Invalid JSON body." for e in errors):
            status, slug, errors = 400, "malformed-request", []
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or (error.description or "")
    if not _wants_problem_json():
        return _page(status, PROBLEMS[slug][0], error.description or "")
    headers = {k: v for k, v in (error.get_headers() or []) if k.lower() in ("retry-after", "allow")}
    return _problem_response(problem(status, slug, detail, errors), headers)


def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
    """Log the exception with its traceback; show the client nothing of it."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        # The server ended the connection mid-request (a restart, failover): the pool has been reset
        # and the same request will most likely succeed at once. A transaction that had not reached
        # COMMIT was rolled back; a statement lost in flight (a COMMIT, or an invoice written alone
        # in autocommit) may have been applied, so a retry without an Idempotency-Key may repeat it.
        log.warning("Database connection lost on %s %s: %s", request.method, request.path, error.orig)
        headers = {"Retry-After": "1"}
        if _wants_problem_json():
            body = problem(503, "database-unavailable", "The database connection was lost.")
            return _problem_response(body, headers)
        return _page(503, PROBLEMS["database-unavailable"][0], "")
    log.exception("Unhandled error on %s %s", request.method, request.path)
    if _wants_problem_json():
        return _problem_response(problem(500, "server-error", "An unexpected error occurred."))
    return _page(500, PROBLEMS["server-error"][0], "")


class FieldErrorSchema(Schema):
    """One field's validation message."""

    field = fields.String(metadata={"example": "items.0.amount"})
    message = fields.String()


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(metadata={"example": "/api/v1/problems/validation-error"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))


class FeegateApi(Api):
    """flask-smorest's Api, rendering and documenting its errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # flask-smorest documents errors as application/json; ours are application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON if status >= 400 else "application/json")
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Error", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Response | tuple[str, int]:
        """Render an HTTP error raised anywhere (flask-smorest registers this app-wide)."""
        return handle_http_exception(error)


def register_error_handlers(app: Flask) -> None:
    """Register the handlers on ``app`` (after the smorest Api, so ours win)."""
    app.register_error_handler(FeegateError, handle_feegate_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
