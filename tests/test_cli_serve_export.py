"""`multitag serve` and `multitag export` on the command line (uvicorn itself is stubbed)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from model_helpers import numeric_data, train
from multitag.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train(numeric_data()).save(tmp_path_factory.mktemp("cli") / "model")


def _run(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return int(done.value.code or 0)


@pytest.fixture
def no_server(monkeypatch) -> list[dict[str, Any]]:
    """The server records its configuration instead of serving; torch's thread count stays."""
    import torch

    pytest.importorskip("uvicorn")
    from multitag.serving.runner import GracefulServer

    calls: list[dict[str, Any]] = []

    def record(server: GracefulServer, sockets: Any = None) -> None:
        config = server.config
        calls.append({"app": config.app, "host": config.host, "port": config.port,
                      "config": config})

    monkeypatch.setattr(GracefulServer, "run", record)
    monkeypatch.setattr(torch, "set_num_threads",
                        lambda n: calls.append({"threads": n}))
    return calls


def test_serve_loads_the_model_once_and_binds_loopback(model_dir, no_server) -> None:
    assert _run("serve", model_dir) == 0
    threads, call = no_server
    assert threads == {"threads": 1}
    assert call["host"] == "127.0.0.1" and call["port"] == 8000
    assert {"/predict", "/labels", "/health"} <= {r.path for r in call["app"].routes}


def test_serve_impute_reaches_the_app(model_dir, no_server) -> None:
    assert _run("serve", model_dir) == 0
    assert _run("serve", model_dir, "--impute") == 0
    strict, imputing = (c["app"] for c in no_server if "app" in c)
    assert "Every feature is required" in strict.description
    assert "listed in each prediction's `imputed`" in imputing.description


@pytest.fixture(scope="module")
def strict_model_dir(tmp_path_factory) -> Path:
    """A model whose preprocessing does not impute (NaN is an error)."""
    from dataclasses import replace

    from multitag.features.preprocessor import Preprocessor

    data = numeric_data()
    bundle = train(data)
    bundle = replace(bundle, preprocessor=Preprocessor(impute="none").fit(data))
    return bundle.save(tmp_path_factory.mktemp("cli") / "strict")


def test_serve_impute_refuses_a_model_without_imputation(strict_model_dir, capsys,
                                                         no_server) -> None:
    assert _run("serve", strict_model_dir, "--impute") == 2
    err = capsys.readouterr().err
    assert "--impute" in err and "impute='none'" in err and len(err.strip().splitlines()) == 1
    assert not [c for c in no_server if "app" in c]


@pytest.mark.parametrize(("args", "message"), [
    (("serve", "{missing}"), "not a model directory"),
    (("serve", "{model}", "--port", "70000"), "--port"),
    (("serve", "{model}", "--max-items", "0"), "must be positive"),
    (("serve", "{model}", "--threads", "0"), "--threads"),
    (("serve", "{model}", "--read-timeout", "0"), "--read-timeout"),
    (("serve", "{model}", "--max-connections", "0"), "--max-connections"),
    (("serve", "{model}", "--max-buffered-bytes", "100"), "--max-buffered-bytes"),
    (("export", "{missing}", "--onnx", "{tmp}/m.onnx"), "not a model directory"),
])
def test_bad_input_is_one_line_and_exit_2(model_dir, tmp_path, capsys, no_server, args,
                                          message) -> None:
    values = {"missing": tmp_path / "nothing", "model": model_dir, "tmp": tmp_path}
    assert _run(*(a.format(**values) for a in args)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_export_writes_onnx_and_says_what_the_consumer_must_do(model_dir, tmp_path,
                                                               capsys) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "model.onnx"
    assert _run("export", model_dir, "--onnx", out) == 0
    captured = capsys.readouterr()
    assert out.is_file() and "6 inputs -> 4 label probabilities" in captured.out
    assert "standardisation" in captured.err


def test_export_help_documents_preprocessing(capsys) -> None:
    assert _run("export", "--help") == 0
    assert "TF-IDF" in capsys.readouterr().out


def test_serve_limits_reach_the_server(model_dir, no_server) -> None:
    assert _run("serve", model_dir, "--read-timeout", "3", "--shutdown-timeout", "2",
                "--max-connections", "7", "--max-body-bytes", "1000") == 0
    call = no_server[-1]
    limits = call["app"].state.limits
    assert (limits.read_timeout, limits.max_connections, limits.buffered_bytes) == (3, 7, 4000)
    assert call["config"].timeout_graceful_shutdown == 2
    assert call["config"].ws == "none" and call["config"].lifespan == "off"


def test_serve_help_documents_the_limits(capsys) -> None:
    pytest.importorskip("fastapi")
    from multitag.serving.limits import MAX_HEADER_BYTES, MIN_BODY_RATE, ServiceLimits

    assert _run("serve", "--help") == 0
    out = " ".join(capsys.readouterr().out.split())
    for words in ("--read-timeout", "408", "431", "--max-connections", "503", "Retry-After",
                  f"{ServiceLimits().max_values:,} values", f"{MAX_HEADER_BYTES // 1024} KiB",
                  f"{MIN_BODY_RATE // 1000} kB/s", "SIGTERM", "exit 0"):
        assert words in out, words


def _stalled_upload(port: int) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{\"features\": [1, 2")
    return raw


def _read_until_closed(raw: socket.socket) -> bytes:
    """Everything the server sends until it closes (headers and body may arrive apart)."""
    chunks = []
    while chunk := raw.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_sigterm_mid_request_stops_the_server_with_exit_0(model_dir) -> None:
    """The real command in a process: a request stalls in its body (the read timeout is
    long), SIGTERM arrives; the request gets 503 within --shutdown-timeout, the exit code is 0."""
    pytest.importorskip("uvicorn")
    command = [sys.executable, "-m", "multitag", "serve", str(model_dir), "--port", "0",
               "--read-timeout", "60", "--shutdown-timeout", "1"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        port = None
        for line in server.stderr:  # type: ignore[union-attr]
            found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port is not None, "the server did not start"
        raw = _stalled_upload(port)
        time.sleep(0.3)
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)
        answer = _read_until_closed(raw)
        code = server.wait(timeout=15)
        seconds = time.monotonic() - start
        raw.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert code == 0 and seconds < 4, (code, seconds)
    assert answer.startswith(b"HTTP/1.1 503") and b"shutting down" in answer, answer[:300]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("target", ["weights.safetensors", "model.json", "new.onnx"])
def test_export_into_the_model_directory_is_refused(model_dir, tmp_path, capsys,
                                                    target) -> None:
    before = {p.name: _digest(p) for p in model_dir.iterdir()}
    link = tmp_path / "link"
    link.symlink_to(model_dir)
    for where in (model_dir / target, link / target):
        assert _run("export", model_dir, "--onnx", where) == 2
        err = capsys.readouterr().err
        assert "lies inside the model directory" in err and len(err.strip().splitlines()) == 1
    assert {p.name: _digest(p) for p in model_dir.iterdir()} == before
