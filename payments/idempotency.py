"""``Idempotency-Key`` for creating POSTs (IETF draft-07 semantics).

The key row is claimed in its own short transaction, so a concurrent request
with the same key sees it and gets 409 instead of waiting; the work and the
stored response commit together in the second. Only successful responses are
kept: an error releases the key so the client can correct and retry.
Keys are scoped per agency and kept for ``IDEMPOTENCY_KEY_TTL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .db import insert_ignore, utcnow
from .errors import IdempotencyKeyReused, InvalidIdempotencyKey, RequestInProgress
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A finished request's response, replayed byte for byte."""

    status: int
    body: str
    location: str | None


def validate_key(raw: str | None) -> str | None:
    """Return the key, None when absent, or raise :class:`InvalidIdempotencyKey`."""
    if raw is None:
        return None
    if not _VALID_KEY.match(raw):
        raise InvalidIdempotencyKey(
            "Idempotency-Key must be 1-255 printable ASCII characters without spaces."
        )
    return raw


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 over method, path and the canonical JSON body (sorted keys, no whitespace)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def claim(session: Session, agency_id: int, key: str, fp: str) -> int | StoredResponse:
    """Claim ``key`` for this request: its row id to proceed, or the stored response to replay."""
    now = utcnow()
    row_id = insert_ignore(
        session,
        IdempotencyKey,
        {
            "agency_id": agency_id,
            "key": key,
            "fingerprint": fp,
            "locked_at": now,
            "finished": False,
            "created_at": now,
        },
    )
    if row_id is not None:
        return row_id
    row = session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.agency_id == agency_id, IdempotencyKey.key == key)
    ).one_or_none()
    if row is None:  # released by a failing first request a moment ago
        raise RequestInProgress(retry_after=1)
    if row.fingerprint != fp:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    if row.finished and row.response_status is not None and row.response_body is not None:
        return StoredResponse(row.response_status, row.response_body, row.response_location)
    lock_seconds = int(current_app.config["IDEMPOTENCY_LOCK_SECONDS"])
    if row.locked_at is not None and row.locked_at > now - timedelta(seconds=lock_seconds):
        raise RequestInProgress(retry_after=max(1, lock_seconds // 10))
    # The first request died holding the key: take it over, unless someone else just did.
    taken = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row.id, IdempotencyKey.locked_at == row.locked_at)
        .values(locked_at=now)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise RequestInProgress(retry_after=1)
    return row.id


def finish(session: Session, row_id: int, response: StoredResponse) -> None:
    """Store the response of the request that holds the key."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row_id)
        .values(
            finished=True,
            locked_at=None,
            response_status=response.status,
            response_body=response.body,
            response_location=response.location,
        )
    )


def release(session: Session, row_id: int) -> None:
    """Forget the key after a failed request, so that a corrected retry can use it."""
    session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.id == row_id, IdempotencyKey.finished.is_(False))
    )


def reap(session: Session) -> int:
    """Delete keys older than the retention period; return how many."""
    cutoff = utcnow() - timedelta(seconds=int(current_app.config["IDEMPOTENCY_KEY_TTL_SECONDS"]))
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
