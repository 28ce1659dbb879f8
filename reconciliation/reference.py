"""Our payment reference in transfer content: defined once, in ``payments.references``."""

from __future__ import annotations

from payments.references import (
    REFERENCE_PATTERN,
    ReferenceSearch,
    find_reference,
    is_reference,
    reference_candidates,
    search_references,
)

__all__ = [
    "REFERENCE_PATTERN",
    "ReferenceSearch",
    "find_reference",
    "is_reference",
    "reference_candidates",
    "search_references",
]
