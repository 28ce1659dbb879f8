"""Signed links for our own pages (itsdangerous): one salt per purpose, always timed."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

PAY_LINK = "feegate.pay-link"
RETURN_LINK = "feegate.return-link"


class LinkInvalid(Exception):
    """The link was tampered with, signed for another purpose, or is unknown."""


class LinkExpired(LinkInvalid):
    """The link was genuine but is too old."""


def serializer(salt: str) -> URLSafeTimedSerializer:
    """Return a serializer for one purpose; SECRET_KEYS are oldest to newest, for rotation."""
    return _serializer(tuple(current_app.config["SECRET_KEYS"]), salt)


@lru_cache(maxsize=32)
def _serializer(secret_keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    # Built once per keys and purpose: every invoice response signs a checkout link.
    return URLSafeTimedSerializer(
        list(secret_keys), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def sign(salt: str, value: str) -> str:
    """Sign ``value`` for ``salt`` with the newest key."""
    return str(serializer(salt).dumps(value))


def unsign(salt: str, token: str, max_age: int) -> str:
    """Return the value signed in ``token`` if it is genuine and younger than ``max_age`` seconds."""
    try:
        value = serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:  # subclass of BadSignature: catch it first
        raise LinkExpired() from None
    except BadSignature:
        raise LinkInvalid() from None
    if not isinstance(value, str):
        raise LinkInvalid()
    return value
