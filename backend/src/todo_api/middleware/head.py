"""Pure ASGI middleware: HEAD is answered wherever GET is, with GET's status and headers, no body.

RFC 9110 §9.3.2. FastAPI routes answer only the methods they declare, so a HEAD would be a 405
(`HEAD /healthz` from a load balancer). The request is run as the GET it mirrors and the body
is dropped here; `Content-Length` stays the GET's, as the RFC allows. Anything but HEAD passes
with one comparison.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)
