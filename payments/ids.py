"""Random public identifiers and payment references."""

from __future__ import annotations

import secrets

#: Crockford base32: no I, L, O or U, so references survive being read aloud and retyped.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PAYMENT_REFERENCE_PREFIX = "FG"
PAYMENT_REFERENCE_LENGTH = 12  # "FG" + 10 characters: 50 random bits


_CROCKFORD_LOWER = CROCKFORD.lower()


def new_public_id(prefix: str) -> str:
    """Return ``<prefix>_`` followed by 26 random lower-case base32 characters (130 bits)."""
    # One 130-bit draw cut into 5-bit digits: the same uniform ids as 26 ``secrets.choice`` calls,
    # which read the OS random source once each (a hot spot on every invoice).
    bits = secrets.randbits(130)
    return prefix + "_" + "".join(_CROCKFORD_LOWER[(bits >> shift) & 31] for shift in range(0, 130, 5))


def new_payment_reference() -> str:
    """Return a reference like ``FG7K3M9Q2XAB``: ASCII, upper-case, fits every provider's order id."""
    body = "".join(secrets.choice(CROCKFORD) for _ in range(PAYMENT_REFERENCE_LENGTH - 2))
    return PAYMENT_REFERENCE_PREFIX + body
