"""`multitag compare` and `multitag curve`: the network beside the baselines; bias vs variance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import (
    ALL_ROWS_OPTION,
    METRICS_JSON_OPTION,
    QUIET_OPTION,
    TEST_OPTION,
    TEST_SIZE_OPTION,
    check_outputs,
    write_json_atomic,
)
from multitag.cli.progress import StepProgress
from multitag.cli.rendering import console as make_console
from multitag.cli.rendering import notice
from multitag.data.registry import ReaderOptions

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

SHORT = {"micro_f1": "micro-F1", "macro_f1": "macro-F1", "samples_f1": "samples-F1",
         "subset_accuracy": "subset acc", "hamming_loss": "Hamming", "roc_auc_macro": "AUC macro",
         "precision_at_1": "P@1", "fit_seconds": "fit s", "predict_seconds": "predict s"}
TABLE_COLUMNS = (
    "micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "roc_auc_macro",
    "lrap", "precision_at_1", "fit_seconds", "predict_seconds",
)
SEED_OPTION = typer.Option(0, "--seed", help="Seed of every model (and of curve subsets).")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)


@ro.with_reader_options
def compare_command(
    train: Path = ro.DATA_ARGUMENT,
    test: Path = TEST_OPTION,
    test_size: float = TEST_SIZE_OPTION,
    all_rows: bool = ALL_ROWS_OPTION,
    models: str = typer.Option("mlp,br-lr,br-svm,cc,rf,knn,mlknn", "--models",
                               help="Comma-separated model names: mlp (what `multitag train` "
                               "saves), auto (`train --model auto`), mlp-classic (one network, "
                               "threshold 0.5), br-lr, br-svm, cc, rf, knn, mlknn, sk-mlp."),
    columns: str = typer.Option(",".join(TABLE_COLUMNS), "--columns",
                                help="Metrics shown in the table (JSON always has all)."),
    metrics_json: Path = METRICS_JSON_OPTION,
    seed: int = SEED_OPTION,
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Train the network and the baselines on TRAIN, score all on --test, best marked."""
    from multitag.pipeline.compare import compare, parse_models
    from multitag.pipeline.holdout import read_pair

    names = parse_models(models)
    shown = table_columns(columns)
    check_outputs({"--metrics-json": metrics_json}, data=[train, test], reader=reader)
    split = read_pair(train, reader, test=test, test_size=test_size, all_rows=all_rows,
                      seed=seed)
    for text in split.notices:
        notice(text)
    train_data, test_data = split.train, split.test
    with StepProgress(quiet, len(names)) as progress:
        result = compare(train_data, test_data, names, seed=seed, progress=progress)
    if metrics_json is not None:
        write_json_atomic(metrics_json, result.metrics_json())
    render_compare(result, shown, make_console())


# --------------------------------------------------------------------------- helpers
def table_columns(spec: str) -> list[str]:
    from multitag.metrics.names import parse_metric_name
    from multitag.pipeline.compare import TIME_COLUMNS

    items = [c.strip() for c in spec.split(",") if c.strip()]
    return [c if c in TIME_COLUMNS else parse_metric_name(c) for c in items]


def render_compare(result: Any, columns: list[str], console: Console) -> None:
    """The comparison table (a compare or a cross-validation result); the best value of each
    column is bold and starred; cross-validated cells read mean ± std over the folds."""
    from rich.table import Table

    best = result.best_per_column(columns)
    table = Table(title=_title(result))
    table.add_column("model")
    table.add_column("decision rule")
    for column in columns:
        header = SHORT.get(column, column) + (" ↓" if _lower(column) else " ↑")
        table.add_column(header, justify="right")
    for row in result.rows:
        cells = [_cell(row.value(c), row.model in best[c], c,
                       row.spread(c) if hasattr(row, "spread") else None) for c in columns]
        table.add_row(row.model, row.decision_rule, *cells)
    console.print(table)
    for text in result.notices:
        console.print(f"notice: {text}")
    console.print("* best in its column (↑ higher is better, ↓ lower is better). Metrics on the "
                  "test rows; each row predicts with the decision rule shown (the network rows "
                  "tune theirs on held-out training rows, as `multitag train`; the baselines "
                  "keep their own); micro = pooled over labels, macro = mean over labels "
                  "present in the test set, samples = mean over rows; zero_division = 0.")


def _title(result: Any) -> str:
    if hasattr(result, "n_folds"):
        return (f"{result.dataset or 'cross-validation'}: {result.n_rows} rows in "
                f"{result.n_folds} label-stratified folds, {result.n_labels} labels "
                "(mean ± std over the folds)")
    return (f"{result.dataset or 'comparison'}: {result.n_train} training rows, "
            f"{result.n_test} test rows, {result.n_labels} labels")


def _lower(column: str) -> bool:
    from multitag.pipeline.compare import lower_is_better

    return lower_is_better(column)


def _cell(value: float | None, best: bool, column: str, spread: float | None = None) -> str:
    if value is None:
        return "n/a"
    digits = 2 if column.endswith("_seconds") else 4
    text = f"{value:.{digits}f}" + (f" ± {spread:.{digits}f}" if spread is not None else "")
    return f"[bold green]*{text}[/]" if best else text
