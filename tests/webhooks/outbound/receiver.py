"""A portal's webhook receiver on 127.0.0.1 for process-level tests and the benchmark.

It verifies every request with the ``standardwebhooks`` library against each secret it
holds, records what arrived and when, and answers as told (status, delay).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request as the receiver saw it."""

    webhook_id: str
    received_at: float  # time.time()
    verified_by: frozenset[int]  # indexes of the secrets that verified it
    signatures: int  # entries in webhook-signature
    body: bytes


@dataclass
class Receiver:
    """A threaded WSGI receiver; ``delay(webhook_id)`` seconds to sleep before answering."""

    secrets: list[str] = field(default_factory=list)
    status: int = 200
    delay: Callable[[str], float] = lambda webhook_id: 0.0
    arrivals: list[Arrival] = field(default_factory=list)
    _server: BaseWSGIServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        """Serve on a free loopback port in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """Return the URL to register as an endpoint."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def ids(self) -> list[str]:
        """Return the webhook ids received, in arrival order."""
        with self._lock:
            return [a.webhook_id for a in self.arrivals]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.arrivals) >= count:
                    return True
            time.sleep(0.05)
        return False

    def verified_by_all(self, indexes: Iterable[int]) -> bool:
        """Return True if every arrival verified with each of these secrets."""
        wanted = frozenset(indexes)
        with self._lock:
            return all(wanted <= a.verified_by for a in self.arrivals)

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()
        headers = dict(request.headers)
        webhook_id = headers.get("Webhook-Id", "")
        received_at = time.time()
        verified = set()
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.add(index)
        arrival = Arrival(
            webhook_id,
            received_at,
            frozenset(verified),
            len(headers.get("Webhook-Signature", "").split()),
            body,
        )
        with self._lock:
            self.arrivals.append(arrival)
        pause = self.delay(webhook_id)
        if pause:
            time.sleep(pause)
        return Response("ok", status=self.status)(environ, start_response)
