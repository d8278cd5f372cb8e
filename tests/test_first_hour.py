"""What a new user brings: a MEKA multi-target file and a file with no test split go through
train, evaluate and predict with the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoding_files import write_multitarget
from multitag.cli import main


def _cli(capsys, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def _test_file(train: Path) -> Path:
    """The same layout with another most frequent class_x value (A instead of NEG)."""
    lines = train.read_text().splitlines()
    data = lines.index("@data")
    rows = [r.replace("NEG,", "A,", 1) if i % 2 else r for i, r in enumerate(lines[data + 1:])]
    path = train.with_name("mt-test.arff")
    path.write_text("\n".join([*lines[:data + 1], *rows]) + "\n")
    return path


def test_multi_target_file_trains_evaluates_and_predicts(capsys, tmp_path) -> None:
    train = write_multitarget(tmp_path)
    test = _test_file(train)
    code, _, err = _cli(capsys, "train", train, "--test", test, "--out", tmp_path / "m",
                        "--epochs", "5", "--metrics-json", tmp_path / "t.json")
    assert code == 0, err
    assert "implicit negative" in err
    labels = json.loads((tmp_path / "m" / "model.json").read_text())["label_names"]
    assert "class_x=NEG" not in labels and "class_x=A" in labels
    code, _, err = _cli(capsys, "evaluate", tmp_path / "m", test, "--metrics-json",
                        tmp_path / "e.json")
    assert code == 0, err
    evaluated = json.loads((tmp_path / "e.json").read_text())
    trained = json.loads((tmp_path / "t.json").read_text())
    assert evaluated["micro_f1"] == pytest.approx(trained["micro_f1"], abs=1e-12)
    code, out, err = _cli(capsys, "predict", tmp_path / "m", test)
    assert code == 0, err
    assert out.splitlines()[0].startswith("id,labels") and len(out.splitlines()) == 41


def test_a_file_without_a_test_split(capsys, tmp_path) -> None:
    train = write_multitarget(tmp_path)
    code, _, err = _cli(capsys, "train", train, "--out", tmp_path / "m", "--epochs", "5",
                        "--metrics-json", tmp_path / "t.json")
    assert code == 0, err
    assert json.loads((tmp_path / "t.json").read_text())["estimate"].startswith("out-of-fold")
    code, _, err = _cli(capsys, "train", train, "--out", tmp_path / "m2", "--epochs", "5",
                        "--test-size", "0.25", "--metrics-json", tmp_path / "s.json")
    assert code == 0, err and "held out 10 of 40 rows" in err
    for command in (["evaluate", tmp_path / "m2", train], ["predict", tmp_path / "m2", train]):
        code, _, err = _cli(capsys, *command)
        assert code == 0, err


def test_a_recorded_split_is_used(capsys, tmp_path) -> None:
    train = write_multitarget(tmp_path, " -split-number 30")
    code, out, err = _cli(capsys, "train", train, "--out", tmp_path / "m", "--epochs", "5")
    assert code == 0, err
    assert "records a train/test split: its first 30 rows train, the other 10 test" in err
    assert "Test set" in out and ": 10 rows" in out
