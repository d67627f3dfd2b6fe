"""Whose address a request is counted under (the failed-auth throttle's key): the socket peer, or,
behind trusted proxies only, the nearest X-Forwarded-For hop that is not a proxy."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from starlette.types import Scope

from todo_api.ratelimit.client import client_address

pytestmark = pytest.mark.unit

PROXIES = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]


def _scope(peer: str, *forwarded: str) -> Scope:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    return {"type": "http", "client": (peer, 40000), "headers": headers}


@pytest.mark.parametrize(
    "forwarded",
    [
        ("198.51.100.7, 203.0.113.9",),
        ("198.51.100.8, 203.0.113.9, 10.0.0.2",),
        ("1.2.3.4, 5.6.7.8, 203.0.113.9",),
        ("198.51.100.7", "203.0.113.9, 10.1.2.3"),  # two header lines are one list, in order
    ],
)
def test_the_hops_are_read_right_to_left_past_the_trusted_proxies(
    forwarded: tuple[str, ...],
) -> None:
    # Whatever the client wrote first, the address the nearest untrusted hop names is the client.
    assert client_address(_scope("127.0.0.1", *forwarded), PROXIES) == "203.0.113.9"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address(_scope("203.0.113.9", "198.51.100.7"), PROXIES) == "203.0.113.9"
    assert client_address(_scope("203.0.113.9", "198.51.100.7"), []) == "203.0.113.9"


def test_a_chain_of_proxies_only_or_garbage_falls_back_to_the_peer() -> None:
    assert client_address(_scope("127.0.0.1", "10.0.0.3, 10.0.0.2"), PROXIES) == "127.0.0.1"
    assert client_address(_scope("127.0.0.1", "1.2.3.4, not-an-ip"), PROXIES) == "127.0.0.1"
