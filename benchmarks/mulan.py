"""multitag's network against the scikit-learn baselines on the seven Mulan datasets.

Standard train/test splits from ../shared/data/mulan; every model with its defaults, fitted on
the training file and scored on the test file by `multitag.pipeline.compare.compare`
(one BLAS thread).
The network (`mlp`) runs with `--seeds` seeds (mean ± std); the baselines with seed 0.
Prints one table per dataset and a summary (micro-F1 of mlp vs the best baseline); `--markdown`
writes it into benchmarks/README.md between `<!-- mulan:begin -->` and `<!-- mulan:end -->`.

Slow combinations are skipped by default, with the reason printed (`--no-skip` runs them).
`--results FILE` keeps every measurement in a JSON file and merges new runs into it, so the big
datasets can run in the background and the README section is rendered from all of them:

    python benchmarks/mulan.py --datasets emotions,yeast,scene,medical --results /tmp/mulan.json
    python benchmarks/mulan.py --datasets bibtex,delicious,tmc2007 --results /tmp/mulan.json
    python benchmarks/mulan.py --render-only --results /tmp/mulan.json --markdown
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_DIR, machine_line, md_table, verdict, write_marked_section

DATA = REPO_DIR.parent / "shared" / "data" / "mulan"
DATASETS = {  # name -> (folder, file stem)
    "emotions": ("emotions", "emotions"), "yeast": ("yeast", "yeast"),
    "scene": ("scene", "scene"), "medical": ("medical", "medical"),
    "bibtex": ("bibtex", "bibtex"), "delicious": ("delicious", "delicious"),
    "tmc2007": ("tmc2007", "tmc2007-500"),
}
MODELS = ("br-lr", "br-svm", "cc", "rf", "knn", "mlknn", "sk-mlp", "mlp", "mlp-before",
          "mlp-macro", "auto", "mlp-hamming")
# `multitag train` with its defaults (--model mlp), the same command at the baseline commit
# (`mlp-before`, `--baseline`: a worktree run in a child process, torch imported before its
# clock starts), with --objective macro_f1, with --model auto, and with --objective hamming
# (thresholds tuned for Hamming loss: run where a Hamming loss is published).
OURS = ("mlp", "mlp-before", "mlp-macro", "auto", "mlp-hamming")
OUR_OPTIONS = {"mlp": {"model": "mlp"}, "auto": {"model": "auto"},
               "mlp-macro": {"model": "mlp", "objective": "macro_f1"},
               "mlp-hamming": {"model": "mlp", "objective": "hamming"}}
# Micro-F1 of the best of every tool measured on these splits (scikit-learn baselines, BOOMER,
# LibMultiLabel linear and thresholded: ../shared/PERFORMANCE.md, issue 16): the bar per set.
BEST_OF_ALL = {"emotions": 0.679, "yeast": 0.648, "scene": 0.746, "medical": 0.792,
               "bibtex": 0.413, "delicious": 0.277, "tmc2007": 0.643}
# Targets of issue 16 (against the baseline commit, side by side in this run)
MEAN_GAIN_TARGET = 0.01
FIT_RATIO_TARGET = 1.5
MACRO_WINS_TARGET = 5
MACRO_MICRO_DROP = 0.05
COLUMNS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "lrap",
           "fit_seconds", "predict_seconds")
HEADERS = ("micro-F1", "macro-F1", "samples-F1", "subset acc", "Hamming ↓", "LRAP", "fit s",
           "predict s")
# (model, smallest label count that triggers the skip, why): measured or estimated on 2 cores.
SKIPS = (
    ("rf", 500, "a multi-output forest scores every split over all labels (tmc2007's 22 labels "
                "took 5 min; 983 labels: estimated hours, not measured)"),
    ("cc", 500, "983 chained logistic regressions over up to 1,483 features (estimated longer "
                "than br-lr's 2 min, not measured by default)"),
)
REFERENCES = {  # published points on the same splits (issue 5): (metric, value, source)
    "emotions": [("micro_f1", 0.677, "BOOMER"), ("hamming_loss", 0.2005, "BOOMER"),
                 ("subset_accuracy", 0.277, "BOOMER")],
    "yeast": [("hamming_loss", 0.200, "Tsoumakas & Katakis 2007")],
    "scene": [("hamming_loss", 0.100, "Tsoumakas & Katakis 2007")],
    "tmc2007": [("jaccard_samples", 0.530, "Read et al. 2009"),
                ("macro_f1", 0.561, "Read et al. 2009")],
    "delicious": [("jaccard_samples", 0.179, "Read et al. 2009"),
                  ("macro_f1", 0.154, "Read et al. 2009")],
}


# --------------------------------------------------------------------------- measuring
def load_pair(name: str) -> tuple[Any, Any]:
    from multitag.data import load

    folder, stem = DATASETS[name]
    base = DATA / folder
    return load(base / f"{stem}-train.arff"), load(base / f"{stem}-test.arff")


def skip_reason(model: str, n_labels: int, dataset: str = "") -> str | None:
    if model == "mlp-hamming" and not any(
            metric == "hamming_loss" for metric, _, _ in REFERENCES.get(dataset, [])):
        return "no published Hamming loss to compare with on this dataset"
    for name, min_labels, why in SKIPS:
        if model == name and n_labels >= min_labels:
            return why
    return None


def run_model(name: str, train: Any, test: Any, model: str, seeds: int,
              baseline_src: Path | None = None) -> list[dict[str, Any]]:
    """One metrics dict per seed (ours) or one (baselines, seed 0); `baseline_src`: the
    baseline commit's sources (mlp-before)."""
    from multitag.pipeline.compare import compare

    if model == "mlp-before":
        return [run_before(name, seed, baseline_src) for seed in range(seeds)]
    if model in OURS:
        return [run_ours(train, test, model, seed) for seed in range(seeds)]
    return [compare(train, test, [model], seed=0).metrics_json()[model]]


