"""Where a webhook may be sent: an http or https URL whose host is not an address inside the
install's network (loopback, private, link-local, shared, multicast, reserved), unless the
company allows private addresses. Checked when the endpoint is saved and again, on the
addresses the host resolves to then, before every attempt; the attempt connects to the address
checked (see portal.webhooks.worker), so a name that resolves differently a moment later
(DNS rebinding) cannot lead it inside."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL = 2000
RESOLVE_SECONDS = 5.0  # the longest wait for a host's addresses
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(Exception):
    """The URL cannot be used; the message says why, for people."""


@dataclass(frozen=True)
class Target:
    url: SplitResult
    host: str  # as written in the URL (a name, or an address)
    port: int
    addresses: list[Address]


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_internal(address: Address) -> bool:
    """Loopback, private, link-local, shared, reserved, unspecified or multicast, or an IPv6
    address that carries such an IPv4 address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and is_internal(embedded):
        return True
    return not address.is_global or address.is_multicast


def parse(url: str) -> SplitResult:
    """The URL's parts, or RefusedURL when it is not a complete http(s) URL."""
    if len(url) > MAX_URL:
        raise RefusedURL(f"The URL is too long (at most {MAX_URL:,} characters).")
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise RefusedURL("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise RefusedURL("Enter a valid URL, such as https://example.com/webhooks.") from None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise RefusedURL("Enter the full URL, starting with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL(
            "Leave the user name and password out of the URL: the signature of each request "
            "tells the receiver it comes from this portal."
        )
    if parts.fragment:
        raise RefusedURL("Leave the #fragment out of the URL: it is never sent.")
    return parts


async def resolve(url: str, allow_internal: bool) -> Target:
    """The URL checked, with the addresses its host has now (RefusedURL when it has none, or
    an internal one the company does not allow)."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
            )
        except (OSError, UnicodeError):
            raise RefusedURL(f"The host {host} could not be found.") from None
        except TimeoutError:
            raise RefusedURL(f"The host {host} could not be found in time.") from None
        # An IPv6 link-local answer may carry its interface ("fe80::1%eth0").
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found)
        )
    if not allow_internal:
        for address in addresses:
            if is_internal(address):
                raise RefusedURL(
                    f"{host} is an address inside a private network ({address}: loopback, "
                    "private, link-local or reserved), and this company does not allow "
                    "webhooks to private addresses."
                )
    return Target(url=parts, host=host, port=port, addresses=addresses)
