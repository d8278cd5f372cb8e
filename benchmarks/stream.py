"""Streaming predict and out-of-core training: time and peak memory at 1x, 2x, 4x input size.

Generates a sparse multi-label svmlight file (numpy data, written with scikit-learn's
`dump_svmlight_file(multilabel=True)`) at 1x, 2x and 4x `--rows`, trains a small model on the
1x file, then runs each command in its own child process, which reports its own peak resident
memory (VmHWM of /proc/self/status: unlike getrusage's ru_maxrss, it is not inherited from the
parent process through fork):
- `multitag predict MODEL FILE --output out.csv --chunk-rows C` (streamed) against the in-memory
  path (`load` the whole file, predict, write) as reference;
- `multitag train FILE --stream --chunk-rows C` against in-memory `multitag train FILE`,
  both for `--epochs` epochs.
The claim under test: streamed peak memory stays flat as the input grows, in-memory grows.
Streamed training holds its validation rows in memory (10% of the rows, at most 20,000), so it
is also run with `--validation-split 0` to show what the streaming itself costs.

    .venv/bin/python benchmarks/stream.py [--rows 50000] [--chunk-rows 10000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, machine_line, md_table, tail, write_marked_section

N_FEATURES, N_LABELS, NNZ = 2_000, 20, 40
_WRAPPER = """
import sys
code = 0
try:
    exec(compile(sys.argv[1], "child", "exec"), {"__name__": "child", "ARGS": sys.argv[2:]})
except SystemExit as done:
    code = done.code or 0
peak = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
sys.stderr.write(f"\\nPEAK_KB {peak}\\n")
sys.exit(code)
"""
_CLI = "from multitag.cli import main; main(ARGS)"
_IMPORTS = "import multitag.cli, multitag.bundle.directory, torch, sklearn, pandas"
_IN_MEMORY_PREDICT = """
from pathlib import Path
from multitag.bundle.directory import ModelBundle
from multitag.data import load
from multitag.pipeline.predict import write_predictions
bundle = ModelBundle.load(ARGS[0])
data = load(ARGS[1])
proba = bundle.predict_proba(data)
write_predictions(Path(ARGS[2]), bundle.label_names, proba, bundle.decision_rule.predict(proba))
"""


def write_data(path: Path, rows: int, seed: int = 0, block: int = 20_000) -> None:
    """`rows` rows of sparse features (NNZ a row) and labels from a fixed linear model."""
    import scipy.sparse as sp
    from sklearn.datasets import dump_svmlight_file

    weights = np.random.default_rng(99).normal(size=(N_FEATURES, N_LABELS))
    rng = np.random.default_rng(seed)
    with open(path, "wb") as handle:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            cols = np.sort(np.argsort(rng.random((n, N_FEATURES)), axis=1)[:, :NNZ], axis=1)
            values = rng.integers(1, 5, size=(n, NNZ)).astype(np.float32)
            X = sp.csr_matrix((values.ravel(), cols.ravel(), np.arange(0, n * NNZ + 1, NNZ)),
                              shape=(n, N_FEATURES))
            scores = X @ weights
            Y = (scores > np.quantile(scores, 0.85, axis=0)).astype(np.int8)
            dump_svmlight_file(X, Y, handle, multilabel=True, zero_based=True)


def run_child(code: str, args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one child process running `code` with ARGS."""
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR / "src"), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, code, *map(str, args)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed ({' '.join(map(str, args[:4]))} ...):\n"
                         f"{tail(done.stderr)}")
    peak_kb = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024.0


def measure(root: Path, sizes: list[int], chunk: int, epochs: int) -> list[list[object]]:
    model = root / "model"
    train_opts = ["--epochs", str(epochs), "--hidden", "64", "--batch-size", "256",
                  "--quiet"]
    run_child(_CLI, ["train", root / "x1.svm", "--out", model, *train_opts])
    base = run_child(_IMPORTS, [])
    rows: list[list[object]] = [["imports only (floor)", "-", "-", "-", f"{base[0]:.1f}", "-",
                                 f"{base[1]:.0f}", "-", "-"]]
    for task, variants in (("predict", _predict_variants), ("train", _train_variants)):
        for label, make in variants(model, chunk, train_opts, root):
            first = None
            for factor, n in zip((1, 2, 4), sizes, strict=True):
                seconds, peak = run_child(*make(root / f"x{factor}.svm"))
                above = max(peak - base[1], 1.0)
                first = first or above
                rows.append([f"{task} {label}", f"{factor}x", f"{n:,}",
                             chunk if "stream" in label else "-", f"{seconds:.1f}",
                             f"{n * (epochs if task == 'train' else 1) / seconds:,.0f}",
                             f"{peak:.0f}", f"{above:.0f}", f"{above / first:.2f}"])
                print(" | ".join(map(str, rows[-1])), flush=True)
    return rows


def _predict_variants(model, chunk, _opts, root):
    out = root / "out.csv"
    yield "streamed", lambda f: (_CLI, ["predict", model, f, "--output", out, "--chunk-rows",
                                        chunk, "--quiet"])
    yield "in memory", lambda f: (_IN_MEMORY_PREDICT, [model, f, out])


def _train_variants(_model, chunk, opts, root):
    out = root / "trained"
    yield "streamed", lambda f: (_CLI, ["train", f, "--out", out, "--stream", "--chunk-rows",
                                        chunk, *opts])
    yield "streamed, no validation", lambda f: (
        _CLI, ["train", f, "--out", out, "--stream", "--chunk-rows", chunk,
               "--validation-split", "0", *opts])
    yield "in memory", lambda f: (_CLI, ["train", f, "--out", out, *opts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the 1x file")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    sizes = [args.rows * f for f in (1, 2, 4)]
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="multitag-stream-") as tmp:
        root = Path(tmp)
        for factor, n in zip((1, 2, 4), sizes, strict=True):
            write_data(root / f"x{factor}.svm", n, seed=factor)
        mib = (root / "x4.svm").stat().st_size / 2**20
        note = (f"svmlight files: {N_FEATURES:,} features, {NNZ} non-zeros a row, {N_LABELS} "
                f"labels; 4x file {mib:.0f} MiB; {args.epochs} epoch(s), hidden 64. Each run "
                "is a fresh child process (wall time includes start-up and imports; "
                "OMP_NUM_THREADS=1); 'above imports' = its peak RSS minus that of a child "
                "that only imports multitag, torch, sklearn and pandas. Measured while the "
                "machine was shared with other jobs (see the load average): times are noisy, "
                "memory is not.")
        print(note)
        headers = ["run", "size", "rows", "chunk rows", "seconds", "rows/s (x epochs)",
                   "peak RSS MiB", "above imports MiB", "above imports vs 1x"]
        print(" | ".join(headers))
        rows = measure(root, sizes, args.chunk_rows, args.epochs)
        table = md_table(headers, rows)
    print()
    print(table)
    if args.markdown:
        heading = "## Files larger than memory: streamed predict and train (`benchmarks/stream.py`)"
        write_marked_section("stream", f"{heading}\n\n{machine_line()}\n\n{note}\n\n{table}\n")


if __name__ == "__main__":
    main()
