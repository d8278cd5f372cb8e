"""`multitag train --distributed`: 2 processes on CPU (gloo) match single-process training, and
bad set-ups fail fast with one clear line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, X: np.ndarray, Y: np.ndarray) -> Path:
    from sklearn.datasets import dump_svmlight_file

    dump_svmlight_file(X, Y, str(path), multilabel=True)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=700, n_features=30, n_classes=6,
                                          n_labels=2, random_state=3)
    X = X / X.max()
    root = tmp_path_factory.mktemp("dist")
    return {"train": _write(root / "train.svm", X[:555], Y[:555]),
            "test": _write(root / "test.svm", X[555:], Y[555:]),
            "other": _write(root / "other.svm", X[:400], Y[:400])}


TRAIN_ARGS = ("--epochs", "6", "--batch-size", "37", "--hidden", "24,12", "--dropout", "0",
              "--ensemble", "1",
              "--validation-split", "0.2", "--learning-rate", "0.01", "--quiet")


def _weights(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(directory / "weights.safetensors"))


def test_two_processes_match_one(files, tmp_path) -> None:
    out = {name: tmp_path / name for name in ("single", "ddp")}
    common = [files["train"], "--test", files["test"], *TRAIN_ARGS]
    single = subprocess.run(
        [sys.executable, "-m", "multitag", "train", *common, "--out", out["single"],
         "--metrics-json", tmp_path / "single.json"],
        capture_output=True, text=True, timeout=120, env=_env())
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-port", str(_free_port()), "-m", "multitag", "train", *common,
         "--out", out["ddp"], "--metrics-json", tmp_path / "ddp.json", "--distributed"],
        capture_output=True, text=True, timeout=120, env=_env())
    assert ddp.returncode == 0, ddp.stderr
    one, two = _weights(out["single"]), _weights(out["ddp"])
    assert one.keys() == two.keys()
    for key in one:
        np.testing.assert_allclose(two[key], one[key], rtol=1e-4, atol=1e-5, err_msg=key)
    history = [json.loads((out[n] / "model.json").read_text())["history"] for n in out]
    assert len(history[0]) == len(history[1]) == 6
    for a, b in zip(*history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)
    metrics = [json.loads((tmp_path / f"{n}.json").read_text()) for n in out]
    for name in ("micro_f1", "lrap", "precision_at_1", "loss"):
        assert metrics[1][name] == pytest.approx(metrics[0][name], abs=1e-6), name
    assert metrics[1]["micro_f1"] > 0.5  # it learnt something, so equality is not trivial


def test_ranks_reading_different_data_fail_fast(files, tmp_path) -> None:
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "multitag", "train", files[name], "--out", tmp_path / "m",
             *TRAIN_ARGS, "--distributed", "--dist-timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
        for rank, name in enumerate(("train", "other"))]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 2
        assert "the ranks read different training data" in err and "rows" in err
        assert "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_missing_peer_times_out_with_clear_message(files, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "multitag", "train", files["train"], "--out", tmp_path / "m",
         *TRAIN_ARGS, "--distributed", "--dist-timeout", "2"],
        capture_output=True, text=True, timeout=60,
        env=_env(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                 MASTER_PORT=str(_free_port())))
    assert done.returncode == 2
    assert "could not join the process group of 2" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_without_torchrun_environment_is_exit_2(files, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "multitag", "train", files["train"], "--out", tmp_path / "m",
         "--distributed"], capture_output=True, text=True, timeout=60, env=_env())
    assert done.returncode == 2
    assert "torchrun" in done.stderr and "Traceback" not in done.stderr


def test_shards_and_parts_cover_every_row_once() -> None:
    from multitag.training.distributed import contiguous_part

    for n in (0, 1, 7, 100):
        for world in (1, 2, 3, 8):
            rows = [r for rank in range(world)
                    for r in range(*contiguous_part(n, rank, world).indices(n))]
            assert rows == list(range(n))


def test_a_rank_that_dies_mid_training_stops_the_others(files, tmp_path) -> None:
    port = str(_free_port())
    args = [sys.executable, "-m", "multitag", "train", files["train"], "--epochs", "2000",
            "--patience", "none", "--hidden", "64", "--quiet", "--distributed",
            "--dist-timeout", "30"]
    procs = [subprocess.Popen([*args, "--out", tmp_path / f"m{rank}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=_env(RANK=str(rank), WORLD_SIZE="2",
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for rank in (0, 1)]
    try:
        procs[1].wait(timeout=8)  # still training (2000 epochs): kill it mid-way
    except subprocess.TimeoutExpired:
        procs[1].kill()
    _, err = procs[0].communicate(timeout=60)
    procs[1].communicate()
    assert procs[0].returncode == 2, err
    errors = [line for line in err.splitlines() if not line.startswith("notice: ")]
    assert errors[0].startswith("multitag: error: rank 0:") and "Traceback" not in err
    assert not (tmp_path / "m0").exists()
