"""Origins and return-URL checks: the only places we send a citizen's browser are registered ones."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE_CHARS = re.compile(r"[\\\s\x00-\x1f]")


class BadOrigin(ValueError):
    """The URL is not an absolute http(s) URL with a plain ASCII host."""


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``, normalised, or raise :class:`BadOrigin`."""
    if _UNSAFE_CHARS.search(url):
        raise BadOrigin("contains backslashes, spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadOrigin("is not a valid URL") from exc
    if parts.scheme not in _DEFAULT_PORTS:
        raise BadOrigin("must be an http or https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadOrigin("must not contain credentials")
    host = parts.hostname
    if not host or not host.isascii() or host.startswith(".") or host.endswith("."):
        raise BadOrigin("must name a plain ASCII host (use punycode for IDN)")
    default = _DEFAULT_PORTS[parts.scheme]
    suffix = "" if port in (None, default) else f":{port}"
    return f"{parts.scheme}://{host.lower()}{suffix}"


def return_url_allowed(url: str, registered_origins: list[str]) -> bool:
    """Tell whether ``url``'s origin is exactly one of the agency's registered origins."""
    try:
        origin = origin_of(url)
    except BadOrigin:
        return False
    return origin in _normalised(tuple(registered_origins))


@lru_cache(maxsize=1024)
def _normalised(origins: tuple[str, ...]) -> frozenset[str]:
    # Registered origins were checked when they were registered; this runs on every new invoice.
    return frozenset(origin_of(o) for o in origins)
