"""API keys: shown once, stored as a keyed hash, looked up by their public half."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIXES = {"test": "fg_test_", "live": "fg_live_"}


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``plaintext`` is shown once and never stored."""

    key_id: str
    plaintext: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """A key as a client presented it, split into its parts."""

    mode: str
    key_id: str
    secret: str


def hash_secret(pepper: str, secret: str) -> str:
    """Return the keyed hash stored for ``secret``."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def generate_key(mode: str, pepper: str) -> NewKey:
    """Make a key ``fg_<mode>_<key id>_<secret>`` with 256 random bits of secret."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{KEY_PREFIXES[mode]}{key_id}_{secret}", hash_secret(pepper, secret))


def parse_key(presented: str) -> PresentedKey | None:
    """Split a presented key into its parts; None if it is not shaped like one of ours."""
    for mode, prefix in KEY_PREFIXES.items():
        if presented.startswith(prefix):
            key_id, sep, secret = presented[len(prefix) :].partition("_")
            if sep and len(key_id) == 16 and secret and len(presented) <= 128:
                return PresentedKey(mode, key_id, secret)
    return None


def secret_matches(pepper: str, secret: str, stored_hash: str) -> bool:
    """Compare a presented secret with the stored hash in constant time."""
    return hmac.compare_digest(hash_secret(pepper, secret), stored_hash)
