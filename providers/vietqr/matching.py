"""Our payment reference in transfer content: defined once, in ``payments.references``."""

from __future__ import annotations

from payments.references import candidate_references, find_reference

__all__ = ["candidate_references", "find_reference"]
