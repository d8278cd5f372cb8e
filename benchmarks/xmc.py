"""precision@1/3/5 and training time on bibtex and delicious: multitag against Omikuji and
napkinXC (extreme multi-label libraries; PyPI packages installed by this script into
benchmarks/.venv-xmc, not project dependencies).

Standard Mulan train/test splits from ../shared/data/mulan; every library with its default
settings and one thread; multitag three times (one thread per network): its `multitag train`
defaults (which train a cross-fitted ensemble of 5 in worker processes below 5,000 rows), one
network (--ensemble 1), and the defaults with --hidden 1024 --dropout 0.5.
precision@k is computed for all three the same way (multitag.metrics.topk on each library's 5 best
labels per test row). A library that fails to install or run is printed as such.

    nice -n 10 python benchmarks/xmc.py [--datasets bibtex,delicious]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, REPO_DIR, machine_line, md_table, run_timed, tail

DATA = REPO_DIR.parent / "shared" / "data" / "mulan"
VENV = BENCH_DIR / ".venv-xmc"
PACKAGES = {"omikuji": "omikuji", "napkinxc": "napkinxc"}
FIT_RATIO_TARGETS = {"bibtex": 3.0, "delicious": 2.0}  # issue 17: defaults' fit x Omikuji's
MULTITAG_RUNS = {"multitag (defaults)": {},
                 "multitag (--ensemble 1)": {"ensemble": 1},
                 "multitag (hidden 1024, dropout 0.5)": {"hidden": (1024,), "dropout": 0.5}}


def ensure_venv() -> dict[str, str | None]:
    """Create the side venv and install each library; library -> None or why it is missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy", "scipy"],
                       check=False, capture_output=True)
    status: dict[str, str | None] = {}
    for library, package in PACKAGES.items():
        probe = subprocess.run([str(python), "-c", f"import {library}"], capture_output=True)
        if probe.returncode == 0:
            status[library] = None
            continue
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", package],
                              capture_output=True, text=True)
        status[library] = None if done.returncode == 0 else (
            f"pip install {package} failed: {tail(done.stderr, 1)}")
    return status


def precision_at(Y: sp.csr_matrix, top: np.ndarray, ks=(1, 3, 5)) -> dict[int, float]:
    """precision@k from each row's ranked label ids (-1 = no label returned)."""
    Y = sp.csr_matrix(Y)
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    hits = np.asarray(Y[rows, np.maximum(top.ravel(), 0)]).reshape(top.shape) * (top >= 0)
    return {k: float(hits[:, :k].sum(axis=1).mean() / k) for k in ks}


def save_npz(path: Path, X: Any, Y: Any = None) -> None:
    X = sp.csr_matrix(X, dtype=np.float32)
    arrays = {"x_data": X.data, "x_indices": X.indices, "x_indptr": X.indptr,
              "x_shape": np.array(X.shape)}
    if Y is not None:
        Y = sp.csr_matrix(Y, dtype=np.float32)
        arrays.update({"y_data": Y.data, "y_indices": Y.indices, "y_indptr": Y.indptr,
                       "y_shape": np.array(Y.shape)})
    np.savez(path, **arrays)


def run_library(library: str, workdir: Path, Y_test: Any) -> dict[str, Any]:
    done = run_timed([str(VENV / "bin" / "python"), str(BENCH_DIR / "_xmc_runner.py"),
                      library, str(workdir)], timeout=3600)
    if done.returncode:
        return {"error": f"failed: {tail(done.stderr, 1)}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["p"] = precision_at(Y_test, np.load(workdir / f"top5-{library}.npy"))
    return result


def run_multitag(train: Any, test: Any, extra: dict[str, Any]) -> dict[str, Any]:
    from multitag.metrics.topk import top_k_metrics
    from multitag.options import TrainOptions
    from multitag.pipeline.fit import train as train_model

    outcome = train_model(train, TrainOptions(threads=1, **extra))
    started = time.perf_counter()
    proba = outcome.bundle.predict_proba(test)
    predict = time.perf_counter() - started
    found = top_k_metrics(test.Y, proba, ks=(1, 3, 5), ndcg_ks=())
    return {"fit_seconds": outcome.fit_seconds, "predict_seconds": predict,
            "p": {k: found[f"precision_at_{k}"] for k in (1, 3, 5)},
            "epochs": outcome.best_epoch}


def verdict(name: str, results: dict[str, dict[str, Any]]) -> str:
    """Issue 17's two checks for the defaults: fit time against Omikuji's, P@k above both."""
    ours = results["multitag (defaults)"]
    libraries = {lib: r for lib, r in results.items() if lib in PACKAGES and "p" in r}
    if "omikuji" not in libraries:
        return "\nOmikuji did not run: no verdict."
    ratio = ours["fit_seconds"] / libraries["omikuji"]["fit_seconds"]
    target = FIT_RATIO_TARGETS.get(name)
    fit = (f"defaults' fit time {ratio:.1f}x Omikuji's"
           + (f" (target at most {target:.0f}x: {'met' if ratio <= target else 'NOT met'})"
              if target else ""))
    above = all(ours["p"][k] > r["p"][k] for r in libraries.values() for k in (1, 3, 5))
    return (f"\n{fit}; precision@1/3/5 above {' and '.join(libraries)}: "
            f"{'yes' if above else 'NO'}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="bibtex,delicious")
    args = parser.parse_args()
    from multitag.data import load

    status = ensure_venv()
    print(f"# benchmarks/xmc.py -- {machine_line()}")
    print("(one thread per library and per multitag network; the load average above says how "
          "busy the machine was)\n")
    for name in args.datasets.split(","):
        base = DATA / name
        train, test = load(base / f"{name}-train.arff"), load(base / f"{name}-test.arff")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            save_npz(workdir / "train.npz", train.X, train.Y)
            save_npz(workdir / "test.npz", test.X)
            results = {lib: ({"error": why} if why else run_library(lib, workdir, test.Y))
                       for lib, why in status.items()}
        for label, extra in MULTITAG_RUNS.items():
            results[label] = run_multitag(train, test, extra)
        reference = results["omikuji"].get("fit_seconds") if "p" in results["omikuji"] else None
        for label, r in results.items():
            if "p" not in r:
                rows.append([label, "n/a", "n/a", "n/a", "n/a", "n/a", r["error"]])
                continue
            ratio = f"{r['fit_seconds'] / reference:.1f}" if reference else "n/a"
            rows.append([label, f"{r['p'][1]:.4f}", f"{r['p'][3]:.4f}", f"{r['p'][5]:.4f}",
                         f"{r['fit_seconds']:.1f}", ratio, f"{r['predict_seconds']:.2f}"])
        print(f"## {name}: {train.n_samples:,} train / {test.n_samples:,} test rows, "
              f"{train.n_features:,} features, {train.n_labels:,} labels")
        print(md_table(["model", "P@1", "P@3", "P@5", "fit s", "fit x omikuji", "predict s"],
                       rows))
        print(verdict(name, results), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
