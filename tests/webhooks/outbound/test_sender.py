from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from webhooks.outbound.sender import (
    MAX_TOTAL_TIMEOUT,
    AttemptOutcome,
    OutgoingRequest,
    SendOptions,
    classify,
    send_once,
)
from webhooks.outbound.ssrf import UrlPolicy

LOCAL = UrlPolicy(allow_http=True, allow_private=True)


@pytest.fixture
def receiver():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def post(url: str, **options) -> object:
    request = OutgoingRequest(url, b'{"id":"evt_1"}', {"webhook-id": "evt_1"})
    return send_once(request, SendOptions(policy=LOCAL, resolver=loopback, **options))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, AttemptOutcome.SUCCEEDED),
        (204, AttemptOutcome.SUCCEEDED),
        (299, AttemptOutcome.SUCCEEDED),
        (301, AttemptOutcome.FAILED),
        (302, AttemptOutcome.FAILED),
        (400, AttemptOutcome.FAILED),
        (401, AttemptOutcome.FAILED),
        (404, AttemptOutcome.FAILED),
        (410, AttemptOutcome.GONE),
        (429, AttemptOutcome.FAILED),
        (500, AttemptOutcome.FAILED),
        (503, AttemptOutcome.FAILED),
    ],
)
def test_classify_status_code_matrix(status, outcome):
    assert classify(status) is outcome


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, AttemptOutcome.SUCCEEDED), (500, AttemptOutcome.FAILED), (410, AttemptOutcome.GONE)],
)
def test_send_once_receiver_status_logged(receiver, status, outcome):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok body", status=status)
    result = post(receiver.url_for("/hook"))
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.response_excerpt == "ok body"
    assert result.address == "127.0.0.1"
    assert result.latency_ms >= 0


def test_send_once_sends_body_and_headers_unchanged(receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    post(receiver.url_for("/hook"))
    ((request, _),) = receiver.log
    assert request.get_data() == b'{"id":"evt_1"}'
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["Content-Type"] == "application/json"


def test_send_once_connects_to_pinned_address_with_original_host_header(receiver):
    receiver.expect_request("/hook").respond_with_data("", status=200)
    url = f"http://portal.example.test:{receiver.port}/hook"
    result = post(url)
    assert result.outcome is AttemptOutcome.SUCCEEDED
    ((request, _),) = receiver.log
    assert request.headers["Host"] == f"portal.example.test:{receiver.port}"


def test_send_once_redirect_is_failure_and_not_followed(receiver):
    receiver.expect_request("/hook").respond_with_response(
        Response("", status=302, headers={"Location": receiver.url_for("/elsewhere")})
    )
    receiver.expect_request("/elsewhere").respond_with_data("", status=200)
    result = post(receiver.url_for("/hook"))
    assert result.outcome is AttemptOutcome.FAILED
    assert result.status_code == 302
    assert [r.path for r, _ in receiver.log] == ["/hook"]


@pytest.mark.parametrize("status", [429, 503])
def test_send_once_retry_after_read_on_throttle(receiver, status):
    receiver.expect_request("/hook").respond_with_response(
        Response("slow down", status=status, headers={"Retry-After": "120"})
    )
    result = post(receiver.url_for("/hook"))
    assert result.outcome is AttemptOutcome.FAILED
    assert result.retry_after == timedelta(seconds=120)


def test_send_once_retry_after_ignored_on_other_failures(receiver):
    receiver.expect_request("/hook").respond_with_response(
        Response("", status=500, headers={"Retry-After": "120"})
    )
    assert post(receiver.url_for("/hook")).retry_after is None


def test_send_once_stalled_receiver_cut_at_total_timeout(receiver):
    def stall(request: Request) -> Response:
        time.sleep(2)
        return Response("late", status=200)

    receiver.expect_request("/hook").respond_with_handler(stall)
    started = time.monotonic()
    result = post(receiver.url_for("/hook"), total_timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert result.outcome is AttemptOutcome.FAILED
    assert result.error == "timeout"
    assert result.status_code is None


def test_send_once_refused_connection_is_failure():
    # A port nobody listens on: bind, note the port, close.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = post(f"http://127.0.0.1:{port}/hook")
    assert result.outcome is AttemptOutcome.FAILED
    assert result.error is not None and result.error.startswith("connection error")


def test_send_once_long_answer_excerpt_truncated(receiver):
    receiver.expect_request("/hook").respond_with_data("x" * 100_000, status=200)
    result = post(receiver.url_for("/hook"), excerpt_bytes=16)
    assert result.outcome is AttemptOutcome.SUCCEEDED
    assert result.response_excerpt == "x" * 16


def test_send_options_total_timeout_never_above_fifteen_seconds():
    assert MAX_TOTAL_TIMEOUT == 15.0
