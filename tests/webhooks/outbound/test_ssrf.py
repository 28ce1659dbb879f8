from __future__ import annotations

import socket

import pytest

from webhooks.outbound.sender import AttemptOutcome, OutgoingRequest, SendOptions, send_once
from webhooks.outbound.ssrf import UnsafeUrl, UrlPolicy, parse_target, resolve_checked

PRODUCTION = UrlPolicy()
DEVELOPMENT = UrlPolicy(allow_http=True, allow_private=True)
GLOBAL_IP = "8.8.8.8"


class StubResolver:
    """Answer from a script, one answer per call, and record the names asked."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def no_connect(monkeypatch):
    """Fail the test if anything opens a socket connection."""
    attempts: list[object] = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"connection attempted to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr("urllib3.util.connection.create_connection", refuse)
    return attempts


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://portal.example.gov.vn/hook", "scheme must be https"),
        ("ftp://portal.example.gov.vn/hook", "scheme must be https"),
        ("https://127.0.0.1/hook", "IP address"),
        ("https://[::1]/hook", "IP address"),
        ("https://[::ffff:127.0.0.1]/hook", "IP address"),
        ("https://2130706433/hook", "IP address"),
        ("https://0x7f000001/hook", "IP address"),
        ("https://0177.0.0.1/hook", "IP address"),
        ("https://127.1/hook", "IP address"),
        ("https://169.254.169.254/latest/meta-data", "IP address"),
        ("https://10.0.0.5/hook", "IP address"),
        ("https://user:pw@portal.example.gov.vn/hook", "credentials"),
        ("https://user@portal.example.gov.vn/hook", "credentials"),
        ("https://portal.example.gov.vn\\@evil.com/", "illegal characters"),
        ("https://localhost/hook", "fully qualified"),
        ("https:///hook", "no host"),
        ("https://portal.example.gov.vn:99999/", "invalid port"),
        ("https://bad_name.example.gov.vn/", "invalid host name"),
    ],
)
def test_parse_target_unsafe_url_refused_in_production(url, reason):
    with pytest.raises(UnsafeUrl, match=reason):
        parse_target(url, PRODUCTION)


def test_parse_target_domain_not_on_allow_list_refused():
    policy = UrlPolicy(allowed_domains=("gov.vn",))
    assert parse_target("https://dichvucong.hanoi.gov.vn/hook", policy).host == "dichvucong.hanoi.gov.vn"
    with pytest.raises(UnsafeUrl, match="allow-list"):
        parse_target("https://gov.vn.evil.com/hook", policy)


def test_parse_target_https_domain_split_for_sending():
    target = parse_target("https://Portal.Example.gov.vn:8443/hooks/fee?x=1", PRODUCTION)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "portal.example.gov.vn",
        8443,
        "/hooks/fee?x=1",
    )
    assert target.host_header == "portal.example.gov.vn:8443"


def test_parse_target_development_allows_http_and_loopback():
    target = parse_target("http://127.0.0.1:8080/hook", DEVELOPMENT)
    assert target.host_is_ip and target.port == 8080
    assert parse_target("http://localhost:8080/", DEVELOPMENT).host == "localhost"


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/"])
def test_parse_target_development_still_refuses_metadata_and_unspecified(url):
    with pytest.raises(UnsafeUrl):
        parse_target(url, DEVELOPMENT)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
        "224.0.0.1",
    ],
)
def test_resolve_checked_non_public_address_refused(address):
    target = parse_target("https://portal.example.gov.vn/hook", PRODUCTION)
    with pytest.raises(UnsafeUrl):
        resolve_checked(target, PRODUCTION, StubResolver([address]))


def test_resolve_checked_one_private_among_public_refused():
    target = parse_target("https://portal.example.gov.vn/hook", PRODUCTION)
    with pytest.raises(UnsafeUrl, match="10.1.2.3"):
        resolve_checked(target, PRODUCTION, StubResolver([GLOBAL_IP, "10.1.2.3"]))


def test_resolve_checked_public_address_pinned():
    target = parse_target("https://portal.example.gov.vn/hook", PRODUCTION)
    assert str(resolve_checked(target, PRODUCTION, StubResolver([GLOBAL_IP]))) == GLOBAL_IP


def test_resolve_checked_lookup_failure_refused():
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such name")

    target = parse_target("https://portal.example.gov.vn/hook", PRODUCTION)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        resolve_checked(target, PRODUCTION, failing)


@pytest.mark.parametrize(
    "url",
    [
        "http://portal.example.gov.vn/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://user:pw@portal.example.gov.vn/hook",
    ],
)
def test_send_once_unsafe_url_blocked_without_connecting(url, no_connect):
    resolver = StubResolver([GLOBAL_IP])
    result = send_once(OutgoingRequest(url, b"{}", {}), SendOptions(policy=PRODUCTION, resolver=resolver))
    assert result.outcome is AttemptOutcome.BLOCKED
    assert result.error is not None and result.error.startswith("violates security rules")
    assert resolver.calls == []
    assert no_connect == []


def test_send_once_rebinding_to_private_at_send_blocked_without_connecting(no_connect):
    # Public when the endpoint was registered, private when the delivery goes out.
    resolver = StubResolver([GLOBAL_IP], ["169.254.169.254"])
    url = "https://portal.example.gov.vn/hook"
    target = parse_target(url, PRODUCTION)
    assert str(resolve_checked(target, PRODUCTION, resolver)) == GLOBAL_IP

    result = send_once(OutgoingRequest(url, b"{}", {}), SendOptions(policy=PRODUCTION, resolver=resolver))

    assert result.outcome is AttemptOutcome.BLOCKED
    assert "169.254.169.254" in (result.error or "")
    assert resolver.calls == ["portal.example.gov.vn", "portal.example.gov.vn"]
    assert no_connect == []
