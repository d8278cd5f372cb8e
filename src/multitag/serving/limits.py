"""The service's limits, and the ASGI middleware that enforces those on request bodies.

`ServiceLimits` holds every bound in one frozen value (what `multitag serve --help` and the
README list). `RequestGuard` is plain ASGI (no web framework imported), so it can wrap any app:

- 400 when Content-Length is not a number, 413 when it or the streamed body exceeds
  `max_body_bytes`, before the app parses anything;
- 408 when the body stalls: no byte for `read_timeout` seconds, or the whole body not in by
  `read_timeout` + its size / `MIN_BODY_RATE` seconds (a slow drip is no way around it);
- 503 when the bodies held by requests in progress (read, parsed, being predicted) would
  exceed `max_buffered_bytes` in total and no room frees within `read_timeout`: many stalled
  or huge uploads cannot grow the server past that;
- a JSON 503 instead of a bare 500 for a request aborted by a shutdown.
Every refusal closes the connection (the rest of its body is never read).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from multitag.exceptions import ConfigError

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MIB = 1024 * 1024
MIN_BODY_RATE = 100_000  # bytes per second a body must average beyond `read_timeout`
MAX_HEADER_BYTES = 64 * 1024  # request line and headers of one request


@dataclass(frozen=True)
class ServiceLimits:
    """Every bound of the service (the CLI option that sets each is named in its errors).

    `max_values` bounds the work of one request: items x (dense features + labels), the
    size of the matrices one request makes the model fill; the items allowed per request are
    lowered for a model so wide that `max_items` items would exceed it."""

    max_items: int = 1000
    max_body_bytes: int = 8 * MIB
    max_buffered_bytes: int | None = None  # None: 4 x max_body_bytes
    max_values: int = 1 << 22
    max_connections: int = 256
    read_timeout: float = 10.0
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        for option, value in (("--max-items", self.max_items),
                              ("--max-body-bytes", self.max_body_bytes),
                              ("--max-values", self.max_values),
                              ("--max-connections", self.max_connections)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"`{option}` must be positive; got {value!r}")
        for option, seconds in (("--read-timeout", self.read_timeout),
                                ("--shutdown-timeout", self.shutdown_timeout)):
            if not isinstance(seconds, int | float) or not math.isfinite(seconds) \
                    or seconds <= 0:
                raise ConfigError(f"`{option}` must be a positive number of seconds; got "
                                  f"{seconds!r}")
        if self.buffered_bytes < self.max_body_bytes:
            raise ConfigError(f"`--max-buffered-bytes` must be at least `--max-body-bytes` "
                              f"({self.max_body_bytes:,}); got {self.buffered_bytes:,}")

    @property
    def buffered_bytes(self) -> int:
        """Request bytes held at once by all requests in progress."""
        return (4 * self.max_body_bytes if self.max_buffered_bytes is None
                else self.max_buffered_bytes)

    def items_for(self, values_per_item: int) -> int:
        """The items one request may hold when each costs `values_per_item` values."""
        return max(1, min(self.max_items, self.max_values // max(1, values_per_item)))


class Refused(Exception):
    """A request answered before the app sees it: its status, message and extra headers."""

    def __init__(self, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class ByteBudget:
    """Bytes shared by every request in progress; `take` waits (bounded) for room."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.freed: asyncio.Event | None = None

    async def take(self, n: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.used + n > self.total:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self.freed is None:
                self.freed = asyncio.Event()
            try:
                await asyncio.wait_for(self.freed.wait(), remaining)
            except asyncio.TimeoutError:  # TimeoutError from Python 3.11 on
                return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n
        if self.freed is not None:
            self.freed.set()  # every waiter looks again
            self.freed = None


class RequestGuard:
    """ASGI middleware: body size, read timeouts, total buffered bytes (module docstring)."""

    def __init__(self, app: Any, limits: ServiceLimits) -> None:
        self.app = app
        self.limits = limits
        self.budget = ByteBudget(limits.buffered_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held = [0]
        started = [False]

        async def tracked(message: dict[str, Any]) -> None:
            started[0] = True
            await send(message)

        try:
            body = await self._body(scope, receive, held)
            if body is not None:
                await self.app(scope, _replay(body, receive), tracked)
        except Refused as refused:
            await send_json(send, refused.status, {"detail": refused.detail},
                            (*refused.headers, (b"connection", b"close")))
        except asyncio.CancelledError:
            if not started[0]:  # aborted by a shutdown: say so, then stop
                await send_json(send, 503, {"detail": "the server is shutting down; retry "
                                            "against a running one"},
                                ((b"connection", b"close"),))
            raise
        finally:
            self.budget.give(held[0])

    async def _body(self, scope: dict[str, Any], receive: Receive,
                    held: list[int]) -> bytes | None:
        """The whole body (None when the client went away); `held[0]`: bytes reserved."""
        limit = self.limits.max_body_bytes
        declared = _content_length(scope)
        if declared is None or (isinstance(declared, int) and declared < 0):
            raise Refused(400, "the Content-Length header must be a non-negative integer")
        if declared != "absent" and declared > limit:
            raise Refused(413, f"the request body has {declared:,} bytes; the limit is "
                               f"{limit:,} bytes; send fewer items per request")
        if isinstance(declared, int) and declared:
            await self._reserve(declared, self.limits.read_timeout, held)
        return await self._read(receive, held, declared if isinstance(declared, int) else None)

    async def _reserve(self, n: int, timeout: float, held: list[int]) -> None:
        if not await self.budget.take(n, timeout):
            raise Refused(503, f"the server holds as many request bytes as it may "
                               f"({self.limits.buffered_bytes:,}); retry in a moment",
                          ((b"retry-after", b"1"),))
        held[0] += n

    async def _read(self, receive: Receive, held: list[int],
                    declared: int | None) -> bytes | None:
        loop = asyncio.get_running_loop()
        timeout, limit = self.limits.read_timeout, self.limits.max_body_bytes
        start = loop.time()
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            wait = min(timeout, start + timeout + size / MIN_BODY_RATE - loop.time())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except asyncio.TimeoutError:  # TimeoutError from Python 3.11 on
                raise Refused(408, _late(size, declared, loop.time() - start, timeout)) from None
            if message["type"] != "http.request":
                return None  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"the request body has more bytes than the limit of "
                                   f"{limit:,} bytes; send fewer items per request")
            if size > held[0]:  # a body without Content-Length: reserve as it streams in
                await self._reserve(size - held[0], max(wait, 0.0), held)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _late(size: int, declared: int | None, seconds: float, timeout: float) -> str:
    of = f" of {declared:,}" if declared is not None else ""
    return (f"the request body did not arrive in time: {size:,}{of} bytes in {seconds:.1f} s; "
            f"the server waits {timeout:g} s for each part, and {MIN_BODY_RATE:,} bytes per "
            "second on average beyond that")


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


def error_body(detail: str) -> bytes:
    """The JSON of every error answered outside the app (`ErrorMessage`)."""
    return json.dumps({"detail": detail}).encode()


async def send_json(send: Send, status: int, payload: dict[str, Any],
                    headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A complete JSON response."""
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
