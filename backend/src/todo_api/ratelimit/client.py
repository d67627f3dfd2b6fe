"""The client's address: the socket peer, or what trusted proxies say in X-Forwarded-For."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import Scope

Network = IPv4Network | IPv6Network
_FORWARDED_FOR = b"x-forwarded-for"


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The peer, unless it is a trusted proxy: then the nearest X-Forwarded-For hop that is not
    one (read right to left: the left part is whatever the client wrote)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for name, value in scope["headers"]
        if name == _FORWARDED_FOR
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # not an address: the proxy chain is not to be believed
    return peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
