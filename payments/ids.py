"""Random public identifiers and payment references."""

from __future__ import annotations

import secrets

#: Crockford base32: no I, L, O or U, so references survive being read aloud and retyped.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PAYMENT_REFERENCE_PREFIX = "FG"
PAYMENT_REFERENCE_LENGTH = 12  # "FG" + 10 characters: 50 random bits


def new_public_id(prefix: str) -> str:
    """Return ``<prefix>_`` followed by 26 random lower-case base32 characters (130 bits)."""
    return f"{prefix}_{''.join(secrets.choice(CROCKFORD) for _ in range(26)).lower()}"


def new_payment_reference() -> str:
    """Return a reference like ``FG7K3M9Q2XAB``: ASCII, upper-case, fits every provider's order id."""
    body = "".join(secrets.choice(CROCKFORD) for _ in range(PAYMENT_REFERENCE_LENGTH - 2))
    return PAYMENT_REFERENCE_PREFIX + body
