"""Hostile peers against a real `todo-api serve` over real sockets (issue 19, server.py): giant,
slow and silent request heads, bodies that never end, hundreds of idle connections. Each is
answered or closed within its deadline, and a normal client is served meanwhile.

One server for the module, with deadlines of 1 s; bounds on closing are generous (deadline + 3 s).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from fixtures.api import mint
from fixtures.live_server import Server, running_server

pytestmark = pytest.mark.server

DEADLINE = 1.0
KEEP_ALIVE_SECONDS = 2  # not uvicorn's 5: the setting is what closes the connection
SLACK = 3.0  # a loaded 2-core machine may be slow to fire a timer, never early
LIMIT = 16 * 1024
TOKEN = mint("alice", ttl=3600)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {
        "MAX_HEADER_BYTES": str(LIMIT),
        "HEADER_TIMEOUT_SECONDS": str(DEADLINE),
        "BODY_TIMEOUT_SECONDS": str(DEADLINE),
        "KEEP_ALIVE_SECONDS": str(KEEP_ALIVE_SECONDS),
    }
    with running_server(tmp_path_factory.mktemp("hostile"), settings=settings) as live:
        yield live


def _port(server: Server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", _port(server)), timeout=DEADLINE + SLACK + 5)


def _read_to_close(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed (monotonic)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic()


def _read_response(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection: its head, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"content-length: (\d+)", head, flags=re.IGNORECASE)
    assert match, head
    length = int(match[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _served(server: Server) -> None:
    """A normal client, meanwhile: answered at once."""
    response = httpx.get(f"{server.base}/healthz", timeout=DEADLINE + SLACK)
    assert response.status_code == 200


def _status(data: bytes) -> int:
    """The answer's status; every answer, the protocol's own included, has a request id."""
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    head = data.partition(b"\r\n\r\n")[0]
    assert re.search(rb"\r\nx-request-id: [0-9a-f]{32}\r\n", head, re.IGNORECASE), head
    return int(data[9:12])


def test_giant_header_gets_431_and_close_before_it_is_read(server: Server) -> None:
    sock = _connect(server)
    total, sent = 64 * 1024 * 1024, 0

    def send_forever() -> None:
        nonlocal sent
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < total:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            return  # the server closed the connection: what we want

    sender = threading.Thread(target=send_forever)
    started = time.monotonic()
    sender.start()
    data, closed = _read_to_close(sock)
    sender.join(timeout=10)
    sock.close()
    assert _status(data) == 431
    assert b"application/problem+json" in data
    assert b"urn:todo-api:problem:headers-too-large" in data
    assert closed - started < SLACK
    # The server stopped reading: the sender could push no more than the socket buffers hold.
    assert sent < total / 4
    _served(server)


@pytest.mark.parametrize(
    ("size", "status"), [(LIMIT + 1000, 431), (100_000, 431), (LIMIT - 1000, 200)]
)
def test_head_arriving_in_one_write_is_measured(server: Server, size: int, status: int) -> None:
    line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    with _connect(server) as sock:
        sock.sendall(line + b"a" * (size - len(line) - 4) + b"\r\n\r\n")
        data, _ = _read_to_close(sock)
    assert _status(data) == status


@pytest.mark.parametrize(
    "partial",
    [
        b"GET /hea",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST /api/alice/tasks HTTP/1.1\r\nAuth",
    ],
    ids=["request-line", "headers", "header-name"],
)
def test_slow_head_gets_408_and_close_at_its_deadline(server: Server, partial: bytes) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(partial)
        data, closed = _read_to_close(sock)
    assert _status(data) == 408
    assert b"urn:todo-api:problem:request-timeout" in data
    assert DEADLINE * 0.9 <= closed - started < DEADLINE + SLACK


def test_slow_head_on_a_kept_alive_connection_gets_408(server: Server) -> None:
    """The deadline starts again with the first byte of each request, not only of the first."""
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(_read_response(sock)) == 200
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        data, closed = _read_to_close(sock)
    assert _status(data) == 408
    assert DEADLINE * 0.9 <= closed - started < DEADLINE + SLACK


def test_blank_lines_dripped_between_requests_do_not_hold_the_connection(server: Server) -> None:
    """The parser skips CRLFs before a request line; they still count against the head deadline
    (the keep-alive timer stops at every read)."""
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(_read_response(sock)) == 200
    _drip_until_cut(sock, first=b"", each=b"\r\n")


def test_dripping_head_is_cut_at_the_deadline_of_the_whole_head(server: Server) -> None:
    """One byte every 0.3 s: a timeout between reads would never fire."""
    _drip_until_cut(_connect(server), first=b"GET /healthz HTTP/1.1\r\n", each=b"X")


def _drip_until_cut(sock: socket.socket, *, first: bytes, each: bytes) -> None:
    """Send `first`, then `each` every 0.3 s: the server answers 408 and closes in time."""
    stop = threading.Event()

    def drip() -> None:
        try:
            sock.sendall(first)
            while not stop.wait(0.3):
                sock.sendall(each)
        except OSError:
            return

    dripper = threading.Thread(target=drip)
    started = time.monotonic()
    dripper.start()
    try:
        data, closed = _read_to_close(sock)
    finally:
        stop.set()
        dripper.join()
        sock.close()
    assert _status(data) == 408
    assert closed - started < DEADLINE + SLACK


def _post_head(length_header: bytes) -> bytes:
    return (
        b"POST /api/alice/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n" + length_header + b"\r\n"
    )


@pytest.mark.parametrize(
    ("length_header", "partial_body"),
    [
        (b"Content-Length: 100\r\n", b'{"title": "never'),
        (b"Transfer-Encoding: chunked\r\n", b'100\r\n{"title": "never'),
    ],
    ids=["short-content-length", "lying-chunk-size"],
)
def test_body_that_never_ends_gets_408_and_nothing_is_written(
    server: Server, length_header: bytes, partial_body: bytes
) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(length_header) + partial_body)
        data, closed = _read_to_close(sock)
    assert _status(data) == 408
    assert DEADLINE * 0.9 <= closed - started < DEADLINE + SLACK
    listed = httpx.get(
        f"{server.base}/api/alice/tasks", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert all("never" not in task["title"] for task in listed.json()["items"])


@pytest.mark.parametrize(
    ("path", "status"),
    [("/healthz", 408), ("/api/alice/tasks", 401)],
    ids=["public-path", "answered-before-the-body"],
)
def test_body_that_never_ends_without_a_token_is_cut_too(
    server: Server, path: str, status: int
) -> None:
    """No token needed to hold a connection: a public path waits for its body like any other,
    and a request answered 401 before its body was read still has its connection closed."""
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc" % path.encode()
        )
        data, closed = _read_to_close(sock)
    assert _status(data) == status
    assert data.count(b"HTTP/1.1 ") == 1
    assert DEADLINE * 0.9 <= closed - started < DEADLINE + SLACK


def test_slow_but_steady_clients_within_the_deadlines_are_served(server: Server) -> None:
    """The deadlines are per request: a kept-alive connection may pause between requests, and a
    body may arrive in pieces, as long as each head and body is whole in time."""
    with _connect(server) as sock:
        for n in range(3):
            body = b'{"title": "steady %d"}' % n
            sock.sendall(_post_head(b"Content-Length: %d\r\n" % len(body)) + body[:5])
            time.sleep(DEADLINE * 0.4)
            sock.sendall(body[5:])
            answer = _read_response(sock)
            assert _status(answer) == 201, answer
            time.sleep(DEADLINE * 0.6)  # idle between requests: keep-alive, not the head deadline


def test_hundreds_of_idle_connections_are_closed_and_others_served(server: Server) -> None:
    # Also one connection idle after a complete request: KEEP_ALIVE_SECONDS closes it.
    kept = _connect(server)
    kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(_read_response(kept)) == 200
    answered = time.monotonic()
    started = time.monotonic()
    idle = [_connect(server) for _ in range(200)]
    for n, sock in enumerate(idle):
        if n % 2:  # half send a few bytes of a head, half nothing at all
            sock.sendall(b"GET / HTTP/1.1\r\n")
    try:
        _served(server)
        closes = [_read_to_close(sock) for sock in idle]
    finally:
        for sock in idle:
            sock.close()
    assert all(closed - started < DEADLINE + SLACK for _, closed in closes)
    # Nothing sent, nothing answered; a partial head gets its 408.
    assert {data for data, _ in closes[0::2]} == {b""}
    assert {_status(data) for data, _ in closes[1::2]} == {408}
    _served(server)
    with kept:
        data, closed = _read_to_close(kept)
    assert data == b""
    assert KEEP_ALIVE_SECONDS * 0.9 <= closed - answered < KEEP_ALIVE_SECONDS + 2


def test_bytes_that_are_not_http_get_a_problem_400_and_close(server: Server) -> None:
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    data, _ = _read_to_close(sock)
    sock.close()
    assert _status(data) == 400
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    assert b"urn:todo-api:problem:invalid-http-request" in body
    _served(server)
