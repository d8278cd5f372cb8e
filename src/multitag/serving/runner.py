"""The HTTP server: uvicorn with the connection-level limits of `ServiceLimits`.

What the ASGI app cannot see is enforced here, per connection (`guarded_protocol`):
- at most `max_connections` open connections: one more gets a JSON 503 and is closed;
- a request's line and headers must be complete within `read_timeout` seconds of the
  connection opening or the previous response ending (408, or a silent close when nothing was
  sent), and within `MAX_HEADER_BYTES` (431): slow or endless headers hold nothing for long;
- a client that does not read its answer (the send buffer stays full and drains slower than
  `MIN_BODY_RATE`) is dropped after `read_timeout` seconds.
`GracefulServer` stops on SIGTERM or Ctrl-C even mid-request: it stops accepting, lets requests
in progress finish for `shutdown_timeout` seconds, then aborts the rest (503) and returns, so
`multitag serve` exits 0; a second signal skips the wait.
"""

from __future__ import annotations

import http
from typing import Any

from multitag.exceptions import ConfigError
from multitag.serving.limits import MAX_HEADER_BYTES, MIN_BODY_RATE, ServiceLimits, error_body

try:
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ConfigError("serving needs the `serve` extra: pip install 'multitag[serve]'") from err

KEEP_ALIVE_SECONDS = 5  # an idle connection between requests is closed after this


def raw_response(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 answer with a JSON `{"detail": ...}` body; the connection closes."""
    body = error_body(detail)
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
             "content-type: application/json", f"content-length: {len(body)}",
             "connection: close", *(["retry-after: 1"] if status == 503 else []), "", ""]
    return "\r\n".join(lines).encode("ascii") + body


def guarded_protocol(limits: ServiceLimits, base: type | None = None) -> type:
    """uvicorn's HTTP protocol (`base`, by default httptools, else h11) with the limits above."""
    base = base or AutoHTTPProtocol

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.guard_timer: Any = None  # headers due
            self.guard_write_timer: Any = None  # the client must take its answer
            self.guard_header_bytes = 0
            self.guard_write_paused = False
            if len(self.connections) > limits.max_connections:
                self.guard_refuse(503, f"the server has {limits.max_connections:,} open "
                                       "connections, its limit; retry in a moment")
                return
            self.guard_wait_for_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self.guard_cancel()
            self.guard_cancel_write()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            waiting = self.guard_waiting()
            super().data_received(data)
            if not waiting:
                return
            if not self.guard_waiting():  # the headers are complete (the body may follow)
                self.guard_cancel()
                self.guard_header_bytes = 0
                return
            self.guard_header_bytes += len(data)
            if self.guard_header_bytes > MAX_HEADER_BYTES:
                self.guard_refuse(431, f"the request line and headers exceed "
                                       f"{MAX_HEADER_BYTES:,} bytes")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.guard_waiting():
                self.guard_wait_for_headers()

        def send_400_response(self, msg: str) -> None:
            """A request that is not HTTP: answered in JSON like every other refusal."""
            self.guard_refuse(400, f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})")

        def pause_writing(self) -> None:
            super().pause_writing()
            self.guard_write_paused = True
            self.guard_check_reading(self.transport.get_write_buffer_size())

        def resume_writing(self) -> None:
            self.guard_write_paused = False
            self.guard_cancel_write()
            super().resume_writing()

        # -- the guard -------------------------------------------------------------------
        def guard_waiting(self) -> bool:
            """Whether the connection waits for a request's headers (none in progress)."""
            return self.cycle is None or self.cycle.response_complete

        def guard_wait_for_headers(self) -> None:
            self.guard_cancel()
            self.guard_header_bytes = 0
            self.guard_timer = self.loop.call_later(limits.read_timeout, self.guard_late)

        def guard_late(self) -> None:
            self.guard_timer = None
            if self.transport.is_closing() or not self.guard_waiting():
                return
            if self.guard_header_bytes:
                self.guard_refuse(408, f"the request headers did not arrive within "
                                       f"{limits.read_timeout:g} s")
            else:  # an idle connection: nothing to answer
                self.transport.close()

        def guard_check_reading(self, before: int) -> None:
            self.guard_cancel_write()
            self.guard_write_timer = self.loop.call_later(limits.read_timeout,
                                                          self.guard_read, before)

        def guard_read(self, before: int) -> None:
            """The client must take its answer at MIN_BODY_RATE on average, else it goes."""
            self.guard_write_timer = None
            if not self.guard_write_paused:  # also while closing: the buffer must drain
                return
            now = self.transport.get_write_buffer_size()
            if before - now < MIN_BODY_RATE * limits.read_timeout:
                self.transport.abort()
            else:
                self.guard_check_reading(now)

        def guard_cancel(self) -> None:
            if self.guard_timer is not None:
                self.guard_timer.cancel()
                self.guard_timer = None

        def guard_cancel_write(self) -> None:
            if self.guard_write_timer is not None:
                self.guard_write_timer.cancel()
                self.guard_write_timer = None

        def guard_refuse(self, status: int, detail: str) -> None:
            self.guard_cancel()
            if not self.transport.is_closing():
                self.transport.write(raw_response(status, detail))
                self.transport.close()

    return GuardedProtocol


class GracefulServer(uvicorn.Server):
    """uvicorn's server; a signal stops it without being raised again afterwards (exit 0),
    and a second one of any kind skips the wait for requests in progress."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def make_server(app: Any, *, host: str = "127.0.0.1", port: int = 8000,
                log_level: str = "info", limits: ServiceLimits | None = None) -> GracefulServer:
    """The server for `app` (limits: `app.state.limits`, as `create_app` sets them)."""
    limits = limits or getattr(getattr(app, "state", None), "limits", None) or ServiceLimits()
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="off", ws="none",
        http=guarded_protocol(limits), timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=limits.shutdown_timeout,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    return GracefulServer(config)
