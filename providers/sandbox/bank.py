"""The simulated bank's pages: approve or decline, then call back and send the browser home.

This blueprint plays the *bank's* side, so it is the one place under
``providers/`` that uses Flask. It keeps no state: everything it needs travels in
the signed redirect parameters, exactly as with a real gateway.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from urllib.parse import urlsplit

import requests
from flask import Blueprint, abort, current_app, redirect, render_template, request
from werkzeug.wrappers import Response

from .signature import SIGNATURE_HEADER, BadSignature, sign_body, verify_params

bp = Blueprint("sandbox_bank", __name__, url_prefix="/sandbox-bank", template_folder="templates")
log = logging.getLogger(__name__)

_PARAMS = (
    "merchant",
    "reference",
    "amount",
    "currency",
    "description",
    "return_url",
    "callback_url",
    "expires",
    "lang",
    "sig",
)


def _secret() -> str:
    return str(current_app.config["PROVIDERS"].get("sandbox", {}).get("secret", ""))


def _verified_params(source: dict[str, str]) -> dict[str, str]:
    params = {k: source.get(k, "") for k in _PARAMS}
    try:
        verify_params(_secret(), params)
    except BadSignature:
        abort(400, description="The bank refused this payment request: its signature is not valid.")
    if not params["amount"].isdigit() or int(params["expires"] or 0) < time.time():
        abort(400, description="The bank refused this payment request: it has expired or is malformed.")
    return params


@bp.get("/pay")
def show() -> str:
    """Show the simulated bank's approval page."""
    params = _verified_params(request.args.to_dict())
    return render_template("sandbox_bank.html", params=params, amount=int(params["amount"]))


@bp.post("/pay")
def decide() -> Response:
    """Approve or decline, call the merchant back server to server, then redirect the browser."""
    params = _verified_params(request.form.to_dict())
    status = "succeeded" if request.form.get("decision") == "approve" else "failed"
    body = json.dumps(
        {
            "merchant": params["merchant"],
            "reference": params["reference"],
            "transaction_id": "SBX" + secrets.token_hex(8).upper(),
            "status": status,
            "amount": int(params["amount"]),
            "currency": params["currency"],
        },
        separators=(",", ":"),
    ).encode()
    _deliver(
        params["callback_url"],
        body,
        {SIGNATURE_HEADER: sign_body(_secret(), body), "Content-Type": "application/json"},
    )
    return redirect(params["return_url"], code=303)


def _deliver(callback_url: str, body: bytes, headers: dict[str, str]) -> None:
    if current_app.config["SANDBOX_CALLBACK_TRANSPORT"] == "wsgi":
        # In-process: the same WSGI stack, raw bytes and all, with no server needed
        # (tests and the single-process embedded run).
        with current_app.test_client() as client:
            answer = client.post(urlsplit(callback_url).path, data=body, headers=headers)
            log.info("Sandbox bank callback answered %s", answer.status_code)
        return
    try:
        reply = requests.post(
            callback_url, data=body, headers=headers, timeout=(3, 10), allow_redirects=False
        )
        log.info("Sandbox bank callback answered %s", reply.status_code)
    except requests.RequestException as exc:
        # A real bank would retry later; the tester sees the return page say "pending".
        log.warning("Sandbox bank callback failed: %s", exc)
