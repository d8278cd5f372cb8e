"""Loading speed and memory of multitag's readers, and the speed of iterative stratification.

Prints one table:
- tmc2007-500 train+test (Mulan sparse ARFF, 28,596 rows) and delicious train (12,920 rows,
  983 labels): wall time of `multitag.data.load` (target: under 2 s each);
- a generated 1,000,000-row sparse svmlight file, loaded in a child process: time and peak
  resident memory against the size of the resulting CSR matrices (target: under 3x);
- iterative stratification of 100,000 rows x 100 labels (target: seconds).

    .venv/bin/python benchmarks/load.py [--runs 3] [--rows 1000000] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    REPO_DIR,
    fmt_median_range,
    machine_line,
    md_table,
    verdict,
    write_marked_section,
)

SHARED = REPO_DIR.parent / "shared" / "data" / "mulan"
CACHE = Path(tempfile.gettempdir()) / "multitag-bench"


def time_load(paths: list[Path], runs: int) -> list[float]:
    """Wall times of loading all `paths` once, `runs` times (the first run included)."""
    from multitag.data import load

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for path in paths:
            load(path)
        times.append(time.perf_counter() - start)
    return times


def make_svmlight(rows: int, path: Path, seed: int = 0) -> Path:
    """A multi-label svmlight file: 10 features per row out of 100,000; 0-3 of 1,000 labels."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "w") as handle:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            handle.write(_svmlight_chunk(rng, n))
    tmp.rename(path)
    return path


def _svmlight_chunk(rng: np.random.Generator, n: int) -> str:
    k = 10
    first = rng.integers(1, 1000, size=(n, 1))
    step = rng.integers(1, 9000, size=(n, 1))
    idx = (first + step * np.arange(k)).astype(str)
    val = np.round(rng.random((n, k)), 3).astype(str)
    pairs = np.char.add(np.char.add(idx, ":"), val)
    n_labels = rng.integers(0, 4, size=n)
    labels = rng.integers(0, 1000, size=(n, 3)).astype(str)
    lines = [
        ",".join(labels[i, : n_labels[i]]) + " " + " ".join(pairs[i]) for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def _rss(field: str) -> int:
    """VmRSS / VmHWM of this process in bytes (ru_maxrss would include the forked parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_svmlight(path: str) -> None:
    """Run in a child process: load `path`, print time, baseline and peak RSS, CSR bytes."""
    import scipy.sparse as sp
    import sklearn.datasets  # noqa: F401 - import cost before the baseline

    from multitag.data import load

    base = _rss("VmRSS")
    start = time.perf_counter()
    data = load(path)
    seconds = time.perf_counter() - start
    peak = _rss("VmHWM")
    parts = [data.X, data.Y]
    nbytes = sum(
        (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) if sp.issparse(m) else m.nbytes
        for m in parts
    )
    print(json.dumps({
        "seconds": seconds, "base": base, "peak": peak, "csr_bytes": nbytes,
        "rows": data.n_samples, "nnz": int(data.X.nnz), "n_features": data.n_features,
        "n_labels": data.n_labels, "y_sparse": bool(sp.issparse(data.Y)),
        "file_bytes": Path(path).stat().st_size, "index_dtype": str(data.X.indices.dtype),
    }))


def child_sklearn(path: str) -> None:
    """For comparison: scikit-learn's load_svmlight_file alone on the same file."""
    from sklearn.datasets import load_svmlight_file

    base = _rss("VmRSS")
    start = time.perf_counter()
    load_svmlight_file(path, dtype=np.float32, multilabel=True, zero_based=True)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "base": base, "peak": _rss("VmHWM")}))


