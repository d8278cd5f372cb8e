"""Scale: a big sparse synthetic problem, many labels, memory and a scaling curve.

Parts (each printed as a table; every number measured in this run):

1. main    -- 200,000 rows x 100,000 features (~40 non-zeros per row), 5,000 labels, hidden
              (512, 512), batch 256, learning rate 0.01, one epoch: training and
              prediction samples/s, peak RSS, precision@1 on 10,000 held-out rows (and the
              label prior's), and the FLOP/s the dense layers achieve
              (torch.profiler over 20 steps) against torch.mm's peak at the same shapes and
              thread count measured in the same process.
2. memory  -- the same with 100,000 and 200,000 rows: RSS before training and peak RSS during
              training (a fresh VmHWM window), and their difference.
3. curve   -- training time of one epoch for 1x, 2x, 4x rows and labels (smaller base:
              25,000 rows x 1,000 labels, so that 4x finishes; 100,000 features).
4. labels  -- one training step (batch 512, hidden 512, 2,000 dense features) with 1,000 /
              10,000 / 50,000 labels.
5. layer   -- the sparse first layer, forward + backward of a batch: torch.sparse.mm on the
              nn.Linear (row-major) weight against embedding_bag(mode="sum",
              per_sample_weights) on the column-major weight MLP now uses for wide input.
6. metrics -- multitag.metrics.evaluation.evaluate at 10,000 rows x 1,000 labels against the
   same metrics
              called from scikit-learn.

Each big run is a child process (whole-run peak RSS: the child's ru_maxrss). Generator:
every label has 12 "signature" features; a row draws 1-8 labels (Zipf-like popularity) and for
each label 12 of its signature features, plus 20 uniformly random noise features; values are
TF-IDF-like and rows L2-normalised. Labels are therefore learnable from the features.

    nice -n 10 python benchmarks/scale.py [--parts main,memory,curve,labels,layer,metrics]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, machine_line, md_table, run_timed, tail

SIGNATURE, NOISE = 12, 20
# glibc raises its mmap threshold after each large free, so the per-batch buffers of varying
# size (sparse batches) then come from a fragmenting heap: RSS grew ~3 MB per step, without
# bound in practice (measured: 1.2 -> 1.8 GB over 200 steps; flat at 1.09 GB with this fixed
# threshold). The children run with it unless MALLOC_MMAP_THRESHOLD_ is already set.
MMAP_THRESHOLD = "131072"
LEARNING_RATE = 1e-2  # 1e-3 learns only the label prior in one epoch here (measured)


def make_problem(n_rows: int, n_features: int, n_labels: int, seed: int = 0
                 ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse features (CSR float32) and labels (CSR 0/1) with label-specific features."""
    rng = np.random.default_rng(seed)
    signature = np.random.default_rng(12345).integers(0, n_features, (n_labels, SIGNATURE))
    popularity = 1.0 / (np.arange(n_labels) + 10.0)
    popularity /= popularity.sum()
    per_row = np.minimum(1 + rng.poisson(1.5, n_rows), 8)
    rows = np.repeat(np.arange(n_rows), per_row)
    labels = rng.choice(n_labels, len(rows), p=popularity)
    Y = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, labels)), (n_rows, n_labels))
    Y.sum_duplicates()
    Y.data[:] = 1
    picks = rng.integers(0, SIGNATURE, (len(rows), SIGNATURE))
    signal_cols = signature[labels[:, None], picks].ravel()
    signal_rows = np.repeat(rows, SIGNATURE)
    noise_rows = np.repeat(np.arange(n_rows), NOISE)
    noise_cols = rng.integers(0, n_features, n_rows * NOISE)
    X = sp.csr_matrix((np.ones(len(signal_rows) + len(noise_rows), np.float32),
                       (np.r_[signal_rows, noise_rows], np.r_[signal_cols, noise_cols])),
                      (n_rows, n_features))
    X.sum_duplicates()
    X.data = np.log1p(X.data).astype(np.float32)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X, dtype=np.float32)
    return X, Y


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _nbytes(*matrices: sp.csr_matrix) -> int:
    return sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in matrices)


