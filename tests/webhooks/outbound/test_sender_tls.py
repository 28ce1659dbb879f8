from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from pytest_httpserver import HTTPServer

from webhooks.outbound.sender import AttemptOutcome, OutgoingRequest, SendOptions, send_once
from webhooks.outbound.ssrf import UrlPolicy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

HOST = "portal.example.test"


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A throwaway CA and a certificate for HOST signed by it."""
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=ca", cwd=d
    )
    _openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={HOST}", cwd=d)
    (d / "san.ext").write_text(f"subjectAltName=DNS:{HOST}\n")
    _openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "1", "-extfile", "san.ext", cwd=d,
    )  # fmt: skip
    return d


@pytest.fixture
def tls_receiver(certs):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "leaf.pem", certs / "leaf.key")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


def options(certs) -> SendOptions:
    # Private addresses allowed only so the test can use loopback; the name still must verify.
    return SendOptions(
        policy=UrlPolicy(allow_private=True),
        resolver=lambda host, port: ["127.0.0.1"],
        ca_certs=str(certs / "ca.pem"),
    )


def test_send_once_https_pinned_ip_verifies_certificate_for_host_name(tls_receiver, certs):
    tls_receiver.expect_request("/hook").respond_with_data("ok", status=200)
    url = f"https://{HOST}:{tls_receiver.port}/hook"
    result = send_once(OutgoingRequest(url, b"{}", {}), options(certs))
    assert result.outcome is AttemptOutcome.SUCCEEDED
    assert result.address == "127.0.0.1"
    ((request, _),) = tls_receiver.log
    assert request.headers["Host"] == f"{HOST}:{tls_receiver.port}"


def test_send_once_https_certificate_for_other_name_fails(tls_receiver, certs):
    tls_receiver.expect_request("/hook").respond_with_data("ok", status=200)
    url = f"https://other.example.test:{tls_receiver.port}/hook"
    result = send_once(OutgoingRequest(url, b"{}", {}), options(certs))
    assert result.outcome is AttemptOutcome.FAILED
    assert result.error is not None and result.error.startswith("connection error")
    assert tls_receiver.log == []
