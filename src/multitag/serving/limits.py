"""ASGI middleware that caps the request body: 413 before the app reads an oversized body.

Plain ASGI (no web framework imported), so it can wrap any ASGI app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: 413 when Content-Length or the streamed body exceeds `max_bytes`.

    The body is read (up to the limit) before the app sees it, then replayed to the app.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None or (isinstance(declared, int) and declared < 0):
            await send_json(send, 400, {"detail": "the Content-Length header must be a "
                                                  "non-negative integer"})
            return
        if declared != "absent" and declared > self.max_bytes:
            await self._too_large(f"{declared:,} bytes", send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large("more bytes", send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, what: str, send: Send) -> None:
        text = (f"the request body has {what} than the limit of {self.max_bytes:,} bytes; "
                "send fewer items per request" if what == "more bytes" else
                f"the request body has {what}; the limit is {self.max_bytes:,} bytes; "
                "send fewer items per request")
        await send_json(send, 413, {"detail": text})


def _content_length(scope: dict[str, Any]) -> int | str | None:
    """The declared length, "absent", or None when the header is not a number."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
    if not values:
        return "absent"
    try:
        lengths = {int(v.decode("latin-1").strip()) for v in values}
    except ValueError:
        return None
    return lengths.pop() if len(lengths) == 1 else None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay



async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    """A complete JSON response."""
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
