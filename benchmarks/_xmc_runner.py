"""Child of benchmarks/xmc.py, run by the interpreter of benchmarks/.venv-xmc (numpy, scipy,
omikuji, napkinxc; not multitag): trains one extreme multi-label library with its defaults on
train.npz, predicts the 5 best labels of test.npz, writes top5.npy and prints a JSON line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def write_xc_file(path: Path, X: sp.csr_matrix, Y: sp.csr_matrix) -> None:
    """The Extreme Classification Repository text format Omikuji reads."""
    with path.open("w") as out:
        out.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        for i in range(X.shape[0]):
            labels = ",".join(map(str, Y.indices[Y.indptr[i]:Y.indptr[i + 1]]))
            row = slice(X.indptr[i], X.indptr[i + 1])
            feats = " ".join(f"{j}:{v:g}" for j, v in zip(X.indices[row], X.data[row]))
            out.write(f"{labels} {feats}\n")


def run_omikuji(X, Y, X_test, workdir: Path) -> tuple[np.ndarray, float, float]:
    import omikuji

    path = workdir / "train.txt"
    write_xc_file(path, X, Y)
    started = time.perf_counter()
    model = omikuji.Model.train_on_data(str(path), omikuji.Model.default_hyper_param(),
                                        n_threads=1)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    top = np.full((X_test.shape[0], 5), -1, dtype=np.int64)
    for i in range(X_test.shape[0]):
        row = slice(X_test.indptr[i], X_test.indptr[i + 1])
        pairs = list(zip(X_test.indices[row].tolist(), X_test.data[row].tolist()))
        found = [label for label, _ in model.predict(pairs, top_k=5)]
        top[i, :len(found)] = found
    return top, fit, time.perf_counter() - started


def run_napkinxc(X, Y, X_test, workdir: Path) -> tuple[np.ndarray, float, float]:
    from napkinxc.models import PLT

    model = PLT(str(workdir / "plt"), threads=1, seed=0)
    started = time.perf_counter()
    model.fit(X, Y)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    found = model.predict(X_test, top_k=5)
    top = np.full((X_test.shape[0], 5), -1, dtype=np.int64)
    for i, labels in enumerate(found):
        top[i, :len(labels)] = labels[:5]
    return top, fit, time.perf_counter() - started


def main() -> None:
    library, workdir = sys.argv[1], Path(sys.argv[2])
    train, test = np.load(workdir / "train.npz"), np.load(workdir / "test.npz")
    X = sp.csr_matrix((train["x_data"], train["x_indices"], train["x_indptr"]),
                      tuple(train["x_shape"]))
    Y = sp.csr_matrix((train["y_data"], train["y_indices"], train["y_indptr"]),
                      tuple(train["y_shape"]))
    X_test = sp.csr_matrix((test["x_data"], test["x_indices"], test["x_indptr"]),
                           tuple(test["x_shape"]))
    run = {"omikuji": run_omikuji, "napkinxc": run_napkinxc}[library]
    top, fit, predict = run(X, Y, X_test, workdir)
    np.save(workdir / f"top5-{library}.npy", top)
    print(json.dumps({"fit_seconds": fit, "predict_seconds": predict}))


if __name__ == "__main__":
    main()
