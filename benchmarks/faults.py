"""Faults injected into `multitag train`, and whether anything was lost.

Each row trains the same small synthetic run (2,000 rows, 20 features, 5 labels) into a model
directory that already holds an older model, injects one fault, then checks: the older model's
files (SHA-256 before and after), the input file, what the checkpoint directory holds, and,
after `--resume` without the fault, whether the final weights.safetensors equals an
uninterrupted run's byte for byte. Faults that need code inside the child (a slow or failing
writer, NaN weights) run the CLI through this script's `--child FAULT` mode, which patches one
function and then calls `multitag`'s entry point. A second table measures what checkpoints cost.

    .venv/bin/python benchmarks/faults.py [--epochs 40] [--markdown]
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, machine_line, md_table, verdict, write_marked_section

SRC = REPO_DIR / "src"


# --------------------------------------------------------------------------- child side
def _child(fault: str, argv: list[str]) -> None:
    """Patch one function for `fault`, then run the CLI with `argv`."""
    if fault == "slow-model-write":  # the model's weights are written, then the writer stalls
        import safetensors.numpy

        original = safetensors.numpy.save_file

        def slow(*args, **kwargs):
            original(*args, **kwargs)
            time.sleep(600)
        safetensors.numpy.save_file = slow
    elif fault == "enospc-model-write":
        import safetensors.numpy

        def full(tensors, filename, *args, **kwargs):
            Path(filename).write_bytes(b"\0" * 64)  # a partial file, as a full disk leaves
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        safetensors.numpy.save_file = full
    elif fault == "enospc-checkpoint-write":
        from multitag.training import checkpoint

        original, calls = checkpoint._write, []

        def full_later(path, data):  # the 3rd checkpoint's tensor file hits a full disk
            calls.append(path)
            if len(calls) == 5:
                path.write_bytes(data[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            original(path, data)
        checkpoint._write = full_later
    elif fault == "nan-weights":
        from multitag.training.optim import FusedAdam

        step, calls = FusedAdam.step, []

        def poisoned(self):  # from the 70th update on (epoch 3) the weights are NaN
            step(self)
            calls.append(1)
            if len(calls) >= 70:
                for p in self.params:
                    p.data.fill_(float("nan"))
        FusedAdam.step = poisoned
    from multitag.cli import entry_point

    sys.argv = ["multitag", *argv]
    entry_point()


# --------------------------------------------------------------------------- parent side
@dataclass
class Row:
    fault: str
    happened: str
    old_model: bool
    data: bool
    checkpoint: str
    resumed: str

    @property
    def lost(self) -> str:
        ok = self.old_model and self.data and self.resumed in ("identical", "n/a")
        return "nothing" if ok else "**yes**"


class Bench:
    def __init__(self, root: Path, epochs: int) -> None:
        self.root, self.epochs = root, epochs
        self.data = root / "train.csv"
        self.old_model = root / "old-model"
        self.reference = b""
        self.env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}

    def args(self, out: Path, *extra: str) -> list[str]:
        return ["train", str(self.data), "--label-prefix", "y", "--out", str(out),
                "--epochs", str(self.epochs), "--hidden", "64", "--ensemble", "1",
                "--patience", "none", "--quiet", *extra]

    def spawn(self, args: list[str], fault: str | None = None) -> subprocess.Popen:
        cmd = ([sys.executable, __file__, "--child", fault, "--"] if fault
               else [sys.executable, "-m", "multitag"])
        return subprocess.Popen([*cmd, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, args: list[str], fault: str | None = None) -> tuple[int, str]:
        process = self.spawn(args, fault)
        _, err = process.communicate(timeout=600)
        return process.returncode, err

    def prepare(self) -> None:
        from sklearn.datasets import make_multilabel_classification

        X, Y = make_multilabel_classification(n_samples=2000, n_features=20, n_classes=5,
                                              random_state=3)
        header = ",".join([f"f{i}" for i in range(20)] + [f"y{j}" for j in range(5)])
        np.savetxt(self.data, np.hstack([X, Y]).astype(int), fmt="%d", delimiter=",",
                   header=header, comments="")
        code, err = self.run(self.args(self.old_model, "--seed", "1", "--checkpoint-every", "0"))
        assert code == 0, err
        code, err = self.run(self.args(self.root / "reference"))
        assert code == 0, err
        self.reference = (self.root / "reference" / "weights.safetensors").read_bytes()

    def scenario(self, name: str, inject: Callable[[Path], tuple[int, str]],
                 resume: bool = True) -> Row:
        out = self.root / name.replace(" ", "-")
        shutil.copytree(self.old_model, out)
        before, data_before = _digest(out), _digest(self.data)
        code, err = inject(out)
        happened = f"exit {code}: {_last_line(err)}"
        old_ok, data_ok = _digest(out) == before, _digest(self.data) == data_before
        kept = sorted(p.name for p in (out / "checkpoint").glob("seed-0/epoch-*"))
        checkpoint = f"kept: {', '.join(kept)}" if kept else "none"
        resumed = "n/a"
        if resume:
            code, err = self.run(self.args(out, "--resume"))
            same = code == 0 and (out / "weights.safetensors").read_bytes() == self.reference
            resumed = "identical" if same else f"DIFFERENT (exit {code}: {_last_line(err)})"
        return Row(name, happened, old_ok, data_ok, checkpoint, resumed)

    # -- the faults ------------------------------------------------------------------------
    def kill_mid_epoch(self, out: Path) -> tuple[int, str]:
        process = self.spawn(self.args(out))
        _wait(process, lambda: (out / "checkpoint" / "seed-0" / "epoch-000003").is_dir())
        process.send_signal(signal.SIGKILL)
        return process.wait(), "(killed)"

    def kill_mid_model_write(self, out: Path) -> tuple[int, str]:
        process = self.spawn(self.args(out), "slow-model-write")
        _wait(process, lambda: any(out.parent.glob(f".{out.name}.*/weights.safetensors")))
        process.send_signal(signal.SIGKILL)
        code = process.wait()
        leftovers = list(out.parent.glob(f".{out.name}.*"))
        return code, f"(killed while writing the model; {len(leftovers)} staging dir left)"

    def ctrl_c(self, out: Path) -> tuple[int, str]:
        process = self.spawn(self.args(out))
        _wait(process, lambda: (out / "checkpoint" / "seed-0" / "epoch-000002").is_dir())
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        return process.returncode, err

    def corrupted_checkpoint(self, out: Path) -> tuple[int, str]:
        code, _ = self.kill_mid_epoch(out)
        assert code == -signal.SIGKILL
        newest = sorted((out / "checkpoint").glob("seed-0/epoch-*"))[-1] / "state.safetensors"
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
        return -signal.SIGKILL, f"(killed, then {newest.parent.name} truncated to half)"

    def with_fault(self, fault: str) -> Callable[[Path], tuple[int, str]]:
        return lambda out: self.run(self.args(out), fault)


def _wait(process: subprocess.Popen, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the child ended or stalled first: {process.stderr.read()}")
        time.sleep(0.01)


def _digest(path: Path) -> str:
    """SHA-256 over a file, or over a directory's top-level files (names and bytes)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= 110 else line[:107] + "..."


