"""`multitag serve` and `multitag export` on the command line (uvicorn itself is stubbed)."""

from __future__ import annotations

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
    """uvicorn.run records its arguments instead of serving; torch's thread count stays."""
    import torch

    uvicorn = pytest.importorskip("uvicorn")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
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
