"""Our app served over HTTP on 127.0.0.1 next to the provider simulators, and a citizen's browser."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from payments.db import get_session

from .harness import Harness


class LiveServer:
    """A threaded WSGI server whose app is attached after the port is known (BASE_URL needs it)."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    def start(self, app: Flask) -> LiveServer:
        """Serve ``app``."""
        self.app = app
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def read_db(app: Flask, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(session)`` in a short transaction of its own (SQLite locks on BEGIN IMMEDIATE)."""
    with app.app_context():
        session = get_session()
        try:
            result = fn(session)
            session.expunge_all()  # keep the loaded values readable after the rollback
            return result
        finally:
            session.rollback()


def hidden_fields(html: str) -> dict[str, str]:
    """Every hidden input of a rendered form."""
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in pairs}


@dataclass
class Checkout:
    """A citizen's browser going through our checkout."""

    server: LiveServer
    browser: requests.Session

    def choose(self, payment_url: str, provider: str) -> requests.Response:
        """Open the checkout link and submit the chosen provider; do not follow the redirect."""
        page = self.browser.get(payment_url, timeout=10)
        assert page.status_code == 200, page.text
        fields = hidden_fields(page.text)
        return self.browser.post(
            payment_url, data={**fields, "provider": provider}, allow_redirects=False, timeout=10
        )


def deliver(harness: Harness, callbacks: list[Any], server: LiveServer) -> list[requests.Response]:
    """Send the simulator's callbacks to our callback endpoint over HTTP."""
    return [callback.send(f"{server.url}/callbacks/{harness.code}") for callback in callbacks]