def _child(flag: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, flag, str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_svmlight(rows: int, runs: int, sklearn_runs: int) -> tuple[list[dict], list[dict]]:
    path = make_svmlight(rows, CACHE / f"svm_{rows}.txt")
    ours = [_child("--child-svmlight", path) for _ in range(runs)]
    theirs = [_child("--child-sklearn", path) for _ in range(sklearn_runs)]
    return ours, theirs


def time_stratification(runs: int, n: int = 100_000, n_labels: int = 100) -> list[float]:
    from multitag.data import iterative_stratification

    rng = np.random.default_rng(0)
    Y = (rng.random((n, n_labels)) < np.geomspace(0.3, 5e-4, n_labels)).astype(np.uint8)
    times = []
    for seed in range(runs):
        start = time.perf_counter()
        iterative_stratification(Y, [0.8, 0.2], seed=seed)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--markdown", action="store_true", help="Update benchmarks/README.md.")
    parser.add_argument("--sklearn-runs", type=int, default=1,
                        help="Runs of scikit-learn's loader on the same file, for comparison.")
    parser.add_argument("--child-svmlight", help=argparse.SUPPRESS)
    parser.add_argument("--child-sklearn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_svmlight or args.child_sklearn:
        (child_svmlight if args.child_svmlight else child_sklearn)(
            args.child_svmlight or args.child_sklearn)
        return
    rows, notes = [], [f"Machine: {machine_line()}."]
    if SHARED.is_dir():
        tmc = [SHARED / "tmc2007" / f"tmc2007-500-{p}.arff" for p in ("train", "test")]
        rows.append(_time_row("tmc2007-500 train+test (ARFF, 28,596 rows)",
                              time_load(tmc, args.runs), 2.0))
        delicious = [SHARED / "delicious" / "delicious-train.arff"]
        rows.append(_time_row("delicious train (ARFF, 12,920 rows, 983 labels)",
                              time_load(delicious, args.runs), 2.0))
    else:
        notes.append(f"Mulan data not found at {SHARED}: ARFF rows skipped.")
    ours, theirs = measure_svmlight(args.rows, args.runs, args.sklearn_runs)
    rows.extend(_svmlight_rows(ours, args.rows, notes))
    rows.extend(_sklearn_rows(theirs, ours[0]["csr_bytes"]))
    rows.append(_time_row("iterative stratification, 100,000 x 100 labels, 80/20",
                          time_stratification(args.runs), 5.0))
    table = md_table(["what", "measured (median, min-max)", "target", "verdict"], rows,
                     align="lrrl")
    notes.append(f"{args.runs} runs each; load times are in-process wall times of "
                 "`multitag.data.load` (the first run included); the svmlight file is loaded in a "
                 "fresh child process per run; peak RSS = the child's VmHWM (/proc/self/status), "
                 "growth measured from its RSS after imports.")
    print(table)
    print("\n".join(f"- {n}" for n in notes))
    if args.markdown:
        body = ("## Loading data: `benchmarks/load.py`\n\nRerun with "
                "`.venv/bin/python benchmarks/load.py --markdown`.\n\n" + table + "\n\n"
                + "\n".join(f"- {n}" for n in notes))
        write_marked_section("load", body)


def _time_row(what: str, times: list[float], target: float) -> list[str]:
    ok = float(np.median(times)) < target
    return [what, fmt_median_range(times), f"< {target:g} s", verdict(ok)]


def _sklearn_rows(results: list[dict], csr_bytes: int) -> list[list[str]]:
    if not results:
        return []
    growth = [(r["peak"] - r["base"]) / csr_bytes for r in results]
    return [
        ["  for comparison: scikit-learn `load_svmlight_file` alone, time",
         fmt_median_range([r["seconds"] for r in results]), "", ""],
        ["  for comparison: its peak RSS growth / the same CSR size",
         fmt_median_range(growth, unit="x"), "", ""],
    ]


def _svmlight_rows(results: list[dict], rows: int, notes: list[str]) -> list[list[str]]:
    first = results[0]
    ratios = [(r["peak"] - r["base"]) / r["csr_bytes"] for r in results]
    whole = [r["peak"] / r["csr_bytes"] for r in results]
    mb = 1024 * 1024
    notes.append(
        f"svmlight file: {rows:,} rows, {first['nnz']:,} stored values, {first['n_features']:,} "
        f"features, {first['n_labels']:,} labels, {first['file_bytes'] / mb:,.0f} MB; "
        f"CSR X+Y {first['csr_bytes'] / mb:,.0f} MB (Y {'CSR' if first['y_sparse'] else 'dense'})"
        f"; process RSS before loading {first['base'] / mb:,.0f} MB, peak "
        f"{first['peak'] / mb:,.0f} MB."
    )
    ok = float(np.median(ratios)) < 3
    return [
        [f"svmlight {rows:,} rows: load time", fmt_median_range([r["seconds"] for r in results]),
         "", ""],
        ["svmlight: peak RSS growth / CSR size", fmt_median_range(ratios, unit="x"), "< 3x",
         verdict(ok)],
        ["svmlight: whole-process peak RSS / CSR size", fmt_median_range(whole, unit="x"), "",
         "(includes Python, numpy, scipy, scikit-learn)"],
    ]


if __name__ == "__main__":
    main()
