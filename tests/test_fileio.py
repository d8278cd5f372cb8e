"""Atomic files and directories: all or nothing, never over someone else's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multitag.exceptions import ConfigError
from multitag.fileio import atomic_text_file, atomic_write_json, staged_directory


def test_atomic_json_leaves_no_temporary_files(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a" / "m.json", {"x": 1})
    assert json.loads((tmp_path / "a" / "m.json").read_text()) == {"x": 1}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["m.json"]


def test_nan_is_refused_and_the_old_file_kept(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    atomic_write_json(target, {"x": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_failed_directory_build_keeps_the_previous_one(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with staged_directory(target, ("f.txt",), "test output") as staging:
        (staging / "f.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(target, ("f.txt",), "x") as staging:
        (staging / "f.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert (target / "f.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_foreign_directories_and_files(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="holds files that are not part of a model"), \
            staged_directory(tmp_path, ("f.txt",), "model"):
        pass
    with pytest.raises(ConfigError, match="is not a directory"), \
            staged_directory(tmp_path / "mine.txt", ("f.txt",), "model"):
        pass
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_a_failed_text_file_leaves_no_directory_it_created(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    with pytest.raises(ValueError, match="stop"), \
            atomic_text_file(tmp_path / "kept" / "new" / "deeper" / "out.csv") as handle:
        handle.write("id\n")
        raise ValueError("stop")
    assert [p.name for p in tmp_path.rglob("*")] == ["kept"]
    with atomic_text_file(tmp_path / "kept" / "new" / "out.csv") as handle:
        handle.write("id\n")
    assert (tmp_path / "kept" / "new" / "out.csv").read_text() == "id\n"
