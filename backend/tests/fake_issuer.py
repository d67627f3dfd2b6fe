"""A JWKS issuer on a real loopback socket that can be made slow, silent, giant or wrong.

It runs its own event loop in a thread, so the client under test (the cache, or the whole app)
meets real TCP: partial reads, socket buffers, a peer that hangs up. It counts the requests it
receives and the body bytes it manages to write, which bound what the client could have read.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

Behaviour = Literal["serve", "drip", "hang", "huge", "declare-huge"]
CHUNK = b" " * 65536


def new_key(alg: str) -> Any:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    codec = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm, "ES512": ECAlgorithm}.get(
        alg, RSAAlgorithm
    )
    jwk: dict[str, Any] = json.loads(codec.to_jwk(key.public_key()))  # type: ignore[attr-defined]
    return jwk | {"kid": kid, "alg": alg}


def sign(key: Any, alg: str, kid: str | None, sub: str = "alice", **extra: Any) -> str:
    now = int(time.time())
    headers = {"kid": kid} if kid else {}
    headers.update(extra.pop("headers", {}))
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 300, **extra}, key, alg, headers)


class FakeIssuer:
    """`behaviour` picks how the next requests are answered:

    - serve: 200 with `body` (the published keys unless `body` is set), then close;
    - drip: 200 with a Content-Length, then the body one byte per `drip_seconds`;
    - hang: read the request, answer nothing, wait for the client to hang up;
    - huge: 200 chunked, `huge_bytes` of body as fast as the client reads;
    - declare-huge: 200 with `Content-Length: huge_bytes`, then no body at all.
    `status` answers with another status code and `extra_headers` adds headers (serve, drip).
    """

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.body: bytes | None = None
        self.behaviour: Behaviour = "serve"
        self.status = 200
        self.extra_headers = ""  # raw header lines, each ending in CRLF
        self.drip_seconds = 0.05
        self.huge_bytes = 50 * 1024 * 1024
        self.requests = 0
        self.body_bytes_sent = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-issuer", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/auth/jwks"

    def publish(self, alg: str, kid: str) -> Any:
        private = new_key(alg)
        self.keys[kid] = public_jwk(private, alg, kid)
        return private

    def document(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps({"keys": list(self.keys.values())}).encode()

    # -- the server thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(5), "the fake issuer did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._answer(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass  # the client hung up: what a client under test is expected to do
            finally:
                handlers.discard(task)
                writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A small send buffer, so the bytes counted as sent are close to those the client read.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        behaviour, body = self.behaviour, self.document()
        if behaviour == "hang":
            await reader.read()  # until the client hangs up
            return
        if behaviour in ("huge", "declare-huge"):
            await self._send_huge(reader, writer, declare=behaviour == "declare-huge")
            return
        reason = "OK" if self.status == 200 else "Error"
        writer.write(
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{self.extra_headers}\r\n".encode()
        )
        if behaviour == "serve":
            self._send(writer, body)
            await writer.drain()
            return
        for index in range(len(body)):  # drip
            self._send(writer, body[index : index + 1])
            await writer.drain()
            await asyncio.sleep(self.drip_seconds)

    async def _send_huge(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, declare: bool
    ) -> None:
        framing = f"Content-Length: {self.huge_bytes}" if declare else "Transfer-Encoding: chunked"
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
        )
        await writer.drain()
        if declare:
            await reader.read()  # the length is the attack: no body follows
            return
        while self.body_bytes_sent < self.huge_bytes:
            writer.write(f"{len(CHUNK):x}\r\n".encode())
            self._send(writer, CHUNK)
            writer.write(b"\r\n")
            await writer.drain()

    def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        # Counted when handed to the socket: an upper bound of what the client received.
        self.body_bytes_sent += len(data)
        writer.write(data)


@contextmanager
def fake_issuer() -> Iterator[FakeIssuer]:
    issuer = FakeIssuer()
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()
