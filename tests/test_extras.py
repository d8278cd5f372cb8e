"""A missing optional dependency is one line naming the extra to install, exit 2, before any
work is done (each module is hidden in turn: `sys.modules[name] = None` makes its import fail).
The readers' own checks (pandas, pyarrow) are tested with the readers."""

from __future__ import annotations

import sys

import pytest

from multitag.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, shared_data_dir):
    out = tmp_path_factory.mktemp("extras") / "model"
    train = shared_data_dir / "mulan" / "emotions" / "emotions-train.arff"
    with pytest.raises(SystemExit) as done:
        main(["train", str(train), "--out", str(out), "--ensemble", "1", "--epochs", "2",
              "--quiet"])
    assert done.value.code == 0
    return out


@pytest.fixture(scope="module")
def shared_data_dir():
    from conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.mark.parametrize(("hidden", "extra", "command"), [
    ("matplotlib", "plots", "report"),
    ("matplotlib", "plots", "curve"),
    ("fastapi", "serve", "serve"),
    ("onnx", "onnx", "export"),
])
def test_missing_extra_is_one_line_exit_2_before_work(monkeypatch, capsys, tmp_path, model_dir,
                                                      shared_data_dir, hidden, extra,
                                                      command) -> None:
    emotions = shared_data_dir / "mulan" / "emotions"
    test = str(emotions / "emotions-test.arff")
    args = {
        "report": ["report", str(model_dir), test, "--out", str(tmp_path / "r")],
        "curve": ["curve", str(emotions / "emotions-train.arff"), "--test", test, "--out",
                  str(tmp_path / "r")],
        "serve": ["serve", str(model_dir)],
        "export": ["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")],
    }[command]
    monkeypatch.setitem(sys.modules, hidden, None)
    with pytest.raises(SystemExit) as done:
        main(args)
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert err.count("\n") == 1 and f"the `{extra}` extra" in err
    assert f"pip install 'multitag[{extra}]'" in err or "multitag[serve]" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "m.onnx").exists()


def test_make_demo_installs_every_extra() -> None:
    """The README's first command installs what its other commands use (`[all]`), and `all`
    names every extra the code asks for."""
    from pathlib import Path

    import tomllib

    from multitag.exceptions import EXTRAS

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert all(name in extras["all"][0] for name in EXTRAS)
    assert '-e ".[all]"' in (root / "Makefile").read_text()
