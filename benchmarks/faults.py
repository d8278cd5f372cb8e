"""Faults and hostile input: what `multitag` loses, and how it answers, when things go wrong.

Three parts, all by default (`--only train,hostile,serve` runs some):

- **train**: faults injected into `multitag train`. Each row trains the same small synthetic run
  (2,000 rows, 20 features, 5 labels) into a model directory that already holds an older model,
  injects one fault, then checks the older model's files (SHA-256 before and after), the input
  file, what the checkpoint directory holds, and, after `--resume` without the fault, whether the
  final weights.safetensors equals an uninterrupted run's byte for byte. One network
  (`--ensemble 1`): kill -9, Ctrl-C, NaN weights, a truncated checkpoint, ENOSPC; the default
  path (5 cross-fitted networks in worker processes, each checkpointed in OUT/checkpoint/seed-S):
  kill -9 of the parent and Ctrl-C (SIGINT to the process group, as a terminal sends it). Faults
  that need code inside the child (a slow or failing writer, NaN weights) run the CLI through this
  script's `--child FAULT` mode, which patches one function and then calls the entry point. A
  second table measures what checkpoints cost.
- **hostile**: one or more rows for every item of issue 18. Each hostile file is generated here
  (small files, built from what the formats allow, not from the product's code) and given to the
  real CLI as a subprocess (`python -m multitag ...`, PYTHONPATH=src); for each: exit code,
  seconds, peak memory (`ru_maxrss` of the child from `os.wait4`: the largest resident set of
  the child or of any child process it waited for, not a sum) and whether stderr is exactly one
  line without a traceback. A watchdog kills a child's process group after its time limit or
  above 3 GiB (sampled RSS of the group): such rows say so.
- **serve**: `multitag serve` held by stalled uploads and slow headers: the server's RSS over
  time, how long until those connections are closed, `/health` meanwhile, then SIGTERM while
  uploads are in progress.

    .venv/bin/python benchmarks/faults.py [--only train,hostile,serve] [--epochs 40]
        [--ensemble-epochs 120] [--markdown]

With `--markdown` the tables go into benchmarks/README.md's faults section (a partial run
replaces only its own part of that section).
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import csv
import errno
import hashlib
import http.client
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    README,
    REPO_DIR,
    free_port,
    machine_line,
    markers,
    md_table,
    verdict,
    write_marked_section,
)

SRC = REPO_DIR / "src"
PARTS = ("train", "hostile", "serve")
MEMORY_CAP = 3 << 30  # a measured child whose process group's RSS passes this is killed
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    for name in ("COLUMNS", "LINES"):  # as a pipe in a script sees it: no terminal width
        env.pop(name, None)
    return env


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
        from multitag.training import checkpoint_files

        original, calls = checkpoint_files._write, []

        def full_later(path, data):  # the 3rd checkpoint's tensor file hits a full disk
            calls.append(path)
            if len(calls) == 5:
                path.write_bytes(data[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            original(path, data)
        checkpoint_files._write = full_later
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
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    from multitag.cli import entry_point

    sys.argv = ["multitag", *argv]
    entry_point()


# --------------------------------------------------------------------------- process groups
def _group(pgid: int) -> Iterator[tuple[int, int]]:
    """(pid, RSS bytes) of every live process in process group `pgid` (from /proc)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            yield int(entry.name), int(fields[21]) * PAGE


def _group_rss(pgid: int) -> int:
    return sum(rss for _, rss in _group(pgid))


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _survivors(pgid: int, wait: float = 1.0) -> int:
    """How many processes of group `pgid` are still alive after `wait` seconds (then killed)."""
    time.sleep(wait)
    left = len(list(_group(pgid)))
    _signal_group(pgid, signal.SIGKILL)
    return left


# --------------------------------------------------------------------------- measuring a child
@dataclass
class Measured:
    code: int
    seconds: float
    peak: int  # bytes: ru_maxrss of the child (os.wait4)
    stdout: str
    stderr: str
    killed: str = ""

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def one_line(self) -> bool:
        return len(self.lines) == 1 and not self.traceback

    @property
    def stderr_shape(self) -> str:
        if self.traceback:
            return "**Traceback**"
        n = len(self.lines)
        return "empty" if n == 0 else "1 line" if n == 1 else f"{n} lines"

    @property
    def message(self) -> str:
        lines = self.lines
        line = (lines[-1] if self.traceback else lines[0]) if lines else ""
        return _shorten(line, 90)


# A small process between this script and the measured command: it forks, the command is
# exec'd in the fork, and it writes the command's wait status and ru_maxrss from os.wait4. Run
# straight from this script, a command's ru_maxrss would start at this script's own peak RSS:
# subprocess starts children with vfork, and exec records the RSS of the memory it replaces.
_LAUNCHER = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as handle:
    handle.write(f"{status} {usage.ru_maxrss}")
"""


def run_measured(cmd: list[str], *, cwd: Path, timeout: float = 60.0,
                 cap: int = MEMORY_CAP) -> Measured:
    """Run `cmd` in its own process group; time it, and take its peak RSS from os.wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(report), *cmd],
                                   env=_env(), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err, start_new_session=True)
        killed: list[str] = []
        sampled = [0]
        done = threading.Event()

        def watchdog() -> None:
            deadline = time.monotonic() + timeout
            while not done.wait(0.05):
                rss = _group_rss(process.pid)
                sampled[0] = max(sampled[0], rss)
                if time.monotonic() > deadline:
                    killed.append(f"killed after {timeout:.0f} s")
                elif rss > cap:
                    killed.append(f"killed above {cap >> 30} GiB")
                else:
                    continue
                _signal_group(process.pid, signal.SIGKILL)
                return

        watcher = threading.Thread(target=watchdog, daemon=True)
        watcher.start()
        _, status, _ = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        _signal_group(process.pid, signal.SIGKILL)  # whatever it left behind
        if report.is_file():  # else the launcher was killed too: the sampled peak
            status, maxrss = map(int, report.read_text().split())
            code, peak = os.waitstatus_to_exitcode(status), maxrss * 1024
        else:
            code, peak = process.returncode, sampled[0]
        out.seek(0)
        err.seek(0)
        return Measured(code, seconds, peak, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), killed[0] if killed else "")


def _multitag(*args: str) -> list[str]:
    return [sys.executable, "-m", "multitag", *args]


def _digest(path: Path) -> str:
    """SHA-256 over a file, or over a directory's top-level files (names and bytes)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return _shorten(lines[-1] if lines else "", 110)


# The run's temporary folder: shown as $TMP in the tables, so they do not cite a path that
# existed only during the run.
TEMP_ROOT = ""


def _shorten(line: str, width: int) -> str:
    if TEMP_ROOT:
        line = line.replace(TEMP_ROOT, "$TMP")
    return line if len(line) <= width else line[:width - 3] + "..."


def _cell(text: object) -> str:
    """A Markdown table cell: no line breaks, `|` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _mb(n: float) -> str:
    return f"{n / MB:,.0f}"


