"""`multitag train` under faults: SIGKILL and Ctrl-C mid-training, divergence, bad checkpoints.

The same small run is trained three ways (uninterrupted, killed then resumed, interrupted then
resumed) and the final weights.safetensors compared byte for byte. The killed and interrupted
runs are real `multitag` processes; the others run in this process (quicker: no start-up).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from multitag.cli import main
from multitag.training.optim import FusedAdam

pytestmark = pytest.mark.slow
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory) -> Path:
    """2,000 rows, 20 integer features, 5 labels y0..y4 (synthetic)."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=2000, n_features=20, n_classes=5,
                                          random_state=3)
    path = tmp_path_factory.mktemp("faults") / "train.csv"
    header = ",".join([f"f{i}" for i in range(20)] + [f"y{j}" for j in range(5)])
    np.savetxt(path, np.hstack([X, Y]).astype(int), fmt="%d", delimiter=",", header=header,
               comments="")
    return path


# One network trained in this process, and the default path below 5,000 rows: 5 cross-fitted
# networks in 2 forked worker processes, each checkpointed in its own directory.
RUNS = {"single": ["--ensemble", "1"], "ensemble": ["--jobs", "2"]}


def _args(data: Path, out: Path, *extra: str, run: str = "single") -> list[str]:
    return ["train", str(data), "--label-prefix", "y", "--out", str(out), "--epochs", "40",
            "--hidden", "64", "--patience", "none", "--quiet", *RUNS[run], *extra]


def _spawn(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "multitag", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_checkpoint(process: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 120
    while not list((out / "checkpoint").glob("seed-*/epoch-*")):
        assert process.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def _main(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    return done.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def references(train_csv, tmp_path_factory) -> dict[str, bytes]:
    weights = {}
    for run in RUNS:
        out = tmp_path_factory.mktemp("ref") / "model"
        with pytest.raises(SystemExit) as done:
            main(_args(train_csv, out, run=run))
        assert done.value.code == 0
        assert not (out / "checkpoint").exists(), "checkpoints go once the model is saved"
        weights[run] = (out / "weights.safetensors").read_bytes()
    return weights


@pytest.mark.parametrize("run", list(RUNS))
def test_sigkill_mid_training_then_resume_is_bit_identical(train_csv, references, tmp_path,
                                                            capsys, run):
    out = tmp_path / "model"
    process = _spawn(_args(train_csv, out, run=run))
    _wait_for_checkpoint(process, out)
    process.send_signal(signal.SIGKILL)  # the parent only: its workers must die with it
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (out / "weights.safetensors").exists(), "killed before the model was saved"
    code, err = _main(_args(train_csv, out, "--resume", run=run), capsys)
    assert code == 0, err
    assert "resuming after epoch" in err
    assert (out / "weights.safetensors").read_bytes() == references[run]
    assert not (out / "checkpoint").exists()


@pytest.mark.parametrize("run", list(RUNS))
def test_ctrl_c_saves_a_checkpoint_exits_130_and_resumes(train_csv, references, tmp_path,
                                                          capsys, run):
    out = tmp_path / "model"
    process = _spawn(_args(train_csv, out, run=run))
    _wait_for_checkpoint(process, out)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted; resume with: multitag train ")
    assert err.strip().endswith("--resume")
    saved = list((out / "checkpoint").glob("seed-*/epoch-*"))
    assert saved and (run == "single" or len({p.parent for p in saved}) > 1)
    code, err = _main(_args(train_csv, out, "--resume", run=run), capsys)
    assert code == 0, err
    assert (out / "weights.safetensors").read_bytes() == references[run]


def test_divergence_keeps_the_last_good_checkpoint(train_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "model"
    args = _args(train_csv, out, "--epochs", "6", "--batch-size", "600")  # 3 batches/epoch
    step = FusedAdam.step
    calls = []

    def poisoned_step(self):  # from the 8th update on (epoch 3, batch 2) the weights are NaN
        step(self)
        calls.append(1)
        if len(calls) >= 8:
            for p in self.params:
                p.data.fill_(float("nan"))

    monkeypatch.setattr(FusedAdam, "step", poisoned_step)
    code, err = _main(args, capsys)
    assert code == 2
    errors = [line for line in err.strip().splitlines() if not line.startswith("notice: ")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "training diverged" in err and "epoch 3, batch 3" in err
    assert "try a lower learning rate" in err
    assert "last good checkpoint (epoch 2) is kept" in err
    assert not (out / "model.json").exists()
    monkeypatch.setattr(FusedAdam, "step", step)

    code, err = _main(args, capsys)
    assert code == 2 and "unfinished run; continue it with --resume" in err
    code, err = _main([*args, "--resume", "--learning-rate", "0.01"], capsys)
    assert code == 2 and "learning_rate: 0.001 -> 0.01" in err
    for state in (out / "checkpoint").glob("seed-*/epoch-*/state.safetensors"):
        state.write_bytes(state.read_bytes()[:100])
    code, err = _main([*args, "--resume"], capsys)
    assert code == 2 and "every checkpoint is damaged" in err and "SHA-256" in err
    code, err = _main(_args(train_csv, tmp_path / "fresh", "--resume"), capsys)
    assert code == 2 and "no checkpoint to resume from" in err