def run_before(name: str, seed: int, src: Path) -> dict[str, Any]:
    """`multitag train TRAIN --test TEST --seed SEED` of the baseline commit, in a child process
    (its `--metrics-json`: the same metric names, fit_seconds from its own clock)."""
    from _baseline import environment

    folder, stem = DATASETS[name]
    base = DATA / folder
    code = ("import sys, runpy, torch; sys.argv = ['multitag', *sys.argv[1:]]; "
            "runpy.run_module('multitag', run_name='__main__', alter_sys=True)")
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.json"
        subprocess.run([sys.executable, "-c", code, "train", str(base / f"{stem}-train.arff"),
                        "--test", str(base / f"{stem}-test.arff"), "--out",
                        str(Path(tmp) / "model"), "--metrics-json", str(metrics), "--seed",
                        str(seed), "--quiet"], env=environment(src),
                       check=True, capture_output=True)
        return {**json.loads(metrics.read_text()), "kept": "mlp"}


def run_ours(train: Any, test: Any, model: str, seed: int) -> dict[str, Any]:
    """`multitag train TRAIN --seed SEED` with the options of `OUR_OPTIONS[model]` and every
    other option at its default, then evaluated on the test file."""
    from multitag.options import TrainOptions
    from multitag.pipeline.evaluate import evaluate_model
    from multitag.pipeline.fit import train as train_model

    outcome = train_model(train, TrainOptions(**OUR_OPTIONS[model], seed=seed))
    metrics = evaluate_model(outcome.bundle, test).metrics_json(outcome.fit_seconds)
    return {**metrics, "kept": outcome.bundle.training["kept"]}


def run_dataset(name: str, models: list[str], seeds: int, no_skip: bool,
                store: dict[str, Any], save: Any = None, baseline_src: Path | None = None
                ) -> None:
    """Run every model on dataset `name` into `store`; `save()` after each model."""
    started = time.perf_counter()
    train, test = load_pair(name)
    entry = store.setdefault(name, {"models": {}, "skipped": {}})
    entry["planned"] = list(models)
    entry["shape"] = [train.n_samples, test.n_samples, train.n_features, train.n_labels,
                      bool(train.is_sparse)]
    print(f"\n== {name}: {train.n_samples} train, {test.n_samples} test, "
          f"{train.n_features} features, {train.n_labels} labels", flush=True)
    for model in models:
        reason = None if no_skip else skip_reason(model, train.n_labels, name)
        if reason:
            entry["skipped"][model] = reason
            entry["models"].pop(model, None)
            print(f"   skipped {model}: {reason}", flush=True)
            continue
        runs = run_model(name, train, test, model, seeds, baseline_src)
        entry["models"][model] = runs
        entry["skipped"].pop(model, None)
        if save is not None:
            save()
        micro = [r["micro_f1"] for r in runs]
        kept = sorted({r["kept"] for r in runs if "kept" in r})
        print(f"   {model:7s} micro-F1 {fmt(micro)}  fit {fmt([r['fit_seconds'] for r in runs], 1)}"
              f" s{'  kept ' + ','.join(kept) if model == 'auto' else ''}", flush=True)
    entry["seconds"] = time.perf_counter() - started


