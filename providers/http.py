"""Outbound HTTP shared by every adapter client: explicit timeouts, one error mapping.

Transport errors, timeouts, 5xx and 429 become :class:`ProviderUnavailable`
(retryable; the outcome of the call is unknown); other 4xx become
:class:`ProviderRejected`. Nothing here retries: creates are not idempotent at
every provider, so retrying is the caller's decision (mop-up, task retry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .errors import ProviderRejected, ProviderUnavailable

USER_AGENT = "feegate/0.1 (+payments)"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Connect and read timeouts in seconds, from an adapter's settings."""

    connect: float = 5.0
    read: float = 30.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, read_default: float = 30.0) -> Timeouts:
        """Read ``connect_timeout`` and ``read_timeout`` (seconds) with defaults."""
        return cls(
            connect=float(settings.get("connect_timeout", 5.0)),
            read=float(settings.get("read_timeout", read_default)),
        )

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair requests expects."""
        return (self.connect, self.read)


def make_session() -> requests.Session:
    """Return a session with our User-Agent and no environment proxies."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # Provider calls must not be silently routed through whatever proxy the host has set.
    session.trust_env = False
    return session


def send(
    session: requests.Session,
    provider_code: str,
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    json_body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Send one request and return the decoded JSON object of a 2xx answer."""
    try:
        response = session.request(method, url, json=json_body, data=form, timeout=timeouts.as_tuple())
    except requests.Timeout as exc:
        raise ProviderUnavailable(provider_code, f"timed out: {type(exc).__name__}", timed_out=True) from exc
    except requests.RequestException as exc:
        raise ProviderUnavailable(provider_code, f"transport error: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ProviderUnavailable(provider_code, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise ProviderRejected(provider_code, f"HTTP {response.status_code}")
    try:
        decoded = response.json()
    except (json.JSONDecodeError, requests.JSONDecodeError) as exc:
        # A 2xx we cannot read says nothing about the outcome: treat it like no answer.
        raise ProviderUnavailable(provider_code, "unreadable response body") from exc
    if not isinstance(decoded, dict):
        raise ProviderUnavailable(provider_code, "response body is not a JSON object")
    return decoded
