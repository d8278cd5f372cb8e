"""Atomic files and directories: all or nothing, never over someone else's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# --------------------------------------------------------------------------- output paths
def test_check_output_sees_through_symlinks_and_hard_links(tmp_path: Path) -> None:
    from multitag.fileio import check_output

    data, model = tmp_path / "d.arff", tmp_path / "model"
    data.write_text("x")
    model.mkdir()
    (tmp_path / "alias").symlink_to(model)
    (tmp_path / "data-link").symlink_to(data)
    os.link(data, tmp_path / "hard.arff")
    check_output(None, inputs=[data])
    check_output(tmp_path / "out.csv", inputs=[data, None], protected_dirs=[model, None])
    for path in (data, tmp_path / "data-link", tmp_path / "hard.arff", tmp_path / "x" / ".." /
                 "d.arff"):
        with pytest.raises(ConfigError, match=r"--output .* is the input file .*d\.arff"):
            check_output(path, inputs=[data], option="--output")
    for path in (model / "weights.safetensors", tmp_path / "alias" / "w", model):
        with pytest.raises(ConfigError, match="lies inside the model directory"):
            check_output(path, protected_dirs=[tmp_path / "alias"])
    with pytest.raises(ConfigError, match="holds the input file"):
        check_output(tmp_path, inputs=[data], replaces_directory=True)
    with pytest.raises(ConfigError, match="holds the model directory"):
        check_output(tmp_path, protected_dirs=[model], replaces_directory=True)
    check_output(tmp_path, inputs=[data])  # a file output named like a directory: not replaced


# --------------------------------------------------------------------------- temporaries
def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_stale_temporaries_of_dead_processes_are_removed_and_only_those(tmp_path: Path) -> None:
    from multitag.fileio import remove_stale_temporaries, temporary_prefix

    dead = _dead_pid()
    ours = temporary_prefix(tmp_path / "out.csv")  # .out.csv.mt-<host>-<pid>-
    stale_file = tmp_path / (ours.replace(f"-{os.getpid()}-", f"-{dead}-") + "abc_1.tmp")
    stale_dir = tmp_path / (temporary_prefix(tmp_path / "model").replace(
        f"-{os.getpid()}-", f"-{dead}-") + "x9.tmp")
    orphan_backup = tmp_path / (temporary_prefix(tmp_path / "gone").replace(
        f"-{os.getpid()}-", f"-{dead}-") + "q.old")
    kept = [tmp_path / (ours + "mine.tmp"),  # this process: in use
            tmp_path / (ours.replace(f"-{os.getpid()}-", f"-{dead}-") + "z.txt"),  # not ours
            tmp_path / f".out.csv.mt-00000000-{dead}-abc.tmp",  # another machine
            tmp_path / ".out.csv.abc123",  # an older naming, or someone else's
            tmp_path / "visible.mt-0-1-a.tmp"]
    stale_file.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "weights.safetensors").write_text("half")
    orphan_backup.mkdir()  # its target `gone` does not exist: the only copy, kept
    for path in kept:
        path.write_text("keep")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert all(p.exists() for p in kept) and orphan_backup.exists()
    (tmp_path / "gone").mkdir()
    assert remove_stale_temporaries(tmp_path) == [orphan_backup]


def test_writes_clean_stale_temporaries_of_their_directory(tmp_path: Path) -> None:
    from multitag.fileio import temporary_prefix

    dead = _dead_pid()
    stale = tmp_path / (temporary_prefix(tmp_path / "a.json").replace(
        f"-{os.getpid()}-", f"-{dead}-") + "k.tmp")
    stale.write_text("{")
    atomic_write_json(tmp_path / "b.json", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]
    stale.write_text("{")
    with staged_directory(tmp_path / "out", ("f.txt",), "test output") as staging:
        (staging / "f.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "out"]
