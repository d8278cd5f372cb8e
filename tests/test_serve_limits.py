"""The service's limits against a real uvicorn server (multitag's own `make_server`, in a thread,
on a loopback port picked by the OS, with small limits): slow-loris headers and bodies, many
stalled uploads, the connection cap, the work bound, shutdown mid-request, and every status the
service answers listed in its OpenAPI schema."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from model_helpers import numeric_data, train  # noqa: E402
from multitag.serving.batching import Batcher  # noqa: E402
from multitag.serving.limits import RequestGuard, ServiceLimits  # noqa: E402
from multitag.serving.runner import make_server  # noqa: E402
from multitag.serving.service import create_app  # noqa: E402
from test_serve import LiveServer  # noqa: E402

GOOD = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
SMALL = ServiceLimits(max_items=50, max_body_bytes=64 * 1024, max_buffered_bytes=256 * 1024,
                      max_connections=8, read_timeout=1.0, shutdown_timeout=1.0)


def Server(app: Any, limits: ServiceLimits | None = None) -> LiveServer:
    """multitag's own `make_server(app)` serving in a thread on a loopback port."""
    return LiveServer(app, lambda a: make_server(a, log_level="critical", limits=limits))


@pytest.fixture(scope="module")
def bundle() -> Any:
    return train(numeric_data())


@pytest.fixture(scope="module")
def server(bundle) -> Iterator[Server]:
    with Server(create_app(bundle, limits=SMALL)) as running:
        yield running


