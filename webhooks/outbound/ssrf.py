"""Rules for where a portal's webhook may point, and the resolver that pins a send to a checked IP.

A URL is checked twice: its shape when the endpoint is registered, and its resolved
addresses at every send. The sender then connects to the address checked here, not to
whatever the name resolves to a moment later, so DNS rebinding cannot reach loopback,
private or metadata addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``resolver(host, port) -> addresses``; tests pass a stub so no real lookup happens.
Resolver = Callable[[str, int], Sequence[str]]

# A host whose last label is all digits or hex ("2130706433", "0x7f000001", "127.1") is an
# IPv4 literal to browsers and to getaddrinfo, whatever it looks like.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = ipaddress.ip_network("169.254.0.0/16")


class UnsafeUrl(ValueError):
    """The URL, or an address it resolves to, violates the webhook security rules."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"violates security rules: {reason}")
        #: short machine-friendly reason, also stored on a refused delivery
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What a deployment accepts as a webhook target.

    :param allow_http: accept ``http://`` (development and test only).
    :param allow_private: accept loopback and private addresses and IP literals
        (development and test only); link-local and metadata addresses stay refused.
    :param allowed_domains: if not empty, the host must equal one of these or be a
        sub-domain of one.
    """

    allow_http: bool = False
    allow_private: bool = False
    allowed_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """A URL split into what the sender needs, after the shape checks."""

    scheme: str
    host: str  # lower-case, IDNA-encoded; the TLS server name and Host header
    port: int
    path: str  # path plus query, never empty
    host_is_ip: bool

    @property
    def host_header(self) -> str:
        """Return the Host header value, with the port only when it is not the default."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str, policy: UrlPolicy) -> Target:
    """Check a webhook URL's shape (scheme, credentials, host) and split it."""
    if any(ch in url for ch in "\\\r\n\t ") or not url.isascii():
        raise UnsafeUrl("illegal characters in URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_http):
        raise UnsafeUrl("scheme must be https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("credentials in URL")
    if parts.fragment:
        raise UnsafeUrl("fragment in URL")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("invalid port") from None
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("no host")
    literal = _ip_literal(host)
    if literal is not None:
        if not policy.allow_private:
            raise UnsafeUrl("IP address instead of a domain name")
        check_address(literal, policy)
        host = str(literal)
    else:
        labels = host.split(".")
        if not all(_HOST_LABEL.match(label) for label in labels):
            raise UnsafeUrl("invalid host name")
        if len(labels) < 2 and not (policy.allow_private and host == "localhost"):
            raise UnsafeUrl("host must be a fully qualified domain name")
        if policy.allowed_domains and not _allowed(host, policy.allowed_domains):
            raise UnsafeUrl("domain not on the allow-list")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, host_is_ip=literal is not None)


def check_address(address: IPAddress, policy: UrlPolicy) -> None:
    """Refuse an address a webhook must never reach under ``policy``."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        check_address(inner, policy)
        return
    if address.is_loopback:
        if not policy.allow_private:
            raise UnsafeUrl(f"loopback address {address}")
        return
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        raise UnsafeUrl(f"non-routable address {address}")
    if address.is_link_local or (address.version == 4 and address in _METADATA):
        # Cloud metadata (169.254.169.254) lives here; refused even in development.
        raise UnsafeUrl(f"link-local address {address}")
    if not address.is_global and not policy.allow_private:
        raise UnsafeUrl(f"non-public address {address}")


def resolve_checked(target: Target, policy: UrlPolicy, resolver: Resolver) -> IPAddress:
    """Resolve ``target``'s host, refuse it if any address is not allowed, and pick one to pin."""
    if target.host_is_ip:
        address = ipaddress.ip_address(target.host)
        check_address(address, policy)
        return address
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(target.host, target.port)]
    except (OSError, ValueError) as exc:
        raise UnsafeUrl(f"host does not resolve: {exc.__class__.__name__}") from None
    if not found:
        raise UnsafeUrl("host does not resolve")
    # Every address must pass: a name that answers with one public and one private
    # address is an attacker's way to get a private one picked later.
    for address in found:
        check_address(address, policy)
    return found[0]


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the operating system's resolver (TCP addresses only)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        # Legacy forms getaddrinfo still accepts: decimal, hex, octal, short dotted.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise UnsafeUrl("IP address instead of a domain name") from None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed(host: str, domains: Sequence[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (d.lower().strip(".") for d in domains))
