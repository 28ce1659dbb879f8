"""Bearer API-key authentication for portal backends."""

from __future__ import annotations

import hmac

from flask import current_app, g, request

from . import repository
from .apikey_cache import get_cache
from .apikeys import hash_secret, parse_key
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
    presented_hash = hash_secret(current_app.config["API_KEY_PEPPER"], parsed.secret)
    cache = get_cache()
    key = cache.get(parsed.key_id, presented_hash)
    if key is None:
        session = get_session()
        key = repository.get_api_key(session, parsed.key_id)
        if (
            key is None
            or key.revoked_at is not None
            or not hmac.compare_digest(presented_hash, key.secret_hash)
        ):
            raise Unauthorized()
        if cache.seconds > 0:
            # Out of the session before other threads share them: a rollback in this request
            # would otherwise expire them, leaving every later request a detached, unloaded key.
            session.expunge(key.agency)
            session.expunge(key)
            cache.put(key, presented_hash)
    g.api_key = key
    return key


def current_agency() -> Agency:
    """Return the agency of the authenticated key."""
    key: ApiKey = g.api_key
    return key.agency


def current_actor() -> str:
    """Return the audit actor of the authenticated key."""
    return f"api_key:{g.api_key.key_id}"
