"""The real HTTP service: uvicorn on a free loopback port, talked to with httpx."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from model_helpers import LABELS, numeric_data, text_data, tfidf_bundle, train  # noqa: E402
from multitag.decision.rules import make_rule  # noqa: E402
from multitag.serving.service import create_app  # noqa: E402

MAX_ITEMS = 50
MAX_BODY = 64 * 1024


class LiveServer:
    """A uvicorn server for `app` in a thread on a loopback socket picked by the OS; `make`
    builds the server (default: plain uvicorn)."""

    def __init__(self, app: Any, make: Callable[[Any], Any] | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = self.socket.getsockname()
        self.url = f"http://127.0.0.1:{self.address[1]}"
        self.server = make(app) if make else uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(600):
            if self.server.started:
                return self
            self.thread.join(0.05)
        raise RuntimeError("the test server did not start within 30 s")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for connections a test left stalled
        self.thread.join(10)
        self.socket.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=10)


@pytest.fixture(scope="module")
def numeric() -> Any:
    data = numeric_data()
    return data, train(data)


@pytest.fixture(scope="module")
def client(numeric) -> Iterator[httpx.Client]:
    app = create_app(numeric[1], max_items=MAX_ITEMS, max_body_bytes=MAX_BODY)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _rows(numeric, n: int) -> np.ndarray:
    return np.asarray(numeric[0].X[:n], dtype=np.float64)


def _names(row: np.ndarray) -> list[str]:
    return [name for name, on in zip(LABELS, row) if on]


# --------------------------------------------------------------------------- good requests
def test_single_item_equals_bundle_predict(client, numeric) -> None:
    bundle, row = numeric[1], _rows(numeric, 1)
    answer = client.post("/predict", json={"features": row[0].tolist(), "proba": True})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert prediction["labels"] == _names(bundle.predict(row)[0])
    got = [prediction["probabilities"][name] for name in LABELS]
    np.testing.assert_allclose(got, bundle.predict_proba(row)[0], rtol=0, atol=1e-12)


def test_batch_and_named_features_equal_bundle_predict(client, numeric) -> None:
    bundle, rows = numeric[1], _rows(numeric, 40)
    items = [{"features": r.tolist()} if i % 2 else
             {"features": dict(zip(numeric[0].feature_names, r.tolist()))}
             for i, r in enumerate(rows)]
    answer = client.post("/predict", json={"items": items})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["labels"] for p in predictions] == [_names(y) for y in bundle.predict(rows)]
    assert all("probabilities" not in p for p in predictions)


# --------------------------------------------------------------------------- missing features
def test_missing_named_features_are_a_422_naming_them(client) -> None:
    answer = client.post("/predict", json={"features": {}})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "features"] and error["type"] == "missing_features"
    assert "lacks 6 of the model's 6 features: 'f0', 'f1', 'f2', 'f3', 'f4' (+1 more)" in \
        error["msg"]
    assert "--impute" in error["msg"]
    assert error["ctx"] == {"missing": [f"f{i}" for i in range(6)], "n_missing": 6}
    one = client.post("/predict", json={"features": {f"f{i}": 1.0 for i in range(5)}})
    assert one.status_code == 422 and one.json()["detail"][0]["ctx"]["missing"] == ["f5"]


def test_missing_features_in_a_batch_name_each_item(client) -> None:
    full = dict(zip([f"f{i}" for i in range(6)], GOOD))
    items = [{"features": full}, {"features": {"f0": 1.0}}, {"features": GOOD},
             {"features": {k: v for k, v in full.items() if k != "f3"}}]
    answer = client.post("/predict", json={"items": items})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "items", 1, "features"],
                                          ["body", "items", 3, "features"]]
    assert detail[0]["msg"].startswith("item 1 lacks 5 of the model's 6 features")
    assert detail[1]["ctx"] == {"missing": ["f3"], "n_missing": 1}
    many = client.post("/predict", json={"items": [{"features": {}}] * 25})
    assert many.status_code == 422
    assert len(many.json()["detail"]) == 11  # ten items, then how many more
    assert "15 more item(s)" in many.json()["detail"][-1]["msg"]


@pytest.fixture(scope="module")
def imputing(numeric) -> Iterator[httpx.Client]:
    app = create_app(numeric[1], impute=True)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def test_impute_fills_absent_features_like_nan_and_says_which(imputing, numeric) -> None:
    bundle, row = numeric[1], _rows(numeric, 1)
    answer = imputing.post("/predict", json={"features": {"f0": row[0, 0], "f4": row[0, 4]},
                                             "proba": True})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    partial = np.full((1, 6), np.nan)
    partial[0, [0, 4]] = row[0, [0, 4]]
    got = prediction["probabilities"]
    np.testing.assert_allclose([got[n] for n in LABELS], bundle.predict_proba(partial)[0],
                               rtol=0, atol=1e-12)
    assert prediction["imputed"] == ["f1", "f2", "f3", "f5"] and prediction["n_imputed"] == 4
    batch = imputing.post("/predict", json={"items": [{"features": {}},
                                                      {"features": row[0].tolist()}]})
    assert batch.status_code == 200, batch.text
    first, second = batch.json()["predictions"]
    assert first["n_imputed"] == 6 and second == {
        "labels": _names(bundle.predict(row)[0]), "imputed": [], "n_imputed": 0}
    assert imputing.get("/health").json()["impute"] is True
    as_dict = _features_as_dict(imputing)
    assert "required" not in as_dict and "minProperties" not in as_dict


def _features_as_dict(http: httpx.Client) -> dict[str, Any]:
    """The {name: number} form of `features` in the single-item request schema."""
    schema = http.get("/openapi.json").json()["components"]["schemas"]["SingleRequest"]
    (as_dict,) = [s for s in schema["properties"]["features"]["oneOf"] if s["type"] == "object"]
    return as_dict


def test_schema_says_every_feature_is_required_unless_imputing(client) -> None:
    as_dict = _features_as_dict(client)
    assert as_dict["required"] == [f"f{i}" for i in range(6)]
    assert as_dict["minProperties"] == 6
    assert client.get("/health").json()["impute"] is False


def test_impute_lists_at_most_50_names_and_counts_them_all() -> None:
    data = numeric_data(d=60)
    bundle = train(data)
    for impute in (False, True):
        with LiveServer(create_app(bundle, impute=impute)) as server, \
                httpx.Client(base_url=server.url, timeout=30) as http:
            answer = http.post("/predict", json={"features": {"f7": 1.0}})
        names = [f"f{i}" for i in range(60) if i != 7]
        if impute:
            (prediction,) = answer.json()["predictions"]
            assert prediction["imputed"] == names[:50] and prediction["n_imputed"] == 59
        else:
            (error,) = answer.json()["detail"]
            assert answer.status_code == 422 and "(+54 more)" in error["msg"]
            assert error["ctx"] == {"missing": names[:50], "n_missing": 59}


def test_impute_needs_a_model_that_imputes(numeric) -> None:
    from dataclasses import replace

    from multitag.exceptions import ConfigError
    from multitag.features.preprocessor import Preprocessor

    data, bundle = numeric
    strict = replace(bundle, preprocessor=Preprocessor(impute="none").fit(data))
    with pytest.raises(ConfigError, match=r"--impute.*impute='none'"):
        create_app(strict, impute=True)
    with LiveServer(create_app(strict)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post("/predict", json={"features": {"f0": 1.0}})
    assert answer.status_code == 422
    assert "trained without imputation" in answer.json()["detail"][0]["msg"]


def test_sparse_model_reads_absent_features_as_zero() -> None:
    import scipy.sparse as sp

    bundle, _ = tfidf_bundle()
    row = sp.csr_matrix(([2.0, 1.0], ([0, 0], [1, 7])), shape=(1, 10))
    for impute in (False, True):
        with LiveServer(create_app(bundle, impute=impute)) as server, \
                httpx.Client(base_url=server.url, timeout=30) as http:
            named = http.post("/predict", json={"features": {"w1": 2.0, "w7": 1.0},
                                                "proba": True})
            empty = http.post("/predict", json={"features": {}})
            dense = http.post("/predict", json={"features": row.toarray()[0].tolist(),
                                                "proba": True})
        assert named.status_code == 200 and empty.status_code == 200, (named.text, empty.text)
        (prediction,) = named.json()["predictions"]
        got = [prediction["probabilities"][n] for n in LABELS]
        np.testing.assert_allclose(got, bundle.predict_proba(row)[0], rtol=0, atol=1e-12)
        assert dense.json()["predictions"][0]["probabilities"] == prediction["probabilities"]
        if impute:  # nothing is imputed: absent means 0 for a sparse model
            assert prediction["imputed"] == [] and prediction["n_imputed"] == 0
        else:
            assert "imputed" not in prediction


def test_top_k_and_threshold_override_the_saved_rule(client, numeric) -> None:
    bundle, rows = numeric[1], _rows(numeric, 10)
    items = [{"features": r.tolist()} for r in rows]
    top = client.post("/predict", json={"items": items, "top_k": 2}).json()["predictions"]
    assert all(len(p["labels"]) == 2 for p in top)
    whole = client.post("/predict", json={"items": items, "top_k": 2.0})  # JSON's integer 2
    assert whole.json()["predictions"] == top
    assert client.post("/predict", json={"items": items, "top_k": 2.5}).status_code == 422
    fixed = client.post("/predict", json={"items": items, "threshold": 0.45}).json()
    expected = make_rule("fixed", threshold=0.45).predict(bundle.predict_proba(rows))
    assert [p["labels"] for p in fixed["predictions"]] == [_names(y) for y in expected]


def test_health_labels_and_openapi(client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["n_features"] == 6 and health["n_labels"] == 4
    assert client.get("/labels").json() == {"labels": LABELS}
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/predict", "/labels", "/health"}
    assert {"200", "400", "413", "422"} <= set(schema["paths"]["/predict"]["post"]["responses"])
    assert client.get("/docs").status_code == 200


def test_head_answers_like_get_without_a_body(client) -> None:
    for path in ("/health", "/labels"):
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == "application/json"
    assert client.head("/predict").status_code == 405
    assert client.options("/health").status_code == 405
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]["/health"]) == {"get"}  # HEAD is implied by GET, not listed


# --------------------------------------------------------------------------- bad requests
GOOD = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
BAD_JSON: dict[str, tuple[Any, int, str]] = {
    "too few features": ({"features": [1.0, 2.0]}, 422, "at least 6"),
    "too many features": ({"features": [*GOOD, 7.0]}, 422, "at most 6"),
    "string feature": ({"features": ["1"] * 6}, 422, "valid number"),
    "bool feature": ({"features": [True] * 6}, 422, "valid number"),
    "nested list": ({"features": [[1.0]] * 6}, 422, "valid number"),
    "features not a list": ({"features": "1,2,3"}, 422, "list of 6 numbers"),
    "unknown name": ({"features": {"nope": 1.0}}, 422, "unknown feature name"),
    "huge value": ({"features": [1e300] * 6}, 422, "less than or equal"),
    "extra key": ({"features": GOOD, "colour": "red"}, 422, "Extra inputs"),
    "no features": ({}, 422, "Field required"),
    "not an object": ([GOOD], 422, "JSON object"),
    "empty batch": ({"items": []}, 422, "at least 1"),
    "too many items": ({"items": [{"features": GOOD}] * (MAX_ITEMS + 1)}, 422,
                       f"at most {MAX_ITEMS}"),
    "top_k and threshold": ({"features": GOOD, "top_k": 1, "threshold": 0.5}, 422, "not both"),
    "top_k too large": ({"features": GOOD, "top_k": 5}, 422, "less than or equal to 4"),
    "threshold as string": ({"features": GOOD, "threshold": "0.5"}, 422, "valid number"),
}
BAD_RAW: dict[str, tuple[bytes, int, str]] = {
    "NaN": (b'{"features": [NaN, 1, 2, 3, 4, 5]}', 422, "finite number"),
    "Infinity": (b'{"features": [Infinity, 1, 2, 3, 4, 5]}', 422, "finite number"),
    "invalid JSON": (b'{"features": [1, 2', 400, "not valid JSON"),
    "not UTF-8": (b'{"features": "\xff\xfe"}', 400, "could not be read"),
    "deep nesting": (b"[" * 50_000 + b"]" * 50_000, 413, "limit"),
    "deep but small": (b'{"features": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400,
                       "nested too deeply"),
    "huge integer": (b'{"features": [' + b"9" * 6000 + b', 1, 2, 3, 4, 5]}', 400,
                     "could not be read"),
    "oversized body": (b'{"items": [' + b'{"features": [1,2,3,4,5,6]},' * 4000 + b"]}", 413,
                       "limit"),
}


def _detail_text(answer: httpx.Response) -> str:
    return json.dumps(answer.json()["detail"])


@pytest.mark.parametrize("case", BAD_JSON)
def test_bad_json_requests_get_4xx_with_message(client, case) -> None:
    body, status, message = BAD_JSON[case]
    answer = client.post("/predict", json=body)
    assert answer.status_code == status, answer.text
    assert message in _detail_text(answer)


@pytest.mark.parametrize("case", BAD_RAW)
def test_malformed_bodies_get_4xx_with_message(client, case) -> None:
    body, status, message = BAD_RAW[case]
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert message in _detail_text(answer)


def test_streamed_body_without_length_is_capped(client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b" " * 1024

    answer = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "limit" in _detail_text(answer)


def test_ten_thousand_items_are_refused(client) -> None:
    body = {"items": [{"features": GOOD}] * 10_000}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 413


def test_wrong_content_type_and_method(client) -> None:
    text = client.post("/predict", content=json.dumps({"features": GOOD}),
                       headers={"content-type": "text/plain"})
    assert text.status_code == 422
    assert client.get("/predict").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_mixed_good_and_bad_traffic_never_fails_the_server(client, numeric) -> None:
    bundle, rows = numeric[1], _rows(numeric, 100)
    expected = [_names(y) for y in bundle.predict(rows)]
    bad = [*({"json": b} for b, _, _ in BAD_JSON.values()),
           *({"content": b, "headers": {"content-type": "application/json"}}
             for b, _, _ in BAD_RAW.values())]

    def send(i: int) -> tuple[int, int, Any]:
        if i % 2:
            answer = client.post("/predict", **bad[(i // 2) % len(bad)])
            return i, answer.status_code, None
        answer = client.post("/predict", json={"features": rows[i // 2].tolist()})
        return i, answer.status_code, answer.json()["predictions"][0]["labels"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(200)))
    assert not [r for r in results if r[1] >= 500]
    assert all(400 <= status < 500 for i, status, _ in results if i % 2)
    assert all(status == 200 and labels == expected[i // 2]
               for i, status, labels in results if not i % 2)
    assert client.get("/health").status_code == 200


# --------------------------------------------------------------------------- text models
def test_text_model_predicts_documents(tmp_path) -> None:
    data = text_data()
    bundle = train(data)
    docs = ["cat dog fish", "sun moon", "nothing known here"]
    with LiveServer(create_app(bundle)) as server, httpx.Client(base_url=server.url) as http:
        one = http.post("/predict", json={"text": docs[0], "proba": True})
        many = http.post("/predict", json={"items": [{"text": d} for d in docs]})
        wrong = http.post("/predict", json={"features": [1.0]})
        assert http.get("/health").json()["text"] is True
    assert one.status_code == 200 and many.status_code == 200, (one.text, many.text)
    probabilities = one.json()["predictions"][0]["probabilities"]
    np.testing.assert_allclose([probabilities[n] for n in LABELS],
                               bundle.predict_proba([docs[0]])[0], rtol=0, atol=1e-12)
    assert [p["labels"] for p in many.json()["predictions"]] == [
        _names(y) for y in bundle.predict(docs)]
    assert wrong.status_code == 422 and "Extra inputs" in _detail_text(wrong)


def test_create_app_checks_its_limits(numeric) -> None:
    from multitag.exceptions import ConfigError

    with pytest.raises(ConfigError, match="must be positive"):
        create_app(numeric[1], max_items=0)


@pytest.mark.parametrize("length", [b"abc", b"-5", b"99999999999"])
def test_bad_or_huge_content_length_is_4xx(client, length) -> None:
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n{}")
        status_line = raw.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), status_line
