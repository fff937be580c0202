"""Where a webhook may be sent, and the address it is sent to.

- http(s) only, no credentials in the URL;
- never link-local or cloud-metadata addresses (also when hidden in 6to4,
  Teredo or IPv4-mapped IPv6), never multicast, unspecified or reserved ones;
- only globally routable addresses (`is_global`), unless private networks
  are allowed (KOJI_WEBHOOK_ALLOW_PRIVATE_NETWORKS, off by default: a
  receiver on the server's own network could otherwise be reached, e.g.
  Envoy's admin port);
- the host is resolved once per attempt, every address is checked, and the
  request is sent to the checked address (Host header and TLS SNI keep the
  name), so DNS cannot swap in another address between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services that are not link-local.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)


class UnsafeDestination(ValueError):
    """The URL may never receive webhooks; the message says why."""


class UnresolvableDestination(OSError):
    """The host does not resolve now; worth another try later."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked target: the URL to connect to (host replaced by the checked
    address) and the name for the Host header and TLS SNI."""

    connect_url: str
    host_header: str
    server_name: str


def check_url(url: str) -> str:
    """Validate the URL's shape; returns its host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeDestination("only http and https URLs can receive webhooks")
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("credentials in the URL are not allowed")
    if parts.hostname.lower().rstrip(".") in METADATA_HOSTS:
        raise UnsafeDestination("cloud metadata hosts cannot receive webhooks")
    return parts.hostname


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address tunnelled inside it."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if inner is not None:
                found.append(inner)
    return found


def check_address(address: str, allow_private: bool) -> IPAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for candidate in _embedded(ip):
        if candidate.is_link_local or candidate in METADATA_ADDRESSES:
            raise UnsafeDestination(f"{ip} is a link-local or metadata address")
        if candidate.is_multicast or candidate.is_unspecified:
            raise UnsafeDestination(f"{ip} cannot receive webhooks")
        if candidate.is_reserved and not candidate.is_loopback:  # ::1 sits in reserved ::/8
            raise UnsafeDestination(f"{ip} cannot receive webhooks")
        # Only globally routable addresses, unless allowed: not a list of
        # private ranges that misses one (shared address space 100.64.0.0/10,
        # benchmarking, documentation, IETF assignments...).
        if not allow_private and not candidate.is_global:
            raise UnsafeDestination(
                f"{ip} is a private or loopback address, or otherwise not public "
                "(allow private networks with KOJI_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true)"
            )
    return ip


async def resolve(url: str, allow_private: bool) -> Destination:
    """Check the URL and every address its host resolves to; pin the first."""
    host = check_url(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnresolvableDestination(f"cannot resolve {host}: {error.strerror or error}") from None
    addresses = [check_address(str(info[4][0]), allow_private) for info in infos]
    if not addresses:
        raise UnresolvableDestination(f"{host} has no address")
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Destination(
        connect_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=parts.netloc,
        server_name=host,
    )
