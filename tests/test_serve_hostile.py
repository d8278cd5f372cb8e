"""The real HTTP service under hostile traffic: good and malformed requests sent concurrently.

Every malformed request must get a 4xx with a message, never a 5xx; every good request must get
exactly `ModelBundle.predict`'s answer; /health must keep answering throughout.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from model_helpers import LABELS, numeric_data, text_data, train  # noqa: E402
from multitag.serving.service import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, create_app  # noqa: E402
from test_serve import LiveServer  # noqa: E402

JSON = {"content-type": "application/json"}
GOOD = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


@dataclass
class Bad:
    """A malformed request, the status class expected and words its message must contain."""

    body: bytes
    words: tuple[str, ...]
    status: int | None = None  # None: any 4xx
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


BAD: dict[str, Bad] = {
    "not JSON": Bad(b"features=1,2,3", ("not valid JSON",), 400),
    "truncated JSON": Bad(b'{"features": [1, 2', ("not valid JSON",), 400),
    "empty body": Bad(b"", ("the body is empty",), 400),
    "JSON null": Bad(b"null", ("JSON object",), 422),
    "JSON string": Bad(b'"features"', ("JSON object",), 422),
    "JSON number": Bad(b"42", ("JSON object",), 422),
    "100k nested lists": Bad(_nested(100_000), ("nested too deeply",), 400),
    "100k nested objects": Bad(b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                               ("nested too deeply",), 400),
    "deep nesting inside features": Bad(b'{"features": ' + _nested(100_000) + b"}",
                                        ("nested too deeply",), 400),
    "body over the limit": Bad(b'{"features": [' + b"1," * (DEFAULT_MAX_BODY_BYTES // 2)
                               + b"1]}", ("limit",), 413),
    "wrong content type": Bad(_json({"features": GOOD}), ("Content-Type must be "
                              "application/json; got 'text/plain'",), 422,
                              {"content-type": "text/plain"}),
    "form content type": Bad(b"features=1", ("Content-Type must be application/json",), 422,
                             {"content-type": "application/x-www-form-urlencoded"}),
    "no content type": Bad(_json({"features": GOOD}), ("got 'none'",), 422, {}),
    "NaN literal": Bad(b'{"features": [NaN, 1, 2, 3, 4, 5]}', ("finite",), 422),
    "Infinity literal": Bad(b'{"features": [1, 2, 3, 4, 5, -Infinity]}', ("finite",), 422),
    "1e999 overflows": Bad(b'{"features": [1e999, 1, 2, 3, 4, 5]}', ("finite",), 422),
    "400-digit integer": Bad(b'{"features": [' + b"9" * 400 + b", 1, 2, 3, 4, 5]}", (), 422),
    "5000-digit integer": Bad(b'{"features": [' + b"9" * 5000 + b", 1, 2, 3, 4, 5]}",
                              ("could not be read",), 400),
    "strings as features": Bad(_json({"features": ["1"] * 6}), ("valid number",), 422),
    "null feature": Bad(_json({"features": [None] * 6}), ("valid number",), 422),
    "features an object of lists": Bad(_json({"features": {"f0": [1]}}), ("valid number",),
                                       422),
    "features null": Bad(_json({"features": None}), ("features",), 422),
    "too few features": Bad(_json({"features": GOOD[:2]}), ("at least 6",), 422),
    "too many features": Bad(_json({"features": GOOD * 100}), ("at most 6",), 422),
    "unknown feature names": Bad(_json({"features": {f"x{i}": 1.0 for i in range(6)}}),
                                 ("unknown feature name",), 422),
    "a 100 kB feature name": Bad(_json({"features": {"x" * 100_000: 1.0}}),
                                 ("unknown feature name", "xxx..."), 422),
    "10,000 items": Bad(_json({"items": [{"features": GOOD}] * 10_000}),
                        (f"at most {DEFAULT_MAX_ITEMS}",), 422),
    "items not a list": Bad(_json({"items": {"features": GOOD}}), ("items",), 422),
    "items of numbers": Bad(_json({"items": [1, 2, 3]}), ("items",), 422),
    "items null": Bad(_json({"items": None}), ("items",), 422),
    "top_k huge": Bad(_json({"features": GOOD, "top_k": 10**30}), ("top_k",), 422),
    "top_k negative": Bad(_json({"features": GOOD, "top_k": -1}), ("top_k",), 422),
    "top_k true": Bad(_json({"features": GOOD, "top_k": True}), ("top_k",), 422),
    "threshold NaN": Bad(b'{"features": [1, 2, 3, 4, 5, 6], "threshold": NaN}',
                         ("threshold",), 422),
    "threshold 2": Bad(_json({"features": GOOD, "threshold": 2}), ("threshold",), 422),
    "proba a string": Bad(_json({"features": GOOD, "proba": "yes"}), ("proba",), 422),
    "text for a numeric model": Bad(_json({"text": "hello"}), ("text",), 422),
    "duplicate keys, last wrong": Bad(b'{"features": [1,2,3,4,5,6], "features": "x"}',
                                      ("features",), 422),
    "invalid UTF-8": Bad(b'{"features": "\xff\xfe\xfd"}', ("could not be read",), 400),
    "empty object in a batch": Bad(_json({"items": [{}]}), ("items.0.features",), 422),
    "features an empty object": Bad(_json({"features": {}}), (
        "lacks 6 of the model's 6 features", "'f0'", "--impute"), 422),
    "a batch item lacking a feature": Bad(_json({"items": [{"features": GOOD}, {"features": {
        f"f{i}": 1.0 for i in range(5)}}]}), ("items.1.features", "lacks 1", "'f5'"), 422),
    "1000 items lacking features": Bad(_json({"items": [{"features": {}}] * 1000}),
                                       ("990 more item(s)",), 422),
    "only whitespace": Bad(b"  \n\t ", ("not valid JSON",), 400),
}


def _message(answer: httpx.Response) -> str:
    detail = answer.json()["detail"]
    assert detail, "an empty message"
    return detail if isinstance(detail, str) else " ".join(
        f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def numeric() -> Any:
    data = numeric_data(n=200)
    return data, train(data)


@pytest.fixture(scope="module")
def client(numeric: Any) -> Iterator[httpx.Client]:
    app = create_app(numeric[1])  # the default limits, as `multitag serve` runs
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def _labels(bundle: Any, rows: np.ndarray) -> list[list[str]]:
    return [[n for n, on in zip(LABELS, y) if on] for y in bundle.predict(rows)]


# --------------------------------------------------------------------------- one at a time
@pytest.mark.parametrize("case", BAD)
def test_each_bad_request_gets_a_4xx_with_a_message(client: httpx.Client, case: str) -> None:
    bad = BAD[case]
    answer = client.post("/predict", content=bad.body, headers=bad.headers)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    if bad.status is not None:
        assert answer.status_code == bad.status, answer.text[:300]
    message = _message(answer)
    assert all(word in message for word in bad.words), message[:300]
    assert len(answer.content) < 20_000  # the answer does not echo a huge input back


# --------------------------------------------------------------------------- all at once
def test_mixed_concurrent_traffic(client: httpx.Client, numeric: Any) -> None:
    data, bundle = numeric
    rows = np.asarray(data.X, dtype=np.float64)
    expected = _labels(bundle, rows)
    batches = [list(range(i, i + 25)) for i in range(0, len(rows), 25)]
    jobs: list[tuple[str, Any]] = []
    for round_ in range(3):
        jobs += [("bad", name) for name in BAD]
        jobs += [("one", i) for i in range(round_, len(rows), 3)]
        jobs += [("batch", b) for b in batches]
        jobs += [("health", None)] * 10

    def send(job: tuple[str, Any]) -> tuple[tuple[str, Any], int, Any]:
        kind, what = job
        if kind == "health":
            answer = client.get("/health")
            return job, answer.status_code, answer.json().get("status")
        if kind == "bad":
            bad = BAD[what]
            answer = client.post("/predict", content=bad.body, headers=bad.headers)
            return job, answer.status_code, _message(answer) if answer.status_code < 500 else ""
        items = [{"features": rows[i].tolist()} for i in (what if kind == "batch" else [what])]
        body = {"items": items} if kind == "batch" else items[0]
        answer = client.post("/predict", json=body)
        got = [p["labels"] for p in answer.json()["predictions"]] if answer.is_success else None
        return job, answer.status_code, got

    order = np.random.default_rng(0).permutation(len(jobs))
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(send, [jobs[i] for i in order]))
    assert [r for r in results if r[1] >= 500] == []
    for (kind, what), status, got in results:
        if kind == "bad":
            assert 400 <= status < 500 and got, (what, status)
        elif kind == "health":
            assert status == 200 and got == "ok"
        else:
            wanted = [expected[i] for i in (what if kind == "batch" else [what])]
            assert status == 200 and got == wanted, (kind, what, status)
    assert client.get("/health").json()["status"] == "ok"


def test_a_client_that_hangs_up_mid_body_does_not_hurt(client: httpx.Client,
                                                       numeric: Any) -> None:
    host, port = client.base_url.host, client.base_url.port
    for _ in range(5):
        with socket.create_connection((host, port), timeout=10) as raw:
            raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 100000\r\n\r\n{\"features\": [1, 2")
    bundle, row = numeric[1], np.asarray(numeric[0].X[:1], dtype=np.float64)
    answer = client.post("/predict", json={"features": row[0].tolist()})
    assert answer.status_code == 200
    assert [answer.json()["predictions"][0]["labels"]] == _labels(bundle, row)


# --------------------------------------------------------------------------- text models
TEXT_BAD: dict[str, Bad] = {
    "text not a string": Bad(_json({"text": 5}), ("valid string",), 422),
    "text a list": Bad(_json({"text": ["a", "b"]}), ("valid string",), 422),
    "text too long": Bad(_json({"text": "cat " * 30_000}), ("at most",), 422),
    "lone surrogate": Bad(b'{"text": "cat \\ud800 dog"}', (), None),
    "features for a text model": Bad(_json({"features": [1.0]}), ("features",), 422),
}


def test_text_model_under_bad_requests() -> None:
    bundle = train(text_data())
    docs = ["cat dog fish", "sun moon", "", "tree " * 100]
    with LiveServer(create_app(bundle)) as server, httpx.Client(base_url=server.url,
                                                                timeout=60) as http:
        def send(i: int) -> tuple[int, int, Any]:
            if i % 2:
                bad = list(TEXT_BAD.values())[(i // 2) % len(TEXT_BAD)]
                answer = http.post("/predict", content=bad.body, headers=bad.headers)
                return i, answer.status_code, (_message(answer), bad)
            answer = http.post("/predict", json={"text": docs[(i // 2) % len(docs)]})
            return i, answer.status_code, answer.json()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(send, range(80)))
        assert http.get("/health").status_code == 200
    wanted = [[n for n, on in zip(LABELS, y) if on] for y in bundle.predict(docs)]
    for i, status, got in results:
        assert status < 500, (i, status)
        if i % 2:
            message, bad = got
            assert 400 <= status < 500 and message
            assert bad.status is None or status == bad.status, (message, status)
            assert all(word in message for word in bad.words), message
        else:
            assert status == 200 and got["predictions"][0]["labels"] == wanted[(i // 2) % 4]
