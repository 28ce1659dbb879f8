"""Find one of our payment references inside free-text transfer content.

Payers type the reference into a bank transfer by hand and banks then rewrite the
text (upper-casing, dots for spaces, their own prefixes), so the search tolerates
case, spaces and punctuation *between* the reference's characters. It never
accepts part of a longer word, and two different references in one text match
nothing: a wrong settlement costs more than a manual one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Our payment reference: "FG" + 10 characters of Crockford base32 (no I, L, O, U), upper-case.
REFERENCE_PATTERN = re.compile(r"FG[0-9A-HJKMNP-TV-Z]{10}")

WORD = re.compile(r"[^\W_]+")
PREFIX = REFERENCE_PATTERN.pattern[:2]
# The reference typed as one whole word: the common case, found with one regex search.
WHOLE_WORD = re.compile(rf"(?<![^\W_]){REFERENCE_PATTERN.pattern}(?![^\W_])")
# How many words a reference may be typed across ("FG 7K3M 9Q2X AB" is four).
MAX_WORDS_PER_REFERENCE = 6
# No reference is longer than this; stop joining words past it.
MAX_REFERENCE_CHARS = 32


@dataclass(frozen=True, slots=True)
class ReferenceSearch:
    """The distinct references a text contains, in order of appearance."""

    candidates: tuple[str, ...]

    @property
    def reference(self) -> str | None:
        """Return the reference when exactly one was found."""
        return self.candidates[0] if len(self.candidates) == 1 else None

    @property
    def ambiguous(self) -> bool:
        """Return True when the text names more than one reference."""
        return len(self.candidates) > 1


def is_reference(text: str) -> bool:
    """Return True if ``text`` is exactly a well-formed payment reference."""
    return REFERENCE_PATTERN.fullmatch(text) is not None


def search_references(text: str) -> ReferenceSearch:
    """Find every reference in ``text``, joining words split by spaces or punctuation."""
    upper = text.upper()
    occurrences = upper.count(PREFIX)
    if occurrences == 0:
        return ReferenceSearch(())
    if occurrences == 1:
        # Only one word can start a reference; if it is one whole, the general search finds just it.
        whole = WHOLE_WORD.search(upper)
        if whole is not None:
            return ReferenceSearch((whole.group(),))
    return _search_words(upper)


def _search_words(upper: str) -> ReferenceSearch:
    """The general search over an upper-cased text: join words until they spell a reference."""
    words = WORD.findall(upper)
    found: list[str] = []
    for start, word in enumerate(words):
        if not word.startswith(PREFIX):
            continue
        joined = ""
        # A reference is whole words only: it must end exactly where a word ends.
        for part in words[start : start + MAX_WORDS_PER_REFERENCE]:
            joined += part
            if len(joined) > MAX_REFERENCE_CHARS:
                break
            if REFERENCE_PATTERN.fullmatch(joined):
                if joined not in found:
                    found.append(joined)
                break
    return ReferenceSearch(tuple(found))


def find_reference(text: str) -> str | None:
    """Return the single reference in ``text``, or None if there is none or more than one."""
    return search_references(text).reference
