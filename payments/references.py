"""Find our payment reference inside the free text a payer typed as transfer content.

The one definition used by the VietQR adapter (a credit notification names its
payment) and by reconciliation (a statement line names its payment).

Bank apps and people mangle the content: lower case, spaces or punctuation inside
the reference, other words around it, bank prefixes glued on with punctuation. A
reference is found when consecutive words (runs of letters and digits, any script)
spell exactly ``FG`` + 10 Crockford base-32 characters, starting where a word
starts and ending where a word ends. Crockford's decoding rule applies: ``O`` reads
as ``0``, ``I`` and ``L`` as ``1`` (each alias decodes to one character, so it never
makes a text ambiguous); ``U`` is never a reference character. Anything glued to
the reference (``FG7K3M9Q2XABC``), a partial reference, or two different references
in one text is no match: the credit then waits for a person, which is always safer
than a wrong match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ids import CROCKFORD, PAYMENT_REFERENCE_LENGTH, PAYMENT_REFERENCE_PREFIX

#: A reference in its canonical form: "FG" + 10 upper-case Crockford base-32 characters.
REFERENCE_PATTERN = re.compile(
    rf"{PAYMENT_REFERENCE_PREFIX}[{re.escape(CROCKFORD)}]{{{PAYMENT_REFERENCE_LENGTH - 2}}}"
)

_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_ALIAS_CHARS = frozenset("OIL")
_BODY_CHAR = "[0-9A-TV-Z]"  # Crockford plus its aliases O, I, L: every letter but U
_SEPARATORS = r"[\W_]*"  # anything that is not a letter or digit may sit between characters
_WORD_CHAR = r"[^\W_]"
# A zero-width match at every word start where a spread-out reference begins, capturing it:
# overlapping candidates are all seen, so two different references are never missed.
_SPREAD = re.compile(
    rf"(?<!{_WORD_CHAR})(?=("
    + _SEPARATORS.join([*PAYMENT_REFERENCE_PREFIX, *[_BODY_CHAR] * (PAYMENT_REFERENCE_LENGTH - 2)])
    + rf")(?!{_WORD_CHAR}))"
)
_NOT_WORD = re.compile(r"[\W_]+")
_FIRST = PAYMENT_REFERENCE_PREFIX[0]
# The common case, a reference typed as one whole word: a literal-prefixed search, much cheaper.
_COMPACT = re.compile(
    rf"{PAYMENT_REFERENCE_PREFIX}{_BODY_CHAR}{{{PAYMENT_REFERENCE_LENGTH - 2}}}(?!{_WORD_CHAR})"
)


@dataclass(frozen=True, slots=True)
class ReferenceSearch:
    """The distinct references a text contains, in order of appearance, in canonical form."""

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
    """Return True if ``text`` is exactly a reference in canonical form."""
    return REFERENCE_PATTERN.fullmatch(text) is not None


def search_references(text: str) -> ReferenceSearch:
    """Find every reference in ``text``, joining words split by spaces or punctuation."""
    return ReferenceSearch(reference_candidates(text))


def reference_candidates(text: str) -> tuple[str, ...]:
    """Return the distinct references in ``text``, in order of appearance, in canonical form.

    What :func:`search_references` finds, as a bare tuple for callers that search a
    million texts (statement imports).
    """
    upper = text.upper()
    if _FIRST not in upper:  # most texts without a reference are dismissed here
        return ()
    compact = _COMPACT.search(upper)
    if compact is not None:
        start, end = compact.span()
        # Every candidate starts with an F at a word start: with none outside this whole word,
        # it is the only one. (``[\W_]`` is exactly "not ``str.isalnum``", as ``re`` defines words.)
        if (
            (start == 0 or not upper[start - 1].isalnum())
            and upper.rfind(_FIRST, 0, start) == -1
            and upper.find(_FIRST, end) == -1
        ):
            reference = compact.group()
            if _ALIAS_CHARS.isdisjoint(reference):
                return (reference,)
            return (reference.translate(_ALIASES),)
    found: list[str] = []
    for match in _SPREAD.finditer(upper):
        spread = match.group(1)
        joined = spread if len(spread) == PAYMENT_REFERENCE_LENGTH else _NOT_WORD.sub("", spread)
        reference = joined.translate(_ALIASES)
        if reference not in found:
            found.append(reference)
    return tuple(found)


def candidate_references(text: str) -> set[str]:
    """Return every distinct reference in ``text``."""
    return set(search_references(text).candidates)


def find_reference(text: str) -> str | None:
    """Return the single reference in ``text``, or None if there is none or more than one."""
    return search_references(text).reference
