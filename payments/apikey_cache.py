"""A short-lived in-process cache of authenticated API keys, so most requests skip the key lookup.

The lookup (``api_keys`` joined with ``agencies``) cost ~15 % of an invoice's server CPU.
An entry is made only after a presented secret matched a key that was not revoked, and it
holds the keyed hash of that secret: a hit still compares the presented secret's hash with
``hmac.compare_digest``, so a wrong secret never authenticates from the cache, and an unknown
or wrong key always goes to the database. Entries live ``API_KEY_CACHE_SECONDS`` (at most 10,
0 disables the cache): a key revoked, or an agency changed (e.g. its return origins), in another
process takes effect in every worker within that many seconds; in this process, revocation
forgets the key at once.

The cached :class:`~payments.models.ApiKey` and its agency are detached ORM objects shared by
the worker's threads: callers only read them (``agency.id``, ``agency.return_origins``) and
must never add them to a session.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from flask import Flask, current_app

from .models import ApiKey

#: the bound on how long a revoked key may keep working in another process
MAX_SECONDS = 10.0
#: enough for every key of a deployment; beyond it the cache starts over rather than grow
MAX_ENTRIES = 4096
_EXTENSION = "feegate.api_key_cache"


@dataclass(frozen=True, slots=True)
class _Entry:
    secret_hash: str
    key: ApiKey
    expires_at: float


class ApiKeyCache:
    """Authenticated keys by key id, each with the keyed hash of the secret that matched."""

    def __init__(self, seconds: float) -> None:
        if not 0 <= seconds <= MAX_SECONDS:
            raise ValueError(f"API_KEY_CACHE_SECONDS must be between 0 and {MAX_SECONDS:g}")
        self.seconds = seconds
        # Plain dict operations are atomic under the GIL; a lost race only costs a lookup.
        self._entries: dict[str, _Entry] = {}

    def get(self, key_id: str, presented_hash: str) -> ApiKey | None:
        """Return the cached key if it was authenticated with this secret less than ``seconds`` ago."""
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if time.monotonic() >= entry.expires_at:
            self._entries.pop(key_id, None)
            return None
        if not hmac.compare_digest(presented_hash, entry.secret_hash):
            return None
        return entry.key

    def put(self, key: ApiKey, presented_hash: str) -> None:
        """Remember a key that just authenticated (not revoked, secret matched)."""
        if self.seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key.key_id] = _Entry(presented_hash, key, time.monotonic() + self.seconds)

    def forget(self, key_id: str) -> None:
        """Drop a key (on revocation), so this process stops accepting it at once."""
        self._entries.pop(key_id, None)


def init_app(app: Flask) -> None:
    """Give ``app`` its cache, sized by ``API_KEY_CACHE_SECONDS``."""
    app.extensions[_EXTENSION] = ApiKeyCache(float(app.config.get("API_KEY_CACHE_SECONDS", MAX_SECONDS)))


def get_cache() -> ApiKeyCache:
    """Return the current app's cache (a disabled one if the app has none)."""
    cache: ApiKeyCache | None = current_app.extensions.get(_EXTENSION)
    if cache is None:
        cache = current_app.extensions[_EXTENSION] = ApiKeyCache(0)
    return cache
