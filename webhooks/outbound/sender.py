"""One HTTP attempt of one delivery: check the target, connect to the pinned address, classify.

Pure of the database: it takes the bytes and headers to send and answers an
:class:`AttemptResult`. Redirects are never followed and the whole attempt is bounded by
a connect timeout and a total timeout (at most 15 s).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from .schedule import parse_retry_after
from .ssrf import (
    IPAddress,
    Resolver,
    Target,
    UnsafeUrl,
    UrlPolicy,
    parse_target,
    resolve_checked,
    system_resolver,
)

USER_AGENT = "feegate-webhooks/1.0"
MAX_TOTAL_TIMEOUT = 15.0
_THROTTLE_STATUSES = frozenset({429, 503})


class AttemptOutcome(enum.StrEnum):
    """What one attempt means for its delivery."""

    SUCCEEDED = "succeeded"  # any 2xx
    FAILED = "failed"  # 3xx, 4xx other than 410, 5xx, timeout, connection error: retry later
    GONE = "gone"  # 410: the portal asks us to stop; the endpoint is disabled
    BLOCKED = "blocked"  # the URL or its address violates the security rules: never connected


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """The exact bytes and headers of one attempt."""

    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What happened on the wire, as logged on the attempt row."""

    outcome: AttemptOutcome
    latency_ms: int
    status_code: int | None = None
    response_excerpt: str = ""
    error: str | None = None
    retry_after: timedelta | None = None
    address: str | None = None  # the pinned IP we connected to


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Timeouts, URL policy and resolver for attempts; tests pass a stub resolver."""

    policy: UrlPolicy = field(default_factory=UrlPolicy)
    resolver: Resolver = system_resolver
    connect_timeout: float = 3.0
    total_timeout: float = MAX_TOTAL_TIMEOUT
    excerpt_bytes: int = 512
    ca_certs: str | None = None  # a CA bundle for tests; None uses the system store


def classify(status_code: int) -> AttemptOutcome:
    """Map an HTTP status to an outcome: 2xx success, 410 gone, anything else a failure."""
    if 200 <= status_code < 300:
        return AttemptOutcome.SUCCEEDED
    if status_code == 410:
        return AttemptOutcome.GONE
    return AttemptOutcome.FAILED


def send_once(request: OutgoingRequest, options: SendOptions) -> AttemptResult:
    """Make one attempt; never raises for network trouble, only reports it."""
    started = time.perf_counter()
    try:
        target = parse_target(request.url, options.policy)
        address = resolve_checked(target, options.policy, options.resolver)
    except UnsafeUrl as exc:
        return AttemptResult(AttemptOutcome.BLOCKED, _elapsed_ms(started), error=str(exc))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **request.headers,
        "Host": target.host_header,
    }
    total = min(options.total_timeout, MAX_TOTAL_TIMEOUT)
    timeout = urllib3.Timeout(connect=min(options.connect_timeout, total), read=total, total=total)
    pool = _pool_for(target, address, options)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=request.body,
            headers=headers,
            redirect=False,
            retries=False,
            timeout=timeout,
            preload_content=False,
            assert_same_host=False,
        )
    except NewConnectionError as exc:  # a subclass of the timeout error, but a refusal
        return AttemptResult(
            AttemptOutcome.FAILED,
            _elapsed_ms(started),
            error=f"connection error: {exc.__class__.__name__}",
            address=str(address),
        )
    except Urllib3Timeout:
        return AttemptResult(
            AttemptOutcome.FAILED, _elapsed_ms(started), error="timeout", address=str(address)
        )
    except (Urllib3Error, OSError) as exc:
        return AttemptResult(
            AttemptOutcome.FAILED,
            _elapsed_ms(started),
            error=f"connection error: {exc.__class__.__name__}",
            address=str(address),
        )
    try:
        excerpt = _read_excerpt(response, options.excerpt_bytes)
    finally:
        response.release_conn()
    status = response.status
    retry_after = None
    if status in _THROTTLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    return AttemptResult(
        classify(status),
        _elapsed_ms(started),
        status_code=status,
        response_excerpt=excerpt,
        retry_after=retry_after,
        address=str(address),
    )


def _read_excerpt(response: urllib3.BaseHTTPResponse, limit: int) -> str:
    try:
        data = response.read(limit, decode_content=False)
        # A short remainder is drained so the connection can be reused; a long one is
        # not worth reading, so the connection is dropped instead.
        if response.read(64 * 1024, decode_content=False) and response.read(1, decode_content=False):
            response.close()
    except (Urllib3Error, OSError):
        response.close()
        return ""
    return data.decode("utf-8", errors="replace")


_pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()
_MAX_POOLS = 256


def _pool_for(target: Target, address: IPAddress, options: SendOptions) -> urllib3.HTTPConnectionPool:
    """Return a keep-alive pool bound to the checked address (never to the host name)."""
    key = (target.scheme, str(address), target.port, target.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if len(_pools) >= _MAX_POOLS:
                for old in _pools.values():
                    old.close()
                _pools.clear()
            pool = _new_pool(target, address, options)
            _pools[key] = pool
        return pool


def _new_pool(target: Target, address: IPAddress, options: SendOptions) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        # Connect to the IP, but present and verify the host name (SNI + certificate).
        return urllib3.HTTPSConnectionPool(
            str(address),
            target.port,
            maxsize=4,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=options.ca_certs,
        )
    return urllib3.HTTPConnectionPool(str(address), target.port, maxsize=4)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
