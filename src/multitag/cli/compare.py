"""`multitag compare` and `multitag curve`: the network beside the baselines; bias vs variance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import METRICS_JSON_OPTION, QUIET_OPTION, write_json_atomic
from multitag.data.registry import ReaderOptions

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from multitag.data import Dataset
    from multitag.pipeline.compare import CompareResult, CurveResult, Step

SHORT = {"micro_f1": "micro-F1", "macro_f1": "macro-F1", "samples_f1": "samples-F1",
         "subset_accuracy": "subset acc", "hamming_loss": "Hamming", "roc_auc_macro": "AUC macro",
         "precision_at_1": "P@1", "fit_seconds": "fit s", "predict_seconds": "predict s"}
TABLE_COLUMNS = (
    "micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "roc_auc_macro",
    "lrap", "precision_at_1", "fit_seconds", "predict_seconds",
)
TEST_OPTION = typer.Option(..., "--test", help="Test data file (same format and labels).",
                           exists=True, dir_okay=False, readable=True)
SEED_OPTION = typer.Option(0, "--seed", help="Seed of every model (and of curve subsets).")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
    app.command("curve")(curve_command)


@ro.with_reader_options
def compare_command(
    train: Path = ro.DATA_ARGUMENT,
    test: Path = TEST_OPTION,
    models: str = typer.Option("mlp,br-lr,br-svm,cc,rf,knn,mlknn", "--models",
                               help="Comma-separated model names (also sk-mlp)."),
    columns: str = typer.Option(",".join(TABLE_COLUMNS), "--columns",
                                help="Metrics shown in the table (JSON always has all)."),
    metrics_json: Path = METRICS_JSON_OPTION,
    seed: int = SEED_OPTION,
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Train the network and the baselines on TRAIN, score all on --test, best marked."""
    from multitag.pipeline.compare import compare, parse_models

    names = parse_models(models)
    shown = _table_columns(columns)
    train_data, test_data = _load_pair(train, test, reader)
    with _progress(quiet, len(names)) as progress:
        result = compare(train_data, test_data, names, seed=seed, progress=progress)
    if metrics_json is not None:
        write_json_atomic(metrics_json, result.metrics_json())
    render_compare(result, shown, _console())


@ro.with_reader_options
def curve_command(
    train: Path = ro.DATA_ARGUMENT,
    test: Path = TEST_OPTION,
    out: Path = typer.Option(None, "--out", help="Write learning_curve.png and .json here.",
                             file_okay=False),
    models: str = typer.Option("mlp,br-svm", "--models", help="Comma-separated model names."),
    metric: str = typer.Option("micro_f1", "--metric", help="Score on the curves."),
    fractions: str = typer.Option("0.1,0.25,0.5,0.75,1.0", "--fractions",
                                  help="Shares of the training data, comma-separated."),
    seed: int = SEED_OPTION,
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Learning curves (training share vs train and test score): high bias or high variance?"""
    from multitag.pipeline.compare import (
        curve_metric,
        diagnose,
        learning_curve,
        parse_models,
        plot_curve,
    )

    names, metric = parse_models(models), curve_metric(metric)
    shares = _parse_fractions(fractions)
    train_data, test_data = _load_pair(train, test, reader)
    with _progress(quiet, len(names) * len(shares)) as progress:
        curve = learning_curve(train_data, test_data, names, shares, metric, seed=seed,
                               progress=progress)
    console = _console()
    render_curve(curve, console)
    console.print(diagnose(curve))
    if out is not None:
        png = plot_curve(curve, out / "learning_curve.png")
        write_json_atomic(out / "learning_curve.json",
                          {**curve.as_dict(), "diagnosis": diagnose(curve)})
        console.print(f"wrote {png} and {out / 'learning_curve.json'}", highlight=False)


# --------------------------------------------------------------------------- helpers
def _load_pair(train: Path, test: Path, options: ReaderOptions) -> tuple[Dataset, Dataset]:
    from multitag.data import load

    return load(train, options), load(test, options)


def _table_columns(spec: str) -> list[str]:
    from multitag.metrics.evaluation import parse_metric_name
    from multitag.pipeline.compare import TIME_COLUMNS

    items = [c.strip() for c in spec.split(",") if c.strip()]
    return [c if c in TIME_COLUMNS else parse_metric_name(c) for c in items]


def _parse_fractions(spec: str) -> list[float]:
    from multitag.exceptions import ConfigError

    try:
        values = [float(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or any(not 0 < v <= 1 for v in values):
        raise ConfigError(f"`--fractions` must be numbers in (0, 1] like 0.1,0.5,1; got {spec!r}")
    return values


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


class _progress:
    """A transient rich progress bar on stderr fed by compare's callback (nothing if quiet)."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total, self._bar, self._task = quiet, total, None, None

    def __enter__(self) -> Callable[[Step], None] | None:
        if self.quiet:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(),
                             console=_console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("starting", total=self.total)
        return self._update

    def _update(self, step: Step) -> None:
        if step.stage == "done":
            self._bar.update(self._task, advance=1)
            self._bar.console.print(f"  {step.model}: {step.detail}")
        else:
            self._bar.update(self._task, description=f"{step.stage} {step.model}")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def render_compare(result: CompareResult, columns: list[str], console: Console) -> None:
    """The comparison table; the best value of each column is bold and starred."""
    from rich.table import Table

    best = result.best_per_column(columns)
    table = Table(title=f"{result.dataset or 'comparison'}: {result.n_train} training rows, "
                        f"{result.n_test} test rows, {result.n_labels} labels")
    table.add_column("model")
    for column in columns:
        header = SHORT.get(column, column) + (" ↓" if _lower(column) else " ↑")
        table.add_column(header, justify="right")
    for row in result.rows:
        cells = [_cell(row.value(c), row.model in best[c], c) for c in columns]
        table.add_row(row.model, *cells)
    console.print(table)
    for notice in result.notices:
        console.print(f"notice: {notice}")
    console.print("* best in its column (↑ higher is better, ↓ lower is better). Metrics on the "
                  "test set; predictions use each model's own rule (0.5 on probabilities, the "
                  "SVM's sign, the network's threshold); micro = pooled over labels, macro = "
                  "mean over labels present in the test set, samples = mean over rows; "
                  "zero_division = 0.")


def _lower(column: str) -> bool:
    from multitag.pipeline.compare import lower_is_better

    return lower_is_better(column)


def _cell(value: float | None, best: bool, column: str) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.2f}" if column.endswith("_seconds") else f"{value:.4f}"
    return f"[bold green]*{text}[/]" if best else text


def render_curve(curve: CurveResult, console: Console) -> None:
    """One table: model, share, rows, training score, test score, gap."""
    from rich.table import Table

    table = Table(title=f"Learning curves ({curve.metric}, test rows {curve.n_test})")
    for name in ("model", "share", "rows", "train", "test", "train - test"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for p in curve.points:
        gap = None if None in (p.train_score, p.test_score) else p.train_score - p.test_score
        table.add_row(p.model, f"{p.fraction:.2f}", str(p.n_train), _num(p.train_score),
                      _num(p.test_score), _num(gap))
    console.print(table)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
