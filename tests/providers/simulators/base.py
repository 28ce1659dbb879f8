"""What every provider simulator shares: a threaded WSGI server on 127.0.0.1, faults, callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from providers.base import CallbackRequest


@dataclass
class Faults:
    """Misbehaviour a test can switch on; the simulator reads it on every request."""

    delay: float = 0.0  # sleep this long before answering an API call (a client timeout)
    status: int | None = None  # answer API calls with this HTTP status (503, 429)
    wrong_amount: bool = False  # callbacks and query answers report 1,000 VND more than paid
    wrong_signature: bool = False  # callbacks carry a signature that does not verify
    duplicate: bool = False  # every callback is sent twice
    out_of_order: bool = False  # a stale, earlier statement is sent after the final one


@dataclass(frozen=True)
class SimCallback:
    """A callback as the provider would send it."""

    method: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def as_request(self, path: str) -> CallbackRequest:
        """The framework-neutral form our adapters read."""
        return CallbackRequest(
            method=self.method, path=path, headers=self.headers, query=self.query, body=self.body
        )

    def send(self, url: str, timeout: float = 5.0) -> requests.Response:
        """Deliver it over HTTP to ``url`` (our callback endpoint on 127.0.0.1)."""
        return requests.request(
            self.method,
            url,
            params=self.query or None,
            data=self.body or None,
            headers=self.headers,
            timeout=timeout,
        )


class Simulator:
    """Base of the simulators: routes, fault handling and the server thread."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests_seen: list[tuple[str, str]] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        """``{(method, path): handler}``; subclasses fill it in."""
        raise NotImplementedError

    def is_api(self, path: str) -> bool:
        """Whether faults apply to ``path`` (server-to-server calls, not the payer's browser page)."""
        return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        self.requests_seen.append((request.method, request.path))
        if self.is_api(request.path):
            if self.faults.delay:
                time.sleep(self.faults.delay)
            if self.faults.status:
                return Response("simulated failure", status=self.faults.status)(environ, start_response)
        handler = self.routes().get((request.method, request.path))
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def start(self) -> Simulator:
        """Serve on an ephemeral port of 127.0.0.1 in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def emit(self, final: SimCallback, stale: SimCallback | None = None) -> list[SimCallback]:
        """Apply the duplicate and out-of-order faults to the callbacks of one payment."""
        sent = [final]
        if self.faults.duplicate:
            sent.append(final)
        if self.faults.out_of_order and stale is not None:
            sent.append(stale)
        return sent


def flip_hex(signature: str) -> str:
    """Change the last hex digit, keeping the length: a signature that does not verify."""
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")
