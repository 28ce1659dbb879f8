"""One error hierarchy, rendered as RFC 9457 ``application/problem+json`` on the API.

Each error carries a stable slug; its ``type`` URI points at ``/api/v1/problems/<slug>``,
which describes it. HTML pages render the same errors as a friendly page.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

#: slug -> (title, what the client should do); served at /api/v1/problems/<slug>
PROBLEMS: dict[str, tuple[str, str]] = {
    "validation-error": ("Validation failed", "Correct the fields listed in `errors` and send again."),
    "malformed-request": (
        "Malformed request",
        "Send a UTF-8 JSON object with Content-Type application/json.",
    ),
    "unauthorized": ("Unauthorized", "Send a valid, unrevoked API key as `Authorization: Bearer <key>`."),
    "not-found": ("Not found", "The resource does not exist or belongs to another agency."),
    "method-not-allowed": ("Method not allowed", "See the OpenAPI document for the allowed methods."),
    "payload-too-large": ("Payload too large", "Request bodies are limited to 64 KiB."),
    "unsupported-media-type": ("Unsupported media type", "Send Content-Type application/json."),
    "invalid-idempotency-key": (
        "Invalid Idempotency-Key",
        "Use 1-255 printable ASCII characters; a UUID v4 is recommended.",
    ),
    "idempotency-key-reused": (
        "Idempotency-Key reused",
        "This key was used with a different request body. Use a new key for a new request.",
    ),
    "request-in-progress": (
        "Request in progress",
        "A request with this Idempotency-Key is still running. Retry after the Retry-After delay.",
    ),
    "invalid-transition": ("Invalid state transition", "The resource is not in a state that allows this."),
    "invoice-not-payable": ("Invoice not payable", "The invoice is paid, expired or cancelled."),
    "rate-limited": ("Too many requests", "Slow down and retry after the Retry-After delay."),
    "server-error": ("Internal server error", "Retry later; if it persists, contact feegate support."),
    "database-unavailable": (
        "Service unavailable",
        "The database connection was lost; retry after Retry-After.",
    ),
    "bad-request": ("Bad request", "Correct the request and send again."),
}

#: HTTP status -> slug, for errors raised by Flask/werkzeug itself
STATUS_SLUGS = {
    400: "malformed-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "server-error",
    503: "database-unavailable",
}


class FeegateError(Exception):
    """Base of every error that reaches a client; subclasses set ``status`` and ``slug``."""

    status = 400
    slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_problem(self) -> dict[str, Any]:
        """Return the RFC 9457 body."""
        return problem(self.status, self.slug, self.detail, self.errors)


def problem(
    status: int, slug: str, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Build a problem+json body."""
    body: dict[str, Any] = {
        "type": f"/api/v1/problems/{slug}",
        "title": PROBLEMS.get(slug, PROBLEMS["bad-request"])[0],
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


class ValidationFailed(FeegateError):
    """Input that is well-formed but wrong; ``errors`` name the fields."""

    status, slug = 422, "validation-error"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """Return a validation error about one field."""
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])


class Unauthorized(FeegateError):
    """Missing, malformed, unknown or revoked credentials."""

    status, slug = 401, "unauthorized"

    def __init__(self, detail: str = "A valid API key is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="feegate"'})


class NotFound(FeegateError):
    """Absent, or another tenant's (we never say which)."""

    status, slug = 404, "not-found"


class InvalidTransition(FeegateError):
    """The resource's state does not allow the operation."""

    status, slug = 409, "invalid-transition"


class InvoiceNotPayable(FeegateError):
    """The invoice is paid, expired or cancelled."""

    status, slug = 409, "invoice-not-payable"


class InvalidIdempotencyKey(FeegateError):
    """The Idempotency-Key header is malformed."""

    status, slug = 400, "invalid-idempotency-key"


class IdempotencyKeyReused(FeegateError):
    """The key was first used with a different request."""

    status, slug = 422, "idempotency-key-reused"


class RequestInProgress(FeegateError):
    """The first request with this key has not finished yet."""

    status, slug = 409, "request-in-progress"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": str(retry_after)},
        )
