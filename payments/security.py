"""Security headers on every response; a CSP nonce per HTML response; cookie sessions signed cheaply."""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Response as FlaskResponse
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of keys.

    Flask builds a new one on every request, API calls included (which carry no cookie
    and never touch the session); that and saving the untouched session cost 10-25 us of
    CPU of a 700 us invoice creation. The keys are still read on every request, as Flask
    does, so a changed ``SECRET_KEY`` takes effect at once.
    """

    _built: tuple[tuple[object, ...], URLSafeTimedSerializer | None] = ((), None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built_for, serializer = self._built  # one tuple: threads read a consistent pair
        if built_for != keys:
            serializer = super().get_signing_serializer(app)
            self._built = (keys, serializer)
        return serializer

    def save_session(self, app: Flask, session: SessionMixin, response: FlaskResponse) -> None:
        # What Flask's own does for a session nobody touched (an API call's), without first
        # reading seven cookie settings from the config.
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


def csp_nonce() -> str:
    """Return this response's CSP nonce (templates use it on inline styles and scripts)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def _content_security_policy(nonce: str, production: bool) -> str:
    # Checkout forms redirect to the chosen provider, and Chrome applies form-action
    # to that redirect too, so providers' (https) origins must be allowed.
    form_action = "'self' https:" if production else "'self' https: http://127.0.0.1:* http://localhost:*"
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def init_app(app: Flask) -> None:
    """Add the headers after every request; sign session cookies with a serializer built once."""
    production = app.config.get("ENV_NAME") == "production"
    app.session_interface = CookieSessionInterface()

    @app.context_processor
    def _nonce() -> dict[str, object]:
        return {"csp_nonce": csp_nonce}

    # Added unless the view set them. Checkout URLs carry signed tokens: never leak them to
    # providers as a Referer.
    defaults = [
        ("Strict-Transport-Security", app.config["HSTS"]),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # One pass over the headers, not one per default (setdefault scans them all): 12 -> 5 us.
        present = {name.lower() for name in headers.keys()}
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        if response.mimetype == "text/html":
            headers["Content-Security-Policy"] = _content_security_policy(csp_nonce(), production)
        if request.path.startswith(("/pay", "/api/", "/sandbox-bank")):
            headers["Cache-Control"] = "no-store"
        return response
