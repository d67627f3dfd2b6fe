"""The HTTP protocol's own cost per request, in process (issue 19): uvicorn's httptools protocol,
the product's guarded subclass and h11, each fed the same keep-alive requests through a fake
transport, with an app that answers at once. What differs between them is the protocol alone.
CPU time of the thread, not wall time: on a shared machine, time spent waiting for a core is not
the protocol's. Many short interleaved rounds; medians.

    PYTHONPATH=bench:backend/tests .venv/bin/python bench/protocol.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from common import mint, work_dir
from todo_api.server import ConnectionLimits, guarded_protocol

TOKEN = mint("user-00001")
GET = (
    b"GET /api/user-00001/tasks?limit=20 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
    b"Authorization: Bearer " + TOKEN.encode() + b"\r\nAccept: */*\r\n\r\n"
)
BODY = b'{"title": "a task of some length", "completed": false}'
POST = (
    b"POST /api/user-00001/tasks HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization: Bearer "
    + TOKEN.encode()
    + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    + BODY
)


class Transport(asyncio.Transport):
    """Enough of a socket transport for uvicorn's protocols; counts completed responses."""

    def __init__(self) -> None:
        super().__init__()
        self.responses = asyncio.Event()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        if bytes(data).endswith(b"ok"):
            self.responses.set()

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["method"] == "POST":
        while (await receive())["more_body"]:
            pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def per_request_us(protocol_class: Any, requests: int, request: bytes) -> float:
    config = Config(app, http=protocol_class, lifespan="off", log_level="warning")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    started = time.thread_time()
    for _ in range(requests):
        transport.responses.clear()
        protocol.data_received(request)
        await transport.responses.wait()
    elapsed = time.thread_time() - started
    protocol.connection_lost(None)
    return elapsed / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    variants = {
        "httptools": HttpToolsProtocol,
        "guarded": guarded_protocol(ConnectionLimits()),
        "h11": H11Protocol,
    }
    results: dict[str, dict[str, list[float]]] = {
        kind: {name: [] for name in variants} for kind in ("GET", "POST")
    }
    for _ in range(args.rounds):  # interleaved: drift hits each alike
        for kind, request in (("GET", GET), ("POST", POST)):
            for name, cls in variants.items():
                us = uvloop.run(per_request_us(cls, args.requests, request))
                results[kind][name].append(us)
    print("| request | protocol | µs per request (median) | vs httptools |")
    print("|---|---|---|---|")
    summary: dict[str, dict[str, float]] = {}
    for kind, by_name in results.items():
        base = statistics.median(by_name["httptools"])
        for name, samples in by_name.items():
            median = statistics.median(samples)
            summary.setdefault(kind, {})[name] = median
            print(f"| {kind} | {name} | {median:.1f} | {median - base:+.1f} µs |")
    out = work_dir() / "protocol.json"
    out.write_text(json.dumps({"summary": summary, "samples": results}, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
