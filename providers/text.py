"""Free text that every provider's encoder and signer agrees on.

VNPay's five official encoders disagree on ``~ * ! ( ) '`` and on any non-ASCII
character, and MoMo's Python sample signs with the ``ascii`` codec; so every free
text we put into a signed field is first reduced to :data:`ALLOWED_CHARACTERS`.
"""

from __future__ import annotations

import re
import unicodedata

#: ASCII letters and digits, space, and ``. _ - : #``: identical under PHP ``urlencode``,
#: Python ``quote_plus``, Java ``URLEncoder``, .NET ``WebUtility.UrlEncode`` and JS ``URLSearchParams``.
ALLOWED_CHARACTERS = "A-Za-z0-9 ._\\-:#"
_DISALLOWED = re.compile(f"[^{ALLOWED_CHARACTERS}]+")
_SPACES = re.compile(" {2,}")
# NFD does not decompose these two letters: they are distinct letters, not d + a mark.
_LETTERS = str.maketrans({"đ": "d", "Đ": "D"})


def strip_diacritics(text: str) -> str:
    """Return ``text`` with Vietnamese (and other Latin) diacritics removed."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def safe_text(text: str, max_length: int) -> str:
    """Reduce ``text`` to the allowed set: diacritics stripped, anything else a space, trimmed."""
    cleaned = _DISALLOWED.sub(" ", strip_diacritics(text))
    cleaned = _SPACES.sub(" ", cleaned).strip()
    return cleaned[:max_length].rstrip()
