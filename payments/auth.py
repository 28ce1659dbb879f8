"""Bearer API-key authentication for portal backends."""

from __future__ import annotations

from flask import current_app, g, request

from . import repository
from .apikeys import parse_key, secret_matches
from .db import get_session
from .errors import Unauthorized
from .models import Agency, ApiKey


def authenticate_request() -> ApiKey:
    """Authenticate the current request's ``Authorization: Bearer`` key, or raise :class:`Unauthorized`."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized()
    parsed = parse_key(presented.strip())
    # A test key on a live deployment (or the reverse) is refused like an unknown one.
    if parsed is None or parsed.mode != current_app.config["API_KEY_MODE"]:
        raise Unauthorized()
    key = repository.get_api_key(get_session(), parsed.key_id)
    if (
        key is None
        or key.revoked_at is not None
        or not secret_matches(current_app.config["API_KEY_PEPPER"], parsed.secret, key.secret_hash)
    ):
        raise Unauthorized()
    g.api_key = key
    return key


def current_agency() -> Agency:
    """Return the agency of the authenticated key."""
    key: ApiKey = g.api_key
    return key.agency


def current_actor() -> str:
    """Return the audit actor of the authenticated key."""
    return f"api_key:{g.api_key.key_id}"