# --------------------------------------------------------------------------- child: train
def child_train(args: argparse.Namespace) -> dict:
    import torch

    from multitag.metrics.topk import top_k_metrics
    from multitag.models.inference import predict_scores
    from multitag.models.mlp import MLP
    from multitag.training.config import TrainConfig
    from multitag.training.trainer import Trainer

    X, Y = make_problem(args.rows + args.test_rows, args.features, args.labels)
    X_test, Y_test = X[args.rows:], Y[args.rows:]
    X, Y = X[:args.rows], Y[:args.rows]
    data_mb = _nbytes(X, Y, X_test, Y_test) / 2**20
    _reset_peak()
    before_mb = _status_mb("VmRSS")
    torch.manual_seed(0)
    hidden = tuple(args.hidden)
    module = MLP(args.features, args.labels, hidden)
    config = TrainConfig(epochs=1, batch_size=args.batch, learning_rate=args.lr, seed=0,
                         threads=args.threads)
    result = Trainer(config).fit(module, X, Y)
    train_peak_mb = _status_mb("VmHWM")
    train_sps = args.rows / result.fit_seconds
    torch.set_num_threads(result.threads)
    started = time.perf_counter()
    scores = (predict_scores(module, X_test[a:a + 4096])
              for a in range(0, X_test.shape[0], 4096))
    top = top_k_metrics(Y_test, scores, ks=(1, 5), ndcg_ks=(5,))
    predict_sps = X_test.shape[0] / (time.perf_counter() - started)
    frequent = np.argsort(-np.asarray(Y.sum(axis=0)).ravel(), kind="stable")[:5]
    prior = np.zeros((X_test.shape[0], args.labels))
    prior[:, frequent] = np.arange(5, 0, -1)
    baseline = top_k_metrics(Y_test, prior, ks=(1, 5), ndcg_ks=())
    out = {"rows": args.rows, "labels": args.labels, "fit_seconds": result.fit_seconds,
           "prior_p_at_1": baseline["precision_at_1"], "prior_p_at_5": baseline["precision_at_5"],
           "train_sps": train_sps, "predict_sps": predict_sps, "threads": result.threads,
           "p_at_1": top["precision_at_1"], "p_at_5": top["precision_at_5"],
           "data_mb": data_mb, "nnz_per_row": X.nnz / X.shape[0],
           "before_train_mb": before_mb, "train_peak_mb": train_peak_mb,
           "model_mb": sum(p.numel() for p in module.parameters()) * 4 / 2**20}
    if args.flops:
        out.update(dense_flops(module, X, Y, args.batch, result.threads))
    out["peak_rss_mb"] = _rss_mb()
    return out