# --------------------------------------------------------------------------- rendering
def fmt(values: list[float | None], digits: int = 4) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def mean(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def dataset_table(name: str, entry: dict[str, Any]) -> str:
    models = entry["models"]
    best = {c: _best(models, c) for c in COLUMNS}
    rows = []
    for model, runs in models.items():
        cells = []
        for column in COLUMNS:
            digits = 2 if column.endswith("seconds") else 4
            text = fmt([r.get(column) for r in runs], digits)
            cells.append(f"**{text}**" if model == best[column] else text)
        rows.append([model, *cells])
    n_tr, n_te, n_f, n_l, sparse = entry["shape"]
    head = (f"**{name}** ({n_tr} train / {n_te} test rows, {n_f} "
            f"{'sparse' if sparse else 'dense'} features, {n_l} labels)")
    skipped = "".join(f"\n\nSkipped {m}: {why}." for m, why in entry["skipped"].items())
    missing = [m for m in entry.get("planned", []) if m not in models and m not in entry["skipped"]]
    if missing:
        skipped += f"\n\nNot measured (the run did not reach them in time): {', '.join(missing)}."
    return f"{head}\n\n{md_table(['model', *HEADERS], rows)}{skipped}"


def _best(models: dict[str, list[dict[str, Any]]], column: str) -> str | None:
    lower = column in ("hamming_loss",) or column.endswith("seconds")
    scored = [(mean(runs, column), m) for m, runs in models.items()]
    scored = [(v, m) for v, m in scored if v is not None]
    if not scored:
        return None
    return (min if lower else max)(scored)[1]


def summary_table(store: dict[str, Any]) -> str:
    """Per dataset: mlp and auto (mean ± std micro-F1) against the best baseline."""
    rows = []
    for name in [d for d in DATASETS if d in store]:
        models = store[name]["models"]
        base = [(mean(runs, "micro_f1"), m) for m, runs in models.items() if m not in OURS]
        base = [(v, m) for v, m in base if v is not None]
        if "mlp" not in models or not base:
            continue
        best_v, best_m = max(base)
        mlp = [r["micro_f1"] for r in models["mlp"]]
        diff = statistics.fmean(mlp) - best_v
        auto = [r["micro_f1"] for r in models.get("auto", [])]
        auto_diff = statistics.fmean(auto) - best_v if auto else None
        kept = sorted({r.get("kept", "?") for r in models.get("auto", [])})
        skipped = [m for m in store[name]["skipped"] if m not in OURS]
        missing = [m for m in store[name].get("planned", []) if m not in models
                   and m not in skipped and m not in OURS]
        best = f"{best_v:.4f} ({best_m})" + "".join(
            f"; {what}: {', '.join(ms)}" for what, ms in (("skipped", skipped),
                                                          ("not run", missing)) if ms)
        rows.append([
            name, fmt(mlp), best, f"{diff:+.4f}",
            "yes" if diff > 0 else ("within 1 pt" if diff >= -0.01 else "NO (>1 pt below)"),
            fmt([r["fit_seconds"] for r in models["mlp"]], 1),
            fmt(auto) if auto else "n/a",
            "n/a" if auto_diff is None else f"{auto_diff:+.4f}" + (
                "" if auto_diff >= -0.005 else " (>0.5 pt below)"),
            ",".join(kept) if auto else "",
            f"{BEST_OF_ALL[name]:.3f}", "yes" if statistics.fmean(mlp) >= BEST_OF_ALL[name]
            else "no",
        ])
    headers = ["dataset", "mlp micro-F1", "best baseline", "mlp - best", "mlp beats it",
               "mlp fit s", "auto micro-F1", "auto - best", "auto kept",
               "best of all tools", "mlp at or above"]
    return md_table(headers, rows, align="lrrrrrrrlrl")


def before_table(store: dict[str, Any]) -> str:
    """The default now against the default at the baseline commit: micro-F1, subset accuracy,
    Hamming loss and fit time, per dataset and on average, with issue 16's verdicts."""
    rows, gains = [], []
    for name in [d for d in DATASETS if d in store]:
        models = store[name]["models"]
        if "mlp" not in models or "mlp-before" not in models:
            continue
        now, before = models["mlp"], models["mlp-before"]
        gain = mean(now, "micro_f1") - mean(before, "micro_f1")
        gains.append(gain)
        ratio = mean(now, "fit_seconds") / mean(before, "fit_seconds")
        rows.append([name, fmt([r["micro_f1"] for r in before]),
                     fmt([r["micro_f1"] for r in now]), f"{gain:+.4f}",
                     f"{mean(before, 'subset_accuracy'):.4f} → {mean(now, 'subset_accuracy'):.4f}",
                     f"{mean(before, 'hamming_loss'):.4f} → {mean(now, 'hamming_loss'):.4f}",
                     f"{mean(before, 'fit_seconds'):.1f} → {mean(now, 'fit_seconds'):.1f}",
                     f"{ratio:.2f}x" + ("" if ratio <= FIT_RATIO_TARGET else " (over 1.5x)")])
    if not rows:
        return "(no mlp-before runs)"
    mean_before = statistics.fmean(mean(store[r[0]]["models"]["mlp-before"], "micro_f1")
                                   for r in rows)
    mean_gain = statistics.fmean(gains)
    rows.append(["**mean**", f"{mean_before:.4f}", f"{mean_before + mean_gain:.4f}",
                 f"**{mean_gain:+.4f}**", "", "", "", ""])
    table = md_table(["dataset", "micro-F1 before", "micro-F1 now", "gain", "subset acc",
                      "Hamming ↓", "fit s", "fit now/before"], rows, align="lrrrrrrr")
    return (f"{table}\n\nMean micro-F1 gain {mean_gain:+.4f} (target +{MEAN_GAIN_TARGET:.2f}): "
            f"{verdict(mean_gain >= MEAN_GAIN_TARGET)}.")


def macro_table(store: dict[str, Any]) -> str:
    """`--objective macro_f1` against the best baseline's macro-F1, and what it costs in
    micro-F1 against the default run."""
    rows, wins, drops_ok = [], 0, True
    for name in [d for d in DATASETS if d in store]:
        models = store[name]["models"]
        base = [(mean(runs, "macro_f1"), m) for m, runs in models.items() if m not in OURS]
        base = [(v, m) for v, m in base if v is not None]
        if "mlp-macro" not in models or "mlp" not in models or not base:
            continue
        best_v, best_m = max(base)
        macro = mean(models["mlp-macro"], "macro_f1")
        drop = mean(models["mlp"], "micro_f1") - mean(models["mlp-macro"], "micro_f1")
        wins += macro > best_v
        drops_ok &= drop <= MACRO_MICRO_DROP
        rows.append([name, fmt([r["macro_f1"] for r in models["mlp-macro"]]),
                     f"{best_v:.4f} ({best_m})", f"{macro - best_v:+.4f}",
                     "yes" if macro > best_v else "no",
                     fmt([r["micro_f1"] for r in models["mlp-macro"]]), f"{-drop:+.4f}"])
    if not rows:
        return "(no mlp-macro runs)"
    table = md_table(["dataset", "macro-F1 (--objective macro_f1)", "best baseline macro-F1",
                      "difference", "above", "its micro-F1", "micro-F1 vs default"], rows,
                     align="lrrrlrr")
    return (f"{table}\n\nAbove the best baseline on {wins} of {len(rows)} (target "
            f"{MACRO_WINS_TARGET}): {verdict(wins >= MACRO_WINS_TARGET)}; micro-F1 at most "
            f"{MACRO_MICRO_DROP * 100:.0f} points below the default run on every set: "
            f"{verdict(drops_ok)}.")


def references_table(store: dict[str, Any]) -> str:
    """Published points on the same splits next to ours (mean ± std over seeds)."""
    rows = []
    for name, points in REFERENCES.items():
        models = store.get(name, {}).get("models", {})
        for metric, value, source in points:
            ours = [fmt([r.get(metric) for r in models.get(m, [])])
                    for m in ("mlp", "auto", "mlp-hamming")]
            rows.append([name, metric, f"{value:.4g}", source, *ours])
    return md_table(["dataset", "metric", "published", "source", "mlp", "auto",
                     "mlp --objective hamming"], rows, align="llrlrrr")


def render(store: dict[str, Any], note: str = "") -> str:
    seeds = sorted({len(store[d]["models"].get("mlp", [])) for d in DATASETS if d in store})
    runs = "; ".join(f"`{c}` ({when})" for c, when in store.get("_runs", []))
    parts = [
        "## Mulan: the network against the scikit-learn baselines (`benchmarks/mulan.py`)",
        f"Rendered {machine_line()}. Runs: {runs}.",
        "Standard train/test splits, every model with its defaults (`multitag compare`, one BLAS "
        "thread); `mlp` = `multitag train` with its defaults (settings from the data's shape), "
        "`auto` = `multitag train --model auto`, mean ± std over "
        f"{'/'.join(map(str, seeds))} seed(s), fit time includes cross-fitting and threshold "
        "tuning; baselines seed 0. Predictions use each model's "
        "own rule (0.5 on probabilities, the SVM's sign, our tuned decision rule). "
        "Micro = pooled over labels, macro = mean over labels present in the test set, "
        "samples = mean over rows, zero_division = 0. Best per column in bold (Hamming and "
        "seconds: lowest).",
        "### Summary: micro-F1 of mlp and auto vs the best baseline",
        summary_table(store),
        "### The default now and at the start of the session (`mlp-before`: commit "
        f"`{store.get('_baseline', '?')}`, same command, same seeds, in this run)",
        before_table(store),
        "### `--objective macro_f1` against the best baseline's macro-F1",
        macro_table(store),
        "### Published reference points (Hamming loss: lower is better)",
        references_table(store),
        *([note] if note else []),
        *[dataset_table(name, store[name]) for name in DATASETS if name in store],
    ]
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- main
def load_results(paths: list[Path]) -> dict[str, Any]:
    """The first file's results, updated by the others in order (a later run of a model wins)."""
    store: dict[str, Any] = {}
    for index, path in enumerate(paths):
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        if index == 0:
            store = saved
            continue
        store.setdefault("_runs", []).extend(saved.pop("_runs", []))
        if "_baseline" in saved:
            store["_baseline"] = saved.pop("_baseline")
        for name, entry in saved.items():
            merge_entry(store.setdefault(name, {"models": {}, "skipped": {}}), entry)
    return store


def merge_entry(into: dict[str, Any], entry: dict[str, Any]) -> None:
    """Add one dataset's results from another run; its models replace the same models here."""
    for model, runs in entry["models"].items():
        into["models"][model] = runs
        into["skipped"].pop(model, None)
    for model, why in entry["skipped"].items():
        into["skipped"][model] = why
        into["models"].pop(model, None)
    into["planned"] = list(dict.fromkeys([*into.get("planned", []), *entry.get("planned", [])]))
    into["shape"] = entry["shape"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    p.add_argument("--seeds", type=int, default=3, help="seeds of mlp (mean ± std)")
    p.add_argument("--no-skip", action="store_true", help="also run the slow combinations")
    p.add_argument("--results", type=Path, action="append", default=[],
                   help="JSON results file: new results go to the first one; all are merged "
                        "for the tables (repeat the option to combine parallel runs)")
    p.add_argument("--render-only", action="store_true", help="only render --results")
    p.add_argument("--markdown", action="store_true", help="write the README.md section")
    p.add_argument("--note", default="", help="a paragraph printed under the summary")
    p.add_argument("--baseline", default=None, help="commit of mlp-before (default: "
                   "_baseline.BASELINE)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in DATASETS]
    if unknown or args.seeds < 1:
        print(f"unknown datasets {unknown} (valid: {', '.join(DATASETS)}) or --seeds < 1",
              file=sys.stderr)
        return 2
    store = load_results(args.results)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.render_only:
        from multitag.pipeline.compare import parse_models

        baselines = [m for m in models if m not in OURS]
        models = [*(parse_models(baselines) if baselines else []),
                  *[m for m in models if m in OURS]]
        command = "python benchmarks/mulan.py " + " ".join(
            argv if argv is not None else sys.argv[1:])
        store.setdefault("_runs", []).append([command, time.strftime("%H:%M UTC", time.gmtime())])
        def save() -> None:
            if args.results:
                args.results[0].write_text(json.dumps(store, indent=1))

        from _baseline import BASELINE, checkout

        commit = args.baseline or BASELINE
        if "mlp-before" in models:
            store["_baseline"] = commit
        with checkout(commit) if "mlp-before" in models else nullcontext() as src:
            for name in names:
                run_dataset(name, models, args.seeds, args.no_skip, store, save, src)
                save()
    text = render(store, args.note)
    print("\n" + text)
    if args.markdown:
        print(f"\nwrote {write_marked_section('mulan', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
