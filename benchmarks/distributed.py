"""Training time under `torchrun` (gloo, CPU) with 1 and 2 processes, with the hand-written
backward pass (`fast_backprop`) on and off, against plain single-process training.

Synthetic dense data (default 40,000 rows x 500 features, 100 labels, hidden 256, batch 256,
3 epochs, one thread per process). Prints a table of fit seconds and ratios to the
single-process fast-path run measured in the same invocation.

    python benchmarks/distributed.py [--rows 40000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, machine_line, md_table, run_timed, tail


def worker(args: argparse.Namespace) -> None:
    """One rank: make the data (same seed everywhere), train, rank 0 prints the fit time."""
    import numpy as np

    from multitag.estimator import MultiLabelMLP
    from multitag.training import distributed, fast_backprop

    if args.no_fast:
        fast_backprop.supports = lambda module, dense_input: False
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    W = rng.standard_normal((args.features, args.labels)).astype(np.float32)
    Y = (2.0 * np.sqrt(args.features) < X @ W).astype(np.float32)
    use = args.processes > 0
    ctx = distributed.init_from_env(120) if use else None
    model = MultiLabelMLP(hidden=(256,), epochs=args.epochs, batch_size=256, dropout=0.0,
                          validation_split=0.0, standardize=False, random_state=0, threads=1,
                          early_stopping_patience=None, distributed=use)
    model.fit(X, Y)
    if ctx is None or ctx.is_main:
        print(json.dumps({"fit_seconds": model.train_result_.fit_seconds,
                          "fast_path": model.train_result_.fast_path}))
    if use:
        distributed.shutdown()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: argparse.Namespace, processes: int, no_fast: bool) -> dict:
    own = [__file__, "--worker", "--rows", str(args.rows), "--features", str(args.features),
           "--labels", str(args.labels), "--epochs", str(args.epochs),
           "--processes", str(processes), *(["--no-fast"] if no_fast else [])]
    cmd = [sys.executable, *own] if processes == 0 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
        "--master-port", str(_port()), *own]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_DIR / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = run_timed(cmd, env=env, cwd=tempfile.gettempdir(), timeout=1800)
    if done.returncode:
        raise SystemExit(f"run failed:\n{tail(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--no-fast", action="store_true")
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    rows, reference = [], None
    for processes, no_fast in ((0, False), (0, True), (1, False), (2, False), (2, True)):
        result = run(args, processes, no_fast)
        reference = reference or result["fit_seconds"]
        rows.append(["single process" if processes == 0 else f"torchrun x{processes}",
                     "on" if result["fast_path"] else "off (autograd)",
                     f"{result['fit_seconds']:.2f}", f"{result['fit_seconds'] / reference:.2f}"])
    print(f"{args.rows:,} rows x {args.features} features, {args.labels} labels, hidden 256, "
          f"batch 256, {args.epochs} epochs, 1 thread per process; {machine_line()}")
    print(md_table(["run", "fast backward", "fit s", "x single fast"], rows))


if __name__ == "__main__":
    main()