def dense_flops(module, X, Y, batch: int, threads: int) -> dict:
    """Achieved FLOP/s of the dense matmuls in 20 training steps vs torch.mm's peak."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from multitag.training.batches import TensorData
    from multitag.training.optim import FusedAdam

    torch.set_num_threads(threads)
    data = TensorData(X[: batch * 20], Y[: batch * 20])
    optimizer = FusedAdam(module.parameters())
    batches = list(data.batches(batch, None, shuffle=False))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        for x, y in batches:
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(module(x), y)
            loss.backward()
            optimizer.step()
    flops = seconds = 0.0
    shapes = set()
    for event in prof.events():
        if event.name not in ("aten::addmm", "aten::mm") or not event.flops:
            continue
        dims = [tuple(s) for s in event.input_shapes if s]
        if any(X.shape[1] in d for d in dims):  # the sparse first layer: not a dense matmul
            continue
        flops += event.flops
        seconds += event.cpu_time_total / 1e6 - sum(
            c.cpu_time_total for c in event.cpu_children) / 1e6
        shapes.add(tuple(dims[-2:]) if event.name == "aten::addmm" else tuple(dims[:2]))
    peak = mm_peak(shapes, threads)
    achieved = flops / seconds if seconds else 0.0
    step_time = sum(e.cpu_time_total for e in prof.events() if e.name == "aten::addmm") / 1e6
    return {"dense_gflops": achieved / 1e9, "peak_gflops": peak / 1e9,
            "dense_fraction": achieved / peak if peak else 0.0,
            "dense_shapes": sorted(str(s) for s in shapes), "addmm_seconds": step_time}


def mm_peak(shapes: set, threads: int) -> float:
    """Best torch.mm FLOP/s over the given (A, B) shapes, each timed 20 times."""
    import torch

    torch.set_num_threads(threads)
    best = 0.0
    for a_shape, b_shape in shapes:
        a, b = torch.randn(*a_shape), torch.randn(*b_shape)
        if a.shape[1] != b.shape[0]:
            continue
        torch.mm(a, b)
        started = time.perf_counter()
        for _ in range(20):
            torch.mm(a, b)
        rate = 20 * 2 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - started)
        best = max(best, rate)
    return best


# --------------------------------------------------------------------------- in-process parts
def part_labels(threads: int) -> list[list[str]]:
    import torch

    from multitag.models.mlp import MLP
    from multitag.training.optim import FusedAdam

    torch.set_num_threads(threads)
    rows = []
    for n_labels in (1_000, 10_000, 50_000):
        torch.manual_seed(0)
        module = MLP(2_000, n_labels, (512,))
        x = torch.randn(512, 2_000)
        y = (torch.rand(512, n_labels) < 5 / n_labels).float()
        optimizer = FusedAdam(module.parameters())
        times = []
        for _ in range(6):
            started = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(module(x), y).backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
        step = float(np.median(times[1:]))
        flops = 6 * 512 * 512 * n_labels
        rows.append([f"{n_labels:,}", f"{step * 1e3:.1f}", f"{512 / step:,.0f}",
                     f"{flops / step / 1e9:.1f}"])
    return rows


def part_layer(threads: int) -> list[list[str]]:
    """The first layer as nn.Linear stores it (row-major, torch.sparse.mm on its transpose)
    against the column-major weight MLP uses for wide input (embedding_bag)."""
    import torch

    from multitag.models.mlp import _linear, csr_to_torch

    torch.set_num_threads(threads)
    X, _ = make_problem(512 * 8, 100_000, 1_000)
    batches = [csr_to_torch(X[i * 512:(i + 1) * 512]) for i in range(8)]
    values = torch.randn(512, 100_000) * 0.01
    layouts = {"row-major + torch.sparse.mm (nn.Linear layout; before)":
               torch.nn.Parameter(values.clone()),
               "column-major + embedding_bag (used now)":
               torch.nn.Parameter(values.t().contiguous().t())}
    rows, outputs = [], []
    for name, weight in layouts.items():
        outputs.append(_linear(weight, None, batches[0]).detach())
        started = time.perf_counter()
        for batch in batches:
            weight.grad = None
            _linear(weight, None, batch).sum().backward()
        per_batch = (time.perf_counter() - started) / len(batches)
        rows.append([name, f"{per_batch * 1e3:.1f}", f"{512 / per_batch:,.0f}"])
    rows.append([f"(outputs agree to {(outputs[0] - outputs[1]).abs().max().item():.1e})",
                 "", ""])
    return rows


def part_metrics() -> list[list[str]]:
    from sklearn import metrics as skm

    from multitag.metrics.evaluation import evaluate

    rng = np.random.default_rng(0)
    S = rng.random((10_000, 1_000))
    Y = (rng.random(S.shape) < 0.01 + 0.05 * S).astype(np.uint8)
    P = (S >= 0.5).astype(np.uint8)
    started = time.perf_counter()
    evaluate(Y, S)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for average in ("micro", "samples"):
        skm.f1_score(Y, P, average=average, zero_division=0)
    skm.f1_score(Y, P, average="macro", zero_division=0)
    skm.precision_recall_fscore_support(Y, P, average=None, zero_division=0)
    skm.jaccard_score(Y, P, average="samples", zero_division=0)
    skm.roc_auc_score(Y, S, average="micro")
    skm.roc_auc_score(Y, S, average="macro")
    skm.average_precision_score(Y, S, average="micro")
    skm.label_ranking_average_precision_score(Y, S)
    skm.label_ranking_loss(Y, S)
    skm.coverage_error(Y, S)
    reference = time.perf_counter() - started
    return [["multitag.metrics.evaluation.evaluate (every metric)", f"{ours:.2f}", "1.00"],
            ["the same metrics from scikit-learn", f"{reference:.2f}", f"{reference / ours:.1f}"]]


# --------------------------------------------------------------------------- orchestration
def run_child(rows: int, labels: int, *, flops: bool = False, test_rows: int = 10_000,
              features: int = 100_000, threads: int | None = None, batch: int = 256) -> dict:
    cmd = [sys.executable, __file__, "--child", "--rows", str(rows), "--labels", str(labels),
           "--lr", str(LEARNING_RATE), "--batch", str(batch),
           "--features", str(features), "--test-rows", str(test_rows),
           *(["--flops"] if flops else []), *(["--threads", str(threads)] if threads else [])]
    env = {**os.environ,
           "PYTHONPATH": str(REPO_DIR / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
    done = run_timed(cmd, env=env, timeout=7200)
    if done.returncode:
        raise SystemExit(f"child failed:\n{tail(done.stderr)}")
    print(f"[child {rows:,} rows x {labels:,} labels: {done.seconds:.0f} s]", file=sys.stderr,
          flush=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="main,memory,curve,labels,layer,metrics")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=5_000)
    parser.add_argument("--test-rows", type=int, default=10_000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--flops", action="store_true")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_train(args)))
        return
    parts = args.parts.split(",")
    threads = args.threads or len(os.sched_getaffinity(0))
    sys.stdout.reconfigure(line_buffering=True)
    print(f"# benchmarks/scale.py -- {machine_line()}")
    print("(measured while other agents' jobs shared the machine; under `nice -n 10` when "
          "run as documented)\n")
    main_run = None
    if "main" in parts:
        main_run = run_child(args.rows, args.labels, flops=True, threads=args.threads)
        r = main_run
        print(f"## 1. {r['rows']:,} rows x {args.features:,} features "
              f"({r['nnz_per_row']:.0f} non-zeros/row), {r['labels']:,} labels, hidden 512,512, "
              f"batch 256, learning rate {LEARNING_RATE:g}, 1 epoch, {r['threads']} thread(s)")
        print(md_table(["measure", "value"], [
            ["training samples/s", f"{r['train_sps']:,.0f}"],
            ["prediction samples/s (incl. top-k metrics)", f"{r['predict_sps']:,.0f}"],
            ["peak RSS of the whole run (MB; includes making the data)",
             f"{r['peak_rss_mb']:,.0f}"],
            ["RSS before training (MB)", f"{r['before_train_mb']:,.0f}"],
            ["peak RSS during training (MB)", f"{r['train_peak_mb']:,.0f}"],
            ["parameters (MB; Adam keeps 3 more copies, plus gradients)",
             f"{r['model_mb']:,.0f}"],
            ["data in memory (MB, CSR X and Y)", f"{r['data_mb']:,.0f}"],
            ["precision@1 / @5 on 10,000 new rows", f"{r['p_at_1']:.3f} / {r['p_at_5']:.3f}"],
            ["the same for the label prior (5 most frequent labels)",
             f"{r['prior_p_at_1']:.3f} / {r['prior_p_at_5']:.3f}"],
            ["dense matmuls achieved (GFLOP/s)", f"{r['dense_gflops']:.1f}"],
            ["torch.mm peak at the same shapes (GFLOP/s)", f"{r['peak_gflops']:.1f}"],
            ["fraction of peak (target >= 0.30)", f"{r['dense_fraction']:.2f}"],
        ]))
        print(f"dense shapes profiled: {', '.join(r['dense_shapes'])}\n")
    if "memory" in parts:
        half = run_child(args.rows // 2, args.labels, threads=args.threads)
        full = main_run or run_child(args.rows, args.labels, threads=args.threads)
        print("## 2. Memory as the rows double (same problem, 1 epoch)")
        print(md_table(["rows", "data MB", "RSS before training MB", "peak RSS training MB",
                        "training peak - before MB", "train samples/s"], [
            [f"{r['rows']:,}", f"{r['data_mb']:,.0f}", f"{r['before_train_mb']:,.0f}",
             f"{r['train_peak_mb']:,.0f}", f"{r['train_peak_mb'] - r['before_train_mb']:,.0f}",
             f"{r['train_sps']:,.0f}"] for r in (half, full)]))
        print()
    if "curve" in parts:
        base_rows, base_labels = 25_000, 1_000
        runs = [run_child(base_rows * m, base_labels * m, test_rows=2_000, threads=args.threads)
                for m in (1, 2, 4)]
        print(f"## 3. Scaling curve (smaller base so 4x finishes: {base_rows:,} rows x "
              f"{base_labels:,} labels, 100,000 features, 1 epoch)")
        print(md_table(["scale", "rows", "labels", "fit s", "x 1x time", "x 1x per row",
                        "x 1x per row x label"], [
            [f"{m}x", f"{r['rows']:,}", f"{r['labels']:,}", f"{r['fit_seconds']:.1f}",
             f"{r['fit_seconds'] / runs[0]['fit_seconds']:.2f}",
             f"{r['fit_seconds'] / runs[0]['fit_seconds'] / m:.2f}",
             f"{r['fit_seconds'] / runs[0]['fit_seconds'] / m / m:.2f}"]
            for m, r in zip((1, 2, 4), runs)]))
        print("(the output layer's work grows with rows x labels, the first layer's with rows)")
        print()
    if "labels" in parts:
        print(f"## 4. One training step (batch 512, 2,000 dense features, hidden 512), "
              f"{threads} thread(s)")
        print(md_table(["labels", "ms/step", "samples/s", "output-layer GFLOP/s"],
                       part_labels(threads)))
        print()
    if "layer" in parts:
        print(f"## 5. Sparse first layer, forward + backward (batch 512, 100,000 features -> "
              f"512), {threads} thread(s)")
        print(md_table(["implementation", "ms/batch", "samples/s"], part_layer(threads)))
        print()
    if "metrics" in parts:
        print("## 6. Metrics at 10,000 rows x 1,000 labels (seconds)")
        print(md_table(["computation", "s", "x slower than ours"], part_metrics()))


if __name__ == "__main__":
    main()