def checkpoint_cost(bench: Bench, repeats: int = 3) -> list[list[str]]:
    """Median fit_seconds with checkpoints every epoch, every 5, never: same run, interleaved."""
    import json
    import statistics

    rows, runs = [], {"0": [], "1": [], "5": []}
    for repeat in range(repeats):
        for every, seconds in runs.items():
            out = bench.root / f"cost-{every}-{repeat}"
            metrics = out.with_suffix(".json")
            code, err = bench.run(bench.args(out, "--checkpoint-every", every,
                                             "--metrics-json", str(metrics)))
            assert code == 0, err
            seconds.append(json.loads(metrics.read_text())["fit_seconds"])
    times = {every: statistics.median(seconds) for every, seconds in runs.items()}
    per = (times["1"] - times["0"]) / bench.epochs * 1000
    for every, label in (("0", "never"), ("5", "every 5 epochs"), ("1", "every epoch")):
        rows.append([label, f"{times[every]:.2f}", f"{times[every] / times['0']:.2f}x"])
    rows.append(["per checkpoint: (every epoch - never) / epochs", f"{per:.1f} ms", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--markdown", action="store_true",
                        help="Also write the tables into benchmarks/README.md.")
    args = parser.parse_args()
    started, machine = time.perf_counter(), machine_line()
    with tempfile.TemporaryDirectory(prefix="multitag-faults-") as tmp:
        bench = Bench(Path(tmp), args.epochs)
        bench.prepare()
        rows = [
            bench.scenario("SIGKILL mid-epoch", bench.kill_mid_epoch),
            bench.scenario("SIGKILL while writing the model dir", bench.kill_mid_model_write),
            bench.scenario("Ctrl-C (SIGINT) mid-training", bench.ctrl_c),
            bench.scenario("NaN weights injected in epoch 3", bench.with_fault("nan-weights")),
            bench.scenario("corrupted checkpoint (truncated)", bench.corrupted_checkpoint),
            bench.scenario("disk full (ENOSPC) writing a checkpoint",
                           bench.with_fault("enospc-checkpoint-write")),
            bench.scenario("disk full (ENOSPC) writing the model",
                           bench.with_fault("enospc-model-write")),
        ]
        cost = checkpoint_cost(bench)
    table = md_table(
        ["fault injected", "what happened", "old model intact", "input intact",
         "checkpoint after the fault", "--resume vs uninterrupted", "lost"],
        [[r.fault, r.happened, "yes" if r.old_model else "**NO**", "yes" if r.data else "**NO**",
          r.checkpoint, r.resumed, r.lost] for r in rows], align="lllllll")
    cost_table = md_table(["checkpoints", "fit seconds", "vs never"], cost)
    nothing_lost = all(r.lost == "nothing" for r in rows)
    text = "\n".join([
        f"Measured {machine}; the machine was shared with other jobs.",
        f"Run: one network (`--ensemble 1`), {args.epochs} epochs without early stopping, "
        "hidden 64, 2,000 synthetic rows; every fault trains into a directory already holding "
        "an older model.", "", table, "",
        f"Target: nothing lost in every row: {verdict(nothing_lost)}.", "",
        "What checkpoints cost on this run (median fit_seconds of 3 interleaved runs each):",
        "",
        cost_table, "", f"({time.perf_counter() - started:.0f} s in all)"])
    print(text)
    if args.markdown:
        write_marked_section("faults", "## Faults (`benchmarks/faults.py`)\n\n" + text)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[4:])
    else:
        main()
