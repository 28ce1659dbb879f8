"""Find our payment reference in the free text a citizen typed as transfer content.

Bank apps and people mangle the content: lower case, spaces or dots inside the
reference, other words around it, bank prefixes glued on with punctuation. We
accept a reference spread over consecutive alphanumeric runs that together are
exactly ``FG`` + 10 Crockford base-32 characters, starting and ending on run
boundaries. Anything glued to it without a separator (``FG7K3M9Q2XABC``), a
shorter run (a partial reference), or two different references is no match:
the credit then waits for a person, which is always safer than a wrong match.
"""

from __future__ import annotations

import re

PREFIX = "FG"
BODY_LENGTH = 10
REFERENCE_LENGTH = len(PREFIX) + BODY_LENGTH
_CROCKFORD = re.compile(r"\A[0-9A-HJKMNP-TV-Z]{10}\Z")
# Crockford's decoding rule: O reads as 0, I and L as 1; U is never used.
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_RUNS = re.compile(r"[A-Za-z0-9]+")


def _normalise(candidate: str) -> str | None:
    upper = candidate.upper()
    if not upper.startswith(PREFIX):
        return None
    body = upper[len(PREFIX) :].translate(_CROCKFORD_ALIASES)
    return PREFIX + body if _CROCKFORD.match(body) else None


def candidate_references(content: str) -> set[str]:
    """Every well-formed reference in ``content``, normalised to upper case."""
    runs = _RUNS.findall(content)
    found: set[str] = set()
    for start in range(len(runs)):
        joined = ""
        for run in runs[start:]:
            joined += run
            if len(joined) >= REFERENCE_LENGTH:
                break
        if len(joined) == REFERENCE_LENGTH and (reference := _normalise(joined)):
            found.add(reference)
    return found


def find_reference(content: str) -> str | None:
    """Return the one reference in ``content``, or None when there is none or more than one."""
    found = candidate_references(content)
    return found.pop() if len(found) == 1 else None