def _answer(raw: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    data = b""
    while True:
        try:
            chunk = raw.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic()


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _detail(data: bytes) -> str:
    return json.loads(data.split(b"\r\n\r\n", 1)[1])["detail"]


def _head(length: int) -> bytes:
    return (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")


def _guard(app: Any) -> RequestGuard:
    layer = app.middleware_stack
    while not isinstance(layer, RequestGuard):
        layer = layer.app
    return layer


# --------------------------------------------------------------------------- slow clients
def test_stalled_headers_get_408_within_the_read_timeout(server) -> None:
    with server.connect() as raw:
        start = time.monotonic()
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        data, closed = _answer(raw)
    assert _status(data) == 408 and "headers did not arrive within 1 s" in _detail(data)
    assert closed - start < 3


def test_headers_dripped_byte_by_byte_are_cut_at_the_read_timeout(server) -> None:
    request = _head(20)
    with server.connect() as raw:
        start = time.monotonic()
        for byte in request[:-4]:  # never complete
            try:
                raw.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
            if time.monotonic() - start > 5:
                break
        data, closed = _answer(raw)
    assert _status(data) == 408
    assert closed - start < 3


def test_an_idle_connection_is_closed_silently(server) -> None:
    with server.connect() as raw:
        start = time.monotonic()
        data, closed = _answer(raw)
    assert data == b"" and closed - start < 3


def test_endless_headers_get_431(server) -> None:
    with server.connect() as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):
                raw.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass
        data, _ = _answer(raw)
    assert _status(data) == 431 and "65,536 bytes" in _detail(data)


def test_a_stalled_body_gets_408_and_releases_its_bytes(server) -> None:
    with server.connect() as raw:
        start = time.monotonic()
        raw.sendall(_head(50_000) + b'{"features": [' + b"1," * 500)
        data, closed = _answer(raw)
    assert _status(data) == 408, data[:200]
    assert "1,014 of 50,000 bytes" in _detail(data)
    assert closed - start < 3
    assert _guard(server.server.config.app).budget.used == 0


def test_a_body_dripped_slowly_is_cut_at_the_read_timeout(server) -> None:
    with server.connect() as raw:
        start = time.monotonic()
        raw.sendall(_head(5_000))
        try:
            while time.monotonic() - start < 6:
                raw.sendall(b" " * 10)
                time.sleep(0.1)
        except OSError:
            pass
        data, closed = _answer(raw)
    assert _status(data) == 408
    assert closed - start < 3.5


def test_many_stalled_uploads_are_bounded_in_bytes_and_time(server) -> None:
    """12 clients declare 60 kB and stall after 30 kB: 4 fit in the 256 kB budget (then 408),
    the others wait at most the read timeout for room (503); then the server serves again."""
    clients = [server.connect() for _ in range(6)]
    time.sleep(0.1)
    more = [server.connect() for _ in range(6)]  # 12 > 8 connections: some refused at once
    guard = _guard(server.server.config.app)
    answers: list[int] = []
    try:
        for raw in clients + more:
            with contextlib.suppress(OSError):
                raw.sendall(_head(60_000) + b" " * 30_000)
        time.sleep(0.5)
        assert guard.budget.used <= SMALL.buffered_bytes
        for raw in clients + more:
            answers.append(_status(_answer(raw)[0]))
    finally:
        for raw in clients + more:
            raw.close()
    assert answers.count(408) == 4, answers
    assert set(answers) <= {408, 503}, answers
    assert guard.budget.used == 0
    answer = httpx.post(server.url + "/predict", json={"features": GOOD}, timeout=10)
    assert answer.status_code == 200


def test_connections_over_the_cap_get_503(server) -> None:
    idle = [server.connect() for _ in range(SMALL.max_connections)]
    try:
        time.sleep(0.2)
        with server.connect() as extra:
            data, _ = _answer(extra)
        assert _status(data) == 503 and "8 open connections" in _detail(data)
        assert b"retry-after: 1" in data.lower()
    finally:
        for raw in idle:
            raw.close()
    time.sleep(0.2)
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


def test_the_same_limits_hold_with_the_h11_parser(bundle, monkeypatch) -> None:
    """Without httptools uvicorn parses with h11: headers, bodies and 400s are guarded alike."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from multitag.serving import runner

    monkeypatch.setattr(runner, "AutoHTTPProtocol", H11Protocol)
    with Server(create_app(bundle, limits=SMALL)) as running:
        assert issubclass(running.server.config.http, H11Protocol)
        answers = []
        for request in (b"POST /predict HTTP/1.1\r\nHost: x\r\n", _head(500) + b"{",
                        b"NOT HTTP AT ALL\r\n\r\n"):
            with running.connect() as raw:
                raw.sendall(request)
                answers.append(_answer(raw)[0])
        good = httpx.post(running.url + "/predict", json={"features": GOOD}, timeout=10)
    assert [_status(a) for a in answers] == [408, 408, 400]
    assert "not valid HTTP/1.1" in _detail(answers[2])
    assert good.status_code == 200


@pytest.mark.parametrize("path", ["keep", "close"])
def test_a_client_that_does_not_read_its_answer_is_dropped(path: str) -> None:
    """A 32 MB answer to a client that never reads: the send buffer stays full, the
    connection is aborted after the read timeout instead of holding the answer for ever."""
    answer = b"x" * (32 * 1024 * 1024)

    async def big(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-length", str(len(answer)).encode())]
        if scope["path"] == "/close":  # the transport closes once the answer is flushed
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    with Server(big, SMALL) as running:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(running.address)
        raw.sendall(f"GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        connections = running.server.server_state.connections
        for _ in range(100):
            time.sleep(0.1)
            if not connections:
                break
        assert not connections, "the connection is still held"
        received = 0
        with contextlib.suppress(OSError):
            raw.settimeout(5)
            while chunk := raw.recv(1 << 20):
                received += len(chunk)
        raw.close()
    assert received < len(answer)


# --------------------------------------------------------------------------- work bound
def test_the_work_of_one_request_is_bounded_for_wide_models(bundle) -> None:
    """6 features + 4 labels = 10 values an item: max_values 60 allows 6 items a request."""
    app = create_app(bundle, limits=ServiceLimits(max_items=50, max_values=60))
    with Server(app) as running, httpx.Client(base_url=running.url, timeout=10) as http:
        schema = http.get("/openapi.json").json()
        ok = http.post("/predict", json={"items": [{"features": GOOD}] * 6})
        over = http.post("/predict", json={"items": [{"features": GOOD}] * 7})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 6
    assert over.status_code == 422 and "at most 6" in json.dumps(over.json())
    assert "At most 6 items per request (fewer than --max-items 50" in \
        schema["info"]["description"]


def test_batches_never_exceed_the_items_of_one_request() -> None:
    calls: list[int] = []

    def many(bodies: list[Any]) -> list[Any]:
        time.sleep(0.05)
        calls.append(sum(bodies))
        return bodies

    async def main() -> list[Any]:
        batcher = Batcher(many, max_items=6)
        return await asyncio.gather(*(batcher.submit(n, n) for n in (4, 4, 2, 3, 3, 6, 1)))

    assert asyncio.run(main()) == [4, 4, 2, 3, 3, 6, 1]
    assert max(calls) <= 6 and sum(calls) == 23 and len(calls) < 7


def test_limits_are_checked_with_the_option_named() -> None:
    from multitag.exceptions import ConfigError

    with pytest.raises(ConfigError, match="`--read-timeout` must be a positive number"):
        ServiceLimits(read_timeout=0)
    with pytest.raises(ConfigError, match="`--max-connections` must be positive"):
        ServiceLimits(max_connections=0)
    with pytest.raises(ConfigError, match="`--max-buffered-bytes` must be at least"):
        ServiceLimits(max_buffered_bytes=10)
    assert ServiceLimits().buffered_bytes == 4 * ServiceLimits().max_body_bytes


# --------------------------------------------------------------------------- shutdown
def test_shutdown_mid_request_aborts_within_the_timeout(bundle, monkeypatch) -> None:
    """One request stalls in its body, one is stuck in the model: a shutdown (what SIGTERM
    does) answers both 503 within shutdown_timeout and the server stops."""
    release = threading.Event()
    slow = train(numeric_data())
    monkeypatch.setattr(type(slow), "predict_proba",
                        lambda self, data: (release.wait(30), bundle.predict_proba(data))[1])
    limits = replace(SMALL, read_timeout=10.0)  # the shutdown comes first
    running = Server(create_app(slow, limits=limits)).__enter__()
    try:
        stalled = running.connect()
        stalled.sendall(_head(1000) + b"{")
        stuck = running.connect()
        body = json.dumps({"features": GOOD}).encode()
        stuck.sendall(_head(len(body)) + body)
        time.sleep(0.3)
        start = time.monotonic()
        running.server.handle_exit(15, None)  # SIGTERM's handler
        answers = [_answer(raw)[0] for raw in (stalled, stuck)]
        running.thread.join(10)
        stopped = time.monotonic() - start
    finally:
        release.set()
        running.__exit__()
    assert not running.thread.is_alive() and stopped < limits.shutdown_timeout + 2
    for data in answers:
        assert data == b"" or (_status(data) == 503 and "shutting down" in _detail(data)), data
    assert any(answers)


# --------------------------------------------------------------------------- the schema
def test_every_status_the_service_answers_is_in_its_schema(server) -> None:
    """Provoke each answer; every status seen must be documented, with a JSON body."""
    schema = httpx.get(server.url + "/openapi.json", timeout=10).json()
    seen: dict[tuple[str, str], set[int]] = {}

    def record(method: str, path: str, data: bytes) -> None:
        seen.setdefault((method, path), set()).add(_status(data))
        body = data.split(b"\r\n\r\n", 1)[1]
        if _status(data) != 200:
            assert isinstance(json.loads(body)["detail"], str | list)

    requests = {
        "good": _head(len(b'{"features": [1,2,3,4,5,6]}')) + b'{"features": [1,2,3,4,5,6]}',
        "not JSON": _head(3) + b"abc",
        "invalid": _head(2) + b"{}",
        "too large": _head(10**6),
        "bad length": _head(0).replace(b"Length: 0", b"Length: x"),
        "stalled": _head(100) + b"{",
    }
    for request in requests.values():
        with server.connect() as raw:
            raw.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            record("post", "/predict", _answer(raw)[0])
    for path in ("/health", "/labels"):
        for extra in (b"", b"Content-Length: 99999999999\r\n", b"Content-Length: 5\r\n"):
            with server.connect() as raw:
                raw.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra
                            + b"Connection: close\r\n\r\n")
                record("get", path, _answer(raw)[0])
    assert seen[("post", "/predict")] >= {200, 400, 408, 413, 422}
    for (method, path), statuses in seen.items():
        documented = {int(s) for s in schema["paths"][path][method]["responses"]}
        assert statuses <= documented, (method, path, statuses - documented)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert {"400", "408", "413", "503"} <= set(operation["responses"]), (path, method)
            for status, response in operation["responses"].items():
                assert "application/json" in response["content"], (path, status)
