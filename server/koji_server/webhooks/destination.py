"""Where a webhook may be sent: http(s) only, never to link-local or cloud
metadata addresses (checked on the resolved addresses, at add time and before
every attempt)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

# Metadata services that are not link-local.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)


class UnsafeDestination(ValueError):
    """The URL may not receive webhooks; the message says why."""


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


def check_address(address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip in METADATA_ADDRESSES:
        raise UnsafeDestination(f"{ip} is a link-local or metadata address")
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise UnsafeDestination(f"{ip} cannot receive webhooks")


async def check_destination(url: str) -> None:
    """Shape, then every address the host resolves to."""
    host = check_url(url)
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeDestination(f"cannot resolve {host}: {error.strerror or error}") from None
    for _family, _type, _proto, _name, sockaddr in infos:
        check_address(str(sockaddr[0]))
