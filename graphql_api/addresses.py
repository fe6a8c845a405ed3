"""The client address that is believed, for the audit trail and the
failed-authentication throttle.

`X-Forwarded-For` and `Forwarded` are headers anyone can send, so they are
believed only when the connection comes from a proxy named in
STRONGROOM_TRUSTED_PROXIES (default: none, so the peer address is always the
answer). Behind trusted proxies the answer is the nearest hop that is not a
trusted proxy itself, reading the chain from the right: the proxies appended
the hops they saw, a client can only prepend.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from graphql_api.settings import IpNetwork

MAX_HOPS = 20


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidate = text.strip().strip('"')
    if candidate.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:  # 192.0.2.1:4711
        candidate = candidate.split(":", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _forwarded_for(value: str) -> list[str]:
    """The `for=` parameters of an RFC 7239 Forwarded header, in order."""
    hops = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, hop = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(hop.strip())
    return hops


def client_address(
    peer: str | None, headers: Sequence[tuple[bytes, bytes]], trusted: Sequence[IpNetwork]
) -> str | None:
    """The believed client address of a connection from `peer`."""
    if peer is None or not trusted:
        return peer

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    if not is_trusted(_ip(peer)):
        return peer
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded += _forwarded_for(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            x_forwarded += [hop for hop in value.decode("latin-1").split(",") if hop.strip()]
    hops = forwarded or x_forwarded
    for hop in reversed(hops[-MAX_HOPS:]):
        address = _ip(hop)
        if address is None:
            # An unparsable hop (obfuscated "for=_hidden", garbage): the chain
            # cannot be followed past it; the last trusted hop is the answer.
            return peer
        if not is_trusted(address):
            return str(address)
    return peer
