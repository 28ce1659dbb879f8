"""``/callbacks/<provider>``: the one route exempt from CSRF, because every call is signature-checked."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, request
from werkzeug.wrappers import Response

from payments.db import get_session
from payments.provider_registry import get_registry
from providers.base import CallbackReply, CallbackRequest
from providers.errors import UnknownProvider

from .inbound import handle_callback, record_failure

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")
log = logging.getLogger(__name__)


def _reply(reply: CallbackReply) -> Response:
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


@bp.route("/<provider_code>", methods=["GET", "POST"])
def receive(provider_code: str) -> Response:
    """Verify, record exactly once, and answer in the provider's own format."""
    callback = CallbackRequest(
        method=request.method,
        path=request.path,
        headers=dict(request.headers.items()),
        query=request.args.to_dict(),
        body=request.get_data(cache=False),
        remote_addr=request.remote_addr or "",
    )
    registry = get_registry()
    session = get_session()
    try:
        handled = handle_callback(session, registry, provider_code, callback)
        session.commit()
    except UnknownProvider:
        abort(404)
    except Exception as exc:  # noqa: BLE001 - the provider must get its retryable answer, never a bare 500
        session.rollback()
        log.exception("Callback from %s could not be recorded", provider_code)
        try:
            reply = record_failure(session, registry, provider_code, callback, type(exc).__name__)
            session.commit()
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            session.rollback()
            reply = CallbackReply(503, b'{"status":"error"}')
        return _reply(reply)
    return _reply(handled.reply)