def _synthetic_csv(path: Path) -> None:
    """2,000 rows, 20 integer features f0..f19, 5 labels y0..y4 (scikit-learn's generator)."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=2000, n_features=20, n_classes=5,
                                          random_state=3)
    header = ",".join([f"f{i}" for i in range(20)] + [f"y{j}" for j in range(5)])
    np.savetxt(path, np.hstack([X, Y]).astype(int), fmt="%d", delimiter=",", header=header,
               comments="")


# =========================================================================== part 1: train
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
    """Faults injected into `multitag train`; `kind` is `single` (one network) or `ensemble`
    (the default below 5,000 rows: cross-fitted networks in worker processes)."""

    def __init__(self, root: Path, epochs: int, ensemble_epochs: int) -> None:
        self.root, self.epochs, self.ensemble_epochs = root, epochs, ensemble_epochs
        self.data = root / "train.csv"
        self.old_model = root / "old-model"
        self.reference: dict[str, bytes] = {}
        self.env = _env()

    def args(self, out: Path, *extra: str, kind: str = "single") -> list[str]:
        run = (["--epochs", str(self.epochs), "--ensemble", "1"] if kind == "single"
               else ["--epochs", str(self.ensemble_epochs)])
        return ["train", str(self.data), "--label-prefix", "y", "--out", str(out), *run,
                "--hidden", "64", "--patience", "none", "--quiet", *extra]

    def spawn(self, args: list[str], fault: str | None = None) -> subprocess.Popen:
        cmd = ([sys.executable, __file__, "--child", fault, "--"] if fault
               else [sys.executable, "-m", "multitag"])
        return subprocess.Popen([*cmd, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, args: list[str], fault: str | None = None) -> tuple[int, str]:
        process = self.spawn(args, fault)
        _, err = process.communicate(timeout=600)
        return process.returncode, err

    def prepare(self, kinds: tuple[str, ...] = ("single", "ensemble")) -> None:
        _synthetic_csv(self.data)
        code, err = self.run(self.args(self.old_model, "--seed", "1", "--checkpoint-every", "0"))
        assert code == 0, err
        for kind in kinds:
            out = self.root / f"reference-{kind}"
            code, err = self.run(self.args(out, kind=kind))
            assert code == 0, err
            self.reference[kind] = (out / "weights.safetensors").read_bytes()

    def scenario(self, name: str, inject: Callable[[Path], tuple[int, str]],
                 resume: bool = True, kind: str = "single") -> Row:
        out = self.root / name.replace(" ", "-").replace("/", "-")
        shutil.copytree(self.old_model, out)
        before, data_before = _digest(out), _digest(self.data)
        code, err = inject(out)
        happened = f"exit {code}: {_last_line(err)}"
        old_ok, data_ok = _digest(out) == before, _digest(self.data) == data_before
        checkpoint = _kept(out / "checkpoint")
        resumed = "n/a"
        if resume:
            code, err = self.run(self.args(out, "--resume", kind=kind))
            same = (code == 0
                    and (out / "weights.safetensors").read_bytes() == self.reference[kind])
            resumed = "identical" if same else f"DIFFERENT (exit {code}: {_last_line(err)})"
        return Row(name, happened, old_ok, data_ok, checkpoint, resumed)

    # -- the faults: one network -------------------------------------------------------------
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
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group
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

    # -- the faults: the default ensemble ------------------------------------------------------
    def kill_ensemble(self, out: Path) -> tuple[int, str]:
        """kill -9 of the parent once 4 networks have a checkpoint (two done or nearly, two
        started, one not)."""
        process = self.spawn(self.args(out, kind="ensemble"))
        _wait(process, lambda: _networks_with_checkpoints(out / "checkpoint") >= 4)
        process.send_signal(signal.SIGKILL)  # the parent only, as `kill -9 PID`
        code = process.wait()
        left = _survivors(process.pid)
        return code, f"(parent killed; {left} worker process(es) outlived it by 1 s)"

    def ctrl_c_ensemble(self, out: Path) -> tuple[int, str]:
        process = self.spawn(self.args(out, kind="ensemble"))
        _wait(process, lambda: bool(list((out / "checkpoint").glob("seed-*/epoch-000002"))))
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole group
        _, err = process.communicate(timeout=120)
        left = _survivors(process.pid, 0.2)
        return process.returncode, err + (f"\n({left} worker process(es) left)" if left else "")


def _networks_with_checkpoints(directory: Path) -> int:
    return sum(1 for net in directory.glob("seed-*") if any(net.glob("epoch-*")))


def _kept(directory: Path) -> str:
    """What the checkpoint directory holds: `seed-0: 2, 3; seed-1: ...` (epochs)."""
    parts = []
    for net in sorted(directory.glob("seed-*")):
        epochs = sorted(int(p.name.removeprefix("epoch-")) for p in net.glob("epoch-*"))
        if epochs:
            parts.append(f"{net.name}: {', '.join(map(str, epochs))}")
    return "; ".join(parts) if parts else "none"


def _wait(process: subprocess.Popen, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the child ended or stalled first: {process.stderr.read()}")
        time.sleep(0.005)


def checkpoint_cost(bench: Bench, repeats: int = 3) -> list[list[str]]:
    """Median fit_seconds with checkpoints every epoch, every 5, never: same run, interleaved."""
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


def train_part(root: Path, epochs: int, ensemble_epochs: int) -> str:
    started, machine = time.perf_counter(), machine_line()
    bench = Bench(root, epochs, ensemble_epochs)
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
        bench.scenario("default ensemble: SIGKILL of the parent mid-run", bench.kill_ensemble,
                       kind="ensemble"),
        bench.scenario("default ensemble: Ctrl-C (SIGINT) mid-run", bench.ctrl_c_ensemble,
                       kind="ensemble"),
    ]
    cost = checkpoint_cost(bench)
    table = md_table(
        ["fault injected", "what happened", "old model intact", "input intact",
         "checkpoints after the fault (network: epochs)", "--resume vs uninterrupted", "lost"],
        [[_cell(r.fault), _cell(r.happened), "yes" if r.old_model else "**NO**",
          "yes" if r.data else "**NO**", _cell(r.checkpoint), _cell(r.resumed), r.lost]
         for r in rows], align="lllllll")
    cost_table = md_table(["checkpoints", "fit seconds", "vs never"], cost)
    nothing_lost = all(r.lost == "nothing" for r in rows)
    return "\n".join([
        "### Training: faults injected, then `--resume`", "",
        f"Measured {machine}; the machine may be shared with other jobs.",
        f"Run: 2,000 synthetic rows, hidden 64, no early stopping (`--patience none`); one "
        f"network (`--ensemble 1`) for {epochs} epochs, or the default path (5 cross-fitted "
        f"networks in worker processes, `--jobs` auto) for {ensemble_epochs} epochs. Every "
        "fault trains into a directory already holding an older model; the ensemble's parent is "
        "killed once 4 networks have a checkpoint, the ensemble interrupted once one has reached "
        "epoch 2.", "",
        table, "",
        f"Target: nothing lost in every row, the default ensemble's resume bit-identical: "
        f"{verdict(nothing_lost)}.", "",
        "What checkpoints cost on this run (one network, median fit_seconds of 3 interleaved "
        "runs each):", "",
        cost_table, "", f"({time.perf_counter() - started:.0f} s for this part)"])


# =========================================================================== part 2: hostile
@dataclass
class Case:
    item: str  # issue 18's item number
    what: str
    args: list[str]  # multitag's arguments, paths relative to the work directory
    expect: tuple[int, ...] = (2,)
    check: Callable[[Measured], tuple[str, bool]] | None = None  # more to report, and ok?
    timeout: float = 60.0
    seconds_target: float = 10.0
    runner: Callable[[Case], tuple[Measured, str, bool]] | None = None  # replaces the plain run


@dataclass
class Result:
    case: Case
    measured: Measured
    note: str
    note_ok: bool

    @property
    def ok(self) -> bool:
        m = self.measured
        shape_ok = m.one_line if m.code != 0 else not m.traceback
        return (m.code in self.case.expect and not m.killed and shape_ok and self.note_ok
                and m.seconds < self.case.seconds_target and m.peak < (1 << 30))


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _edit_json(path: Path, edit: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _splice_json(path: Path, edit: Callable[[dict], object], marker: str,
                 pieces: Callable[[], Iterator[str]]) -> None:
    """Write the JSON of `path` after `edit`, with the string `marker` replaced by what
    `pieces` yields (a value too large to build in memory at once)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    before, after = json.dumps(data, indent=1).split(json.dumps(marker), 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(before)
        for piece in pieces():
            handle.write(piece)
        handle.write(after)


def _gzip_bomb(path: Path, chunk: bytes, repeats: int) -> None:
    """One gzip member whose deflate stream is `chunk` compressed once and repeated: after a
    full flush the compressor starts afresh, so every repeat's bytes are the same."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    with open(path, "wb") as handle:
        handle.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for _ in range(repeats):
            handle.write(block)
        handle.write(deflate.flush(zlib.Z_FINISH))
        handle.write(crc.to_bytes(4, "little") + (len(chunk) * repeats % 2**32).to_bytes(4,
                                                                                   "little"))


def _concatenated_bomb(path: Path, stream: bytes, repeats: int) -> None:
    """`repeats` copies of one compressed stream (bzip2 and xz decompress them as one file)."""
    with open(path, "wb") as handle:
        for _ in range(repeats):
            handle.write(stream)


class Hostile:
    """Builds the hostile inputs in `root` (the work directory of every command) and runs them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.results: list[Result] = []
        self.notes: list[str] = []
        self.measured: dict[str, Measured] = {}

    def path(self, name: str) -> Path:
        return self.root / name

    def train(self, *args: str) -> None:
        m = run_measured(_multitag("train", *args, "--quiet"), cwd=self.root, timeout=300)
        assert m.code == 0, m.stderr

    # -- inputs -------------------------------------------------------------------------------
    def build(self) -> None:
        rng = np.random.default_rng(0)
        # a numeric CSV model: 300 rows, f0..f4, labels y0..y2, per-label thresholds
        X = rng.integers(0, 10, (300, 5))
        Y = (X[:, :3] > 5).astype(int)
        header = [f"f{i}" for i in range(5)] + [f"y{j}" for j in range(3)]
        _write_lines(self.path("num.csv"), [",".join(header)] + [
            ",".join(map(str, [*x, *y])) for x, y in zip(X, Y)])
        arff = ["@relation 'd: -C 3'"] + [f"@attribute y{j} {{0,1}}" for j in range(3)] + [
            f"@attribute f{i} numeric" for i in range(5)] + ["@data"] + [
            ",".join(map(str, [*y, *x])) for x, y in zip(X, Y)]
        _write_lines(self.path("d.arff"), arff)
        self.train("num.csv", "--label-prefix", "y", "--out", "m", "--ensemble", "1",
                   "--epochs", "3", "--decision", "per_label")
        # a text model: 200 rows of words, two labels
        words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                 "kappa"]
        rows = ["text,y_a,y_b"]
        for _ in range(200):
            picked = list(rng.choice(words, 8))
            rows.append(f"{' '.join(picked)},{int('alpha' in picked)},{int('beta' in picked)}")
        _write_lines(self.path("text.csv"), rows)
        self.train("text.csv", "--text-column", "text", "--label-prefix", "y_", "--out", "tm",
                   "--ensemble", "1", "--epochs", "3")
        _write_lines(self.path("paths.csv"), ["text", "/etc/passwd", "/no/such/file"])
        _write_lines(self.path("redos.csv"), ["text", "a" * 64 + "!", "alpha " + "a" * 64 + "!"])
        self.model_copies()
        self.reader_bombs(arff)
        self.formula_data()

    def model_copies(self) -> None:
        def copy(src: str, dst: str, edit: Callable[[dict], object]) -> None:
            shutil.copytree(self.path(src), self.path(dst))
            _edit_json(self.path(dst) / "model.json", edit)

        def text_param(key: str, value: object) -> Callable[[dict], object]:
            return lambda m: m["preprocessing"]["text"]["params"].__setitem__(key, value)

        copy("tm", "tm-filename", text_param("input", "filename"))
        copy("tm", "tm-redos", text_param("token_pattern", "(a|aa)+$"))

        def fewer_thresholds(m: dict) -> None:
            m["decision_rule"]["state"]["thresholds"] = m["decision_rule"]["state"][
                "thresholds"][:-1]
        copy("m", "m-thresholds", fewer_thresholds)

        shutil.copytree(self.path("m"), self.path("m-junk"))
        _splice_json(self.path("m-junk") / "model.json",
                     lambda m: m["metrics"].__setitem__("notes", "@JUNK@"), "@JUNK@",
                     lambda: iter(['"'] + ["x" * MB] * 200 + ['"']))
        shutil.copytree(self.path("m"), self.path("m-deep"))
        _splice_json(self.path("m-deep") / "model.json",
                     lambda m: m["metrics"].__setitem__("notes", "@DEEP@"), "@DEEP@",
                     lambda: iter(["[" * 100_000, "]" * 100_000]))
        shutil.copytree(self.path("m"), self.path("m-export"))

    def reader_bombs(self, arff: list[str]) -> None:
        rows = [f"{i % 2} {1 + i % 3}:1" for i in range(19)]
        _write_lines(self.path("svm-index.svm"), ["1 49999999:1", *rows])
        xc_rows = [f"{i % 2} 0:1 {1 + i % 3}:0.5" for i in range(20)]
        _write_lines(self.path("xc-labels.txt"), ["20 5 50000000", *xc_rows])
        _write_lines(self.path("xc-features.txt"), ["20 50000000 5", *xc_rows])
        meka = "@relation 'r: -C 2'"
        labels = ["@attribute y0 {0,1}", "@attribute y1 {0,1}"]
        _write_lines(self.path("arff-index.arff"), [
            meka, *labels, "@attribute f0 numeric", "@data",
            "{0 1, 123456789012345678901234567890 1}",
            *[f"{{{i % 2} 1, 2 {i}}}" for i in range(19)]])
        values = [f"v{i}" for i in range(200_000)]
        rng = np.random.default_rng(1)
        _write_lines(self.path("arff-nominal.arff"), [
            meka, *labels, "@attribute f0 {" + ",".join(values) + "}", "@data",
            *[f"{i % 2},{(i // 2) % 2},v{rng.integers(200_000)}" for i in range(20_000)]])
        row = b"0 1:1\n1 2:1\n"
        chunk = row * ((16 * MB) // len(row))
        repeats = (10 << 30) // len(chunk) + 1  # ~10 GiB decompressed
        _gzip_bomb(self.path("bomb.svm.gz"), chunk, repeats)
        _concatenated_bomb(self.path("bomb.svm.bz2"), bz2.compress(chunk, 9), repeats)
        _concatenated_bomb(self.path("bomb.svm.xz"), lzma.compress(chunk, preset=9), repeats)
        self.bomb_bytes = len(chunk) * repeats
        normal = [json.dumps({"f0": i, "y": i % 2}) for i in range(19)]
        with open(self.path("nested.jsonl"), "w") as handle:
            handle.write('{"f0": ' + "[" * 100_000 + "]" * 100_000 + ', "y": 1}\n')
            handle.write("\n".join(normal) + "\n")
        _write_lines(self.path("keys.jsonl"),
                     [json.dumps({f"k{i}": 1, "y": i % 2}) for i in range(20_000)])
        self.parquet_bomb()
        with open(self.path("blank.csv"), "w") as handle:  # 50 MB of blank lines
            handle.write("f0,f1,f2,f3,f4\n1,2,3,4,5\n")
            for _ in range(50):
                handle.write("\n" * MB)
            handle.write("5,4,3,2,1\n")
        with open(self.path("comments.arff"), "w") as handle:  # 50 MB of comment lines
            handle.write("\n".join(arff[:10]) + "\n1,0,0,1,2,3,4,5\n")
            for _ in range(25):
                handle.write("%\n" * MB)
            handle.write("0,1,0,5,4,3,2,1\n")
        for name, size in (("long-12.svm", 12.5), ("long-50.svm", 50)):
            with open(self.path(name), "w") as handle:  # one line: label 0, features 1..N
                handle.write("0")
                written, index = 0, 1
                while written < size * MB:
                    piece = " " + " ".join(f"{i}:1" for i in range(index, index + 100_000))
                    handle.write(piece)
                    written += len(piece)
                    index += 100_000
                handle.write("\n1 1:1\n")
        X = np.random.default_rng(2).integers(0, 10, (10_000, 5))
        block = "".join(",".join(map(str, x)) + "\n" for x in X)
        with open(self.path("big.csv"), "w") as handle:  # 2,000,000 rows to predict
            handle.write("f0,f1,f2,f3,f4\n")
            for _ in range(200):
                handle.write(block)

    def parquet_bomb(self) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return
        n = 10_000_000
        table = pa.table({"f0": pa.array(np.ones(n)), "f1": pa.array(np.zeros(n)),
                          "y": pa.array(np.ones(n, dtype=np.int64))})
        with pq.ParquetWriter(self.path("bomb.parquet"), table.schema, use_dictionary=True,
                              compression="zstd", write_statistics=False) as writer:
            for _ in range(20):  # 200 M rows
                writer.write_table(table, row_group_size=n)

    def formula_data(self) -> None:
        rng = np.random.default_rng(3)
        X = rng.integers(0, 10, (200, 3))
        for name, labels in (("fm.csv", ["=cmd|' /C calc'!A0", "ok"]),
                             ("fm2.csv", ['=HYPERLINK("http://x")', "@SUM(A1)", "+cmd"]),
                             ("nl.csv", ["line\nbreak", "ok"])):
            with open(self.path(name), "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["f0", "f1", "f2", *labels])
                for x in X:
                    writer.writerow([*x, *(int(x[j % 3] > 4) for j in range(len(labels)))])

    def checkpoint_copies(self) -> None:
        """A run killed after epoch 2, then copies with checkpoint.json edited."""
        _synthetic_csv(self.path("ck.csv"))
        process = subprocess.Popen(_multitag(*self.ck_args("ck")), env=_env(), cwd=self.root,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
        _wait(process, lambda: (self.path("ck") / "checkpoint/seed-0/epoch-000002").is_dir())
        process.send_signal(signal.SIGKILL)
        process.wait()
        _survivors(process.pid, 0)

        def copy(name: str, edit: Callable[[dict], object], resign: bool = False) -> None:
            shutil.copytree(self.path("ck"), self.path(name))
            for meta in (self.path(name) / "checkpoint").glob("seed-*/epoch-*/checkpoint.json"):
                data = json.loads(meta.read_text())
                stored = data.get("sha256")
                guessed = _guess_digest(data)
                edit(data)
                if resign:
                    data["sha256"] = _guess_digest(data)
                    same = guessed == stored
                    self.notes.append(
                        "`sha256` recomputed: as the SHA-256 of the sorted, compact JSON of the "
                        f"other fields, which {'reproduces' if same else 'does NOT reproduce'} "
                        "the digest stored in an unedited checkpoint.json"
                        + (" (anyone who can write the file can sign it again)." if same
                           else "."))
                meta.write_text(json.dumps(data, indent=1))

        copy("ck-lr", _set_lr(0.1))
        copy("ck-lr-resigned", _set_lr(0.1), resign=True)
        copy("ck-type", lambda d: d.__setitem__("epoch", "2"), resign=True)
        copy("ck-deep", lambda d: d.__setitem__("history", "@DEEP@"))
        for meta in (self.path("ck-deep") / "checkpoint").glob("seed-*/epoch-*/checkpoint.json"):
            meta.write_text(meta.read_text().replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000))
        self.notes = list(dict.fromkeys(self.notes))

    def ck_args(self, out: str) -> list[str]:
        return ["train", "ck.csv", "--label-prefix", "y", "--out", out, "--epochs", "40",
                "--hidden", "64", "--ensemble", "1", "--patience", "none", "--quiet"]

    # -- checks -------------------------------------------------------------------------------
    def unchanged(self, *names: str) -> Callable[[Measured], tuple[str, bool]]:
        before = {name: _digest(self.path(name)) for name in names}

        def check(_: Measured) -> tuple[str, bool]:
            changed = [n for n in names if _digest(self.path(n)) != before[n]]
            if changed:
                return f"**{', '.join(changed)} CHANGED**", False
            return f"{', '.join(names)} unchanged", True
        return check

    def names_file(self, word: str) -> Callable[[Measured], tuple[str, bool]]:
        return lambda m: (("names the file" if word in m.stderr else f"**{word} not named**"),
                          word in m.stderr)

    def formula_cells(self, stem: str) -> Callable[[Measured], tuple[str, bool]]:
        def check(_: Measured) -> tuple[str, bool]:
            written = sorted(p.name for p in self.root.glob(f"{stem}*"))
            csv_path = self.path(f"{stem}.csv")
            if not csv_path.is_file():
                return f"files written: {', '.join(written) or 'none'}", True
            with open(csv_path, newline="") as handle:
                cells = [c for row in csv.reader(handle) for c in row]
            risky = [c for c in cells if c[:1] in ("=", "+", "-", "@") and not _is_number(c)]
            shown = sorted({c for c in cells if any(k in c for k in ("cmd", "HYPER", "SUM"))})
            text = f"{len(risky)} cells a spreadsheet reads as formulas; cells: " + ", ".join(
                repr(c) for c in shown[:3])
            return (text if not risky else f"**{text}**"), not risky
        return check

    def report_tables(self, name: str) -> Callable[[Measured], tuple[str, bool]]:
        """Whether every Markdown table of the report keeps its rows whole (as many cells in
        every row as in its header)."""
        def check(_: Measured) -> tuple[str, bool]:
            report = self.path(name) / "report.md"
            if not report.is_file():
                return "no report.md", True
            tables, current = [], []
            for line in [*report.read_text(encoding="utf-8").splitlines(), ""]:
                if line.startswith("|"):
                    current.append(len(re.findall(r"(?<!\\)\|", line)))
                elif current:
                    tables.append(current)
                    current = []
            broken = sum(1 for cells in tables if len(set(cells)) > 1)
            text = f"{len(tables)} tables in report.md, {broken} with broken rows"
            return (text if not broken else f"**{text}**"), not broken
        return check

    # -- special rows -------------------------------------------------------------------------
    def killed_predict(self, case: Case) -> tuple[Measured, str, bool]:
        """kill -9 during `predict --output`, then the same command again on a small input."""
        out_dir = self.path("kill-predict")
        out_dir.mkdir()
        process = subprocess.Popen(
            _multitag("predict", "m", "big.csv", "--output", "kill-predict/out.csv", "--quiet"),
            env=_env(), cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while not [p for p in out_dir.iterdir() if p.name != "out.csv"]:
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.002)
        time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        code = process.wait()
        _survivors(process.pid, 0)
        left = sorted(p.name for p in out_dir.iterdir() if p.name != "out.csv")
        m = run_measured(_multitag(*case.args), cwd=self.root, timeout=case.timeout)
        after = sorted(p.name for p in out_dir.iterdir() if p.name != "out.csv")
        seen = "killed" if code == -signal.SIGKILL else f"**ended first (exit {code})**"
        note = (f"{seen}: {len(left)} temporar{'y' if len(left) == 1 else 'ies'} left "
                f"({', '.join(left)[:40]}); after this run: {len(after)}")
        return m, (note if left and not after else f"**{note}**"), bool(left) and not after

    def long_line_ratio(self, _: Measured) -> tuple[str, bool]:
        short, long_ = self.measured.get("long-12"), self.measured.get("long-50")
        if not (short and long_):
            return "", True
        ratio = long_.seconds / max(short.seconds, 1e-9)
        return f"4x the bytes of the 12.5 MB line: {ratio:.1f}x the seconds", ratio < 6

    # -- the rows -----------------------------------------------------------------------------
    def cases(self) -> list[Case]:
        info = ["data", "info"]
        quick = ["--ensemble", "1", "--epochs", "1", "--quiet"]
        cases = [
            Case("1", "model.json: text params `input: filename`; predict a row naming "
                 "/etc/passwd", ["predict", "tm-filename", "paths.csv", "--text-column", "text"],
                 timeout=30),
            Case("1", "same model served",
                 ["serve", "tm-filename", "--port", str(free_port())], timeout=20),
            Case("1", "model.json: `token_pattern: (a|aa)+$`; predict `aaa…a!`",
                 ["predict", "tm-redos", "redos.csv", "--text-column", "text"], timeout=30),
            Case("1", "same model served", ["serve", "tm-redos", "--port", str(free_port())],
                 timeout=20),
            Case("2", "svmlight, 20 rows, one naming feature 49,999,999",
                 [*info, "svm-index.svm"]),
            Case("2", "same file, train", ["train", "svm-index.svm", "--out", "svm-model", *quick]),
            Case("2", "XC header declaring 50,000,000 labels", [*info, "xc-labels.txt"]),
            Case("2", "XC header declaring 50,000,000 features", [*info, "xc-features.txt"]),
            Case("2", "sparse ARFF, index of 30 digits", [*info, "arff-index.arff"]),
            Case("2", f"ARFF, nominal attribute of 200,000 values, 20,000 rows "
                 f"({self.size('arff-nominal.arff')})", [*info, "arff-nominal.arff"],
                 expect=(0, 2)),
            Case("2", "same file, train", ["train", "arff-nominal.arff", "--out", "nom-model",
                                           *quick]),
        ]
        expands = f"{self.bomb_bytes / 2**30:.0f} GiB of svmlight rows"
        cases += [
            Case("2", f"gzip bomb: {self.size('bomb.svm.gz')} -> {expands} (one stream; deflate "
                 "expands at most ~1,000x)",
                 [*info, "bomb.svm.gz"]),
            Case("2", f"bzip2 bomb: {self.size('bomb.svm.bz2')} -> {expands} (concatenated "
                 "streams)", [*info, "bomb.svm.bz2"]),
            Case("2", f"xz bomb: {self.size('bomb.svm.xz')} -> {expands} (concatenated streams)",
                 [*info, "bomb.svm.xz"]),
            Case("2", "JSONL, a value nested 100,000 deep",
                 [*info, "nested.jsonl", "--label-columns", "y"]),
            Case("2", "JSONL, 20,000 rows each with its own key",
                 [*info, "keys.jsonl", "--label-columns", "y"]),
            Case("2", "same file, train", ["train", "keys.jsonl", "--label-columns", "y",
                                           "--out", "keys-model", *quick]),
        ]
        if self.path("bomb.parquet").is_file():
            cases.append(Case("2", f"Parquet bomb: {self.size('bomb.parquet')}, 200 M rows of "
                              "constant columns", [*info, "bomb.parquet", "--label-columns", "y"]))
        cases += [
            Case("3", "predict (chunks), CSV with 50 MB of blank lines",
                 ["predict", "m", "blank.csv", "--output", "blank-out.csv", "--quiet"],
                 expect=(0,)),
            Case("3", "predict (chunks), ARFF with 50 MB of comment lines",
                 ["predict", "m", "comments.arff", "--output", "comments-out.csv", "--quiet"],
                 expect=(0,)),
            Case("5", "svmlight, one line of 12.5 MB", [*info, "long-12.svm"], expect=(0, 2)),
            Case("5", "svmlight, one line of 50 MB", [*info, "long-50.svm"], expect=(0, 2),
                 check=self.long_line_ratio),
            Case("6", "predict's output onto its input",
                 ["predict", "m", "d.arff", "--output", "d.arff"],
                 check=self.unchanged("d.arff")),
            Case("6", "predict's output: a symlink to its input",
                 ["predict", "m", "num.csv", "--output", "link.csv"],
                 check=self.unchanged("num.csv")),
            Case("6", "predict's output: a hard link to its input",
                 ["predict", "m", "num.csv", "--output", "hard.csv"],
                 check=self.unchanged("num.csv")),
            Case("6", "export's ONNX onto the model's weights",
                 ["export", "m-export", "--onnx", "m-export/weights.safetensors"],
                 check=self.unchanged("m-export")),
            Case("6", "evaluate's --metrics-json onto its data file",
                 ["evaluate", "m", "num.csv", "--label-prefix", "y", "--metrics-json", "num.csv"],
                 check=self.unchanged("num.csv")),
            Case("7", "train on a label named `=cmd|' /C calc'!A0`",
                 ["train", "fm.csv", "--label-columns", "=cmd|' /C calc'!A0,ok", "--out", "fm",
                  *quick], expect=(0, 2)),
            Case("7", "predict that model to CSV",
                 ["predict", "fm", "fm.csv", "--output", "fm-pred.csv", "--proba", "--quiet"],
                 expect=(0, 2), check=self.formula_cells("fm-pred")),
            Case("7", "train on labels `=HYPERLINK(\"http://x\")`, `@SUM(A1)`, `+cmd`",
                 ["train", "fm2.csv", "--label-columns", '=HYPERLINK("http://x"),@SUM(A1),+cmd',
                  "--out", "fm2", *quick], expect=(0, 2)),
            Case("7", "predict that model to CSV",
                 ["predict", "fm2", "fm2.csv", "--output", "fm2-pred.csv", "--proba", "--quiet"],
                 expect=(0, 2), check=self.formula_cells("fm2-pred")),
            Case("7", "train on a label named `line\\nbreak` (a line break inside)",
                 ["train", "nl.csv", "--label-columns", "line\nbreak,ok", "--out", "nl",
                  *quick], expect=(0, 2)),
            Case("7", "report of that model (Markdown tables)",
                 ["report", "nl", "nl.csv", "--label-columns", "line\nbreak,ok", "--out",
                  "nl-report"], expect=(0, 2), check=self.report_tables("nl-report")),
            Case("8", "checkpoint.json: the optimizer's learning rate 0.001 -> 0.1, then --resume",
                 [*self.ck_args("ck-lr"), "--resume"], check=_checkpoint_reason),
            Case("8", "same, with `sha256` recomputed as an attacker would",
                 [*self.ck_args("ck-lr-resigned"), "--resume"], check=_checkpoint_reason),
            Case("8", "checkpoint.json: `epoch` a string, `sha256` recomputed, then --resume",
                 [*self.ck_args("ck-type"), "--resume"], check=_checkpoint_reason),
            Case("8", "checkpoint.json: history nested 100,000 deep, then --resume",
                 [*self.ck_args("ck-deep"), "--resume"], check=_checkpoint_reason),
            Case("9", "kill -9 during predict --output, then predict again",
                 ["predict", "m", "num.csv", "--output", "kill-predict/out.csv", "--quiet"],
                 expect=(0,), runner=self.killed_predict),
            Case("9", "model.json: a threshold fewer than labels",
                 ["predict", "m-thresholds", "num.csv"], check=self.names_file("model.json")),
            Case("-", f"model.json with 200 MB of junk in `metrics` "
                 f"({self.size('m-junk/model.json')})", ["predict", "m-junk", "num.csv"]),
            Case("-", "model.json: `metrics` nested 100,000 deep",
                 ["predict", "m-deep", "num.csv"]),
        ]
        return cases

    def size(self, name: str) -> str:
        n = self.path(name).stat().st_size
        return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.0f} KB"

    def run(self) -> None:
        self.path("link.csv").symlink_to("num.csv")
        os.link(self.path("num.csv"), self.path("hard.csv"))
        for case in self.cases():
            if case.runner is not None:
                m, note, note_ok = case.runner(case)
            else:
                m = run_measured(_multitag(*case.args), cwd=self.root, timeout=case.timeout)
                self.measured[Path(case.args[-1]).stem] = m
                note, note_ok = case.check(m) if case.check else ("", True)
            if m.killed:
                note = f"**{m.killed}**" + (f"; {note}" if note else "")
            result = Result(case, m, note, note_ok)
            self.results.append(result)
            print(f"  {'ok ' if result.ok else 'MISS'} {case.item} {m.code:>4} "
                  f"{m.seconds:6.2f} s {_mb(m.peak):>6} MB  {case.what[:50]}: {m.message[:60]}",
                  flush=True)


def _set_lr(value: float) -> Callable[[dict], object]:
    """The optimizer's learning rate in checkpoint.json (its `["lr", {"value": ...}]`) set to
    `value`; the run's options (config, run) keep theirs, as an edit meant to go unnoticed."""
    def edit(node: object) -> None:
        if isinstance(node, dict):
            for item in node.values():
                edit(item)
        elif isinstance(node, list):
            if len(node) == 2 and node[0] == "lr" and isinstance(node[1], dict):
                node[1]["value"] = value
            for item in node:
                edit(item)
    return lambda data: edit(data["optimizer"])


def _guess_digest(data: dict) -> str:
    rest = {k: v for k, v in data.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def _checkpoint_reason(m: Measured) -> tuple[str, bool]:
    """Why a checkpoint was refused (the first reason given), or that it was used: a resume that
    finishes (exit 0) trained on from the edited checkpoint. The resume is announced before the
    networks start, and some checks (the learning rate at that epoch) run as they start."""
    found = re.search(r"epoch-\d{6}(?:/checkpoint\.json)?: ([^;]*)", m.stderr)
    reason = found.group(1) if found else ""
    if m.code == 0 or not reason:
        return "**the edited checkpoint was used**", False
    return f"refused: {reason[:70]}", True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def hostile_part(root: Path) -> str:
    started, machine = time.perf_counter(), machine_line()
    hostile = Hostile(root)
    hostile.build()
    hostile.checkpoint_copies()
    built = time.perf_counter() - started
    hostile.run()
    rows = []
    for r in hostile.results:
        m, case = r.measured, r.case
        rows.append([
            case.item, _cell(case.what),
            "`" + _cell(shlex.join(["multitag", *case.args]).replace("\n", "\\n")) + "`",
            "/".join(map(str, case.expect)), str(m.code), f"{m.seconds:.2f}", _mb(m.peak),
            m.stderr_shape, _cell(m.message), _cell(r.note), "met" if r.ok else "**missed**"])
    table = md_table(["#", "hostile input", "command", "want", "exit", "s", "peak MB",
                      "stderr", "stderr's line (first 90 chars)", "also", "target"], rows,
                     align="llllrrrllll")
    missed = [r for r in hostile.results if not r.ok]
    return "\n".join([
        "### Hostile input (issue 18)", "",
        f"Measured {machine}; the machine may be shared with other jobs.",
        "Each input is generated by this script in a temporary directory (the command's working "
        "directory) and given to the real CLI (`python -m multitag`). `#`: issue 18's item "
        "(`-`: model directory size; items 4 and 10: the service and training tables). "
        "`peak MB`: `ru_maxrss` of the child from `os.wait4`, taken by a small launcher process "
        "(the largest resident set of the command or of a child it waited for; not a sum). "
        "`want`: the right exit codes (2: refused in one line). A watchdog kills a child after "
        f"its time limit or above {MEMORY_CAP >> 30} GiB.", "",
        table, "",
        *(f"- {note}" for note in hostile.notes), *([""] if hostile.notes else []),
        f"Target: every row the wanted exit code, stderr one line without a traceback when not "
        f"0, under 10 s and 1 GB: {verdict(not missed)}"
        + (f" ({len(missed)} of {len(rows)} rows missed)." if missed else "."), "",
        f"({built:.0f} s to build the inputs, {time.perf_counter() - started:.0f} s for this "
        "part)"])


# =========================================================================== part 3: serve
def _http(port: int, method: str, path: str, timeout: float = 5.0) -> tuple[str, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return str(response.status), time.perf_counter() - started
    except (OSError, http.client.HTTPException) as err:
        return type(err).__name__, time.perf_counter() - started
    finally:
        connection.close()


@dataclass
class Client:
    """What one abusive connection saw: the server's answer, and when it closed."""

    answer: str = "none"
    answered_after: float | None = None
    closed_after: float | None = None
    error: str = ""


def _read_until_closed(sock: socket.socket, client: Client, since: float, hold: float,
                       data: bytes = b"") -> None:
    """Read the answer until the server closes (`data`: what already came, its first bytes
    timed by the caller); the status line is the client's answer."""
    sock.settimeout(hold)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            if not data:
                client.answered_after = time.monotonic() - since
            data += chunk
        client.closed_after = time.monotonic() - since
    except TimeoutError:
        client.error = "still open"
    except OSError as err:
        client.closed_after = time.monotonic() - since
        client.error = type(err).__name__
    if data:
        client.answer = data.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")


def _connect(port: int, client: Client, hold: float) -> socket.socket | None:
    """A connection to the server, or None with the reason in `client.error`."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=hold)
    except OSError as err:
        client.error = f"connect: {type(err).__name__}"
        return None


def _stalled_upload(port: int, declared: int, send: int, client: Client, hold: float) -> None:
    """Headers announcing `declared` bytes, `send` bytes of body, then nothing."""
    sock = _connect(port, client, hold)
    if sock is None:
        return
    with sock:
        try:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n" % declared)
            sock.sendall(b'{"items": [' + b" " * (send - 11))
        except OSError as err:
            client.error = f"send: {type(err).__name__}"
        since = time.monotonic()
        _read_until_closed(sock, client, since, hold)


def _slow_headers(port: int, client: Client, hold: float) -> None:
    """A request line and headers sent one byte every 0.5 s."""
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 1000
    since = time.monotonic()
    sock = _connect(port, client, hold)
    if sock is None:
        return
    with sock:
        sock.setblocking(False)
        for byte in request:
            if time.monotonic() - since > hold:
                client.error = "still open"
                return
            try:
                sock.send(bytes([byte]))
                data = sock.recv(65536)
            except BlockingIOError:
                time.sleep(0.5)
                continue
            except OSError as err:
                client.closed_after, client.error = time.monotonic() - since, type(err).__name__
                return
            sock.setblocking(True)
            if data:
                client.answered_after = time.monotonic() - since
            _read_until_closed(sock, client, since, hold, data)
            return


class RssSampler(threading.Thread):
    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.samples, self.stop = pgid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.samples.append((time.monotonic(), _group_rss(self.pgid)))

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end] or [0]


def _vm_hwm(pid: int) -> int:
    """The peak resident set of process `pid` so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _summary(clients: list[Client]) -> tuple[str, bool]:
    """Per answer: how many, when answered and when closed (medians, max); and whether every
    connection was closed."""
    groups: dict[str, list[Client]] = {}
    for c in clients:
        groups.setdefault(c.answer if c.answer != "none" else (c.error or "closed, no answer"),
                          []).append(c)
    parts = []
    for answer, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        answered = [c.answered_after for c in group if c.answered_after is not None]
        closed = [c.closed_after for c in group if c.closed_after is not None]
        timing = []
        if answered:
            timing.append(f"answered after median {statistics.median(answered):.1f} s")
        if closed:
            timing.append(f"closed after median {statistics.median(closed):.1f} s, "
                          f"max {max(closed):.1f} s")
        if len(closed) < len(group):
            timing.append(f"**{len(group) - len(closed)} still open**")
        parts.append(f"{answer} x{len(group)} ({'; '.join(timing)})")
    return "; ".join(parts), all(c.closed_after is not None for c in clients)


def serve_part(root: Path, n_uploads: int = 50, hold: float = 60.0) -> str:
    started, machine = time.perf_counter(), machine_line()
    model = root / "m"
    if not model.exists():
        hostile = Hostile(root)
        _write_lines(root / "num.csv", ["f0,f1,y0,y1"] + [
            f"{i % 7},{i % 5},{int(i % 7 > 3)},{int(i % 5 > 2)}" for i in range(300)])
        hostile.train("num.csv", "--label-prefix", "y", "--out", "m", "--ensemble", "1",
                      "--epochs", "3")
    port = free_port()
    log = root / "serve.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(_multitag("serve", str(model), "--port", str(port), "--quiet"),
                                   env=_env(), cwd=root, stdout=handle, stderr=handle,
                                   start_new_session=True)
    deadline = time.monotonic() + 120
    while _http(port, "GET", "/health", 1.0)[0] != "200":
        if process.poll() is not None or time.monotonic() > deadline:
            _signal_group(process.pid, signal.SIGKILL)
            raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    sampler = RssSampler(process.pid)
    sampler.start()
    rows: list[list[str]] = []
    head, _ = _http(port, "HEAD", "/health")
    rows.append(["`HEAD /health`", f"status {head}", "200", verdict(head == "200")])
    get, seconds = _http(port, "GET", "/health")
    rows.append(["`GET /health`", f"status {get} in {seconds * 1000:.0f} ms", "200",
                 verdict(get == "200")])
    time.sleep(1.0)
    before = _group_rss(process.pid)

    # stalled uploads, /health meanwhile
    phase = time.monotonic()
    clients = [Client() for _ in range(n_uploads)]
    threads = [threading.Thread(target=_stalled_upload, args=(port, 7 * MB, MB, c, hold),
                                daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    health: list[tuple[str, float]] = []
    while any(t.is_alive() for t in threads) and time.monotonic() - phase < hold + 10:
        health.append(_http(port, "GET", "/health"))
        time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=1)
    end = time.monotonic()
    time.sleep(1.0)
    after = _group_rss(process.pid)
    peak = max(sampler.between(phase, end))
    what, all_closed = _summary(clients)
    rows.append([f"{n_uploads} connections: headers with Content-Length 7 MB, 1 MB of body, "
                 "then nothing", f"{what}; times from the stall",
                 "every one closed", verdict(all_closed)])
    good = sum(status == "200" for status, _ in health)
    slowest = max((s for _, s in health), default=0.0)
    rows.append(["`GET /health` every 0.5 s meanwhile",
                 f"{good}/{len(health)} answered 200, slowest {slowest * 1000:.0f} ms",
                 "all 200", verdict(bool(health) and good == len(health))])
    rows.append(["server RSS (sampled every 0.1 s, /proc)",
                 f"{_mb(before)} MB before, peak {_mb(peak)} MB, {_mb(after)} MB after",
                 "peak < 1 GB", verdict(peak < (1 << 30))])

    # slow headers
    slow = [Client() for _ in range(20)]
    threads = [threading.Thread(target=_slow_headers, args=(port, c, hold), daemon=True)
               for c in slow]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=hold + 10)
    what, all_closed = _summary(slow)
    rows.append(["20 connections sending headers one byte every 0.5 s",
                 f"{what}; times from connecting", "every one closed",
                 verdict(all_closed)])

    # SIGTERM while uploads are in progress
    busy = [Client() for _ in range(10)]
    threads = [threading.Thread(target=_stalled_upload, args=(port, 7 * MB, MB, c, hold),
                                daemon=True) for c in busy]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    hwm = _vm_hwm(process.pid)
    term = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    killed = ""
    timer = threading.Timer(60, lambda: _signal_group(process.pid, signal.SIGKILL))
    timer.start()
    _, status, _ = os.wait4(process.pid, 0)
    timer.cancel()
    seconds = time.perf_counter() - term
    process.returncode = code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGKILL:
        killed = " (killed after 60 s)"
    sampler.stop.set()
    left = _survivors(process.pid, 0.2)
    for thread in threads:
        thread.join(timeout=5)
    what, _ = _summary(busy)
    rows.append(["SIGTERM with 10 stalled uploads in progress",
                 f"exit {code} after {seconds:.1f} s{killed}; the uploads got: {what}"
                 + (f"; {left} processes left" if left else ""),
                 "exit 0 in < 10 s", verdict(code == 0 and seconds < 10 and not left)])
    rows.append(["server peak RSS until SIGTERM (VmHWM, /proc)", f"{_mb(hwm)} MB", "< 1 GB",
                 verdict(hwm < (1 << 30))])
    table = md_table(["what", "measured", "target", "verdict"],
                     [[_cell(c) for c in row] for row in rows], align="llll")
    return "\n".join([
        "### The service held by stalled and slow clients (issue 18, items 4 and 9)", "",
        f"Measured {machine}; the machine may be shared with other jobs.",
        "`multitag serve` of a small model with its default limits, on a free port.", "",
        table, "", f"({time.perf_counter() - started:.0f} s for this part)"])


# =========================================================================== main
def _write_markdown(parts: dict[str, str]) -> None:
    if set(parts) == set(PARTS):
        body = "\n\n".join(["## Faults (`benchmarks/faults.py`)", *(
            "\n".join((markers(f"faults-{name}")[0], parts[name], markers(f"faults-{name}")[1]))
            for name in PARTS)])
        write_marked_section("faults", body)
        return
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    missing = [n for n in parts if markers(f"faults-{n}")[0] not in text]
    if missing:
        raise SystemExit(f"{README} has no faults-{missing[0]} part yet: run every part once "
                         "with --markdown")
    for name, body in parts.items():
        write_marked_section(f"faults-{name}", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help="Comma-separated parts to run: train, hostile, serve (default all).")
    parser.add_argument("--epochs", type=int, default=40,
                        help="Epochs of the one-network runs (default 40).")
    parser.add_argument("--ensemble-epochs", type=int, default=120,
                        help="Epochs of the default-ensemble runs (default 120: long enough to "
                        "be killed mid-run).")
    parser.add_argument("--markdown", action="store_true",
                        help="Also write the tables into benchmarks/README.md.")
    args = parser.parse_args()
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(PARTS)}")
    started = time.perf_counter()
    parts: dict[str, str] = {}
    global TEMP_ROOT
    with tempfile.TemporaryDirectory(prefix="multitag-faults-") as tmp:
        TEMP_ROOT = tmp
        for name in PARTS:
            if name not in chosen:
                continue
            root = Path(tmp) / name
            root.mkdir()
            print(f"== {name}", flush=True)
            if name == "train":
                parts[name] = train_part(root, args.epochs, args.ensemble_epochs)
            elif name == "hostile":
                parts[name] = hostile_part(root)
            else:
                parts[name] = serve_part(Path(tmp) / "hostile" if "hostile" in parts else root)
            print(parts[name], "\n", flush=True)
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.markdown:
        _write_markdown(parts)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[4:])
    else:
        main()
