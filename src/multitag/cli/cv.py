"""`multitag cv DATA --folds K`: cross-validated scores when there is no test file."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import (
    METRICS_JSON_OPTION,
    QUIET_OPTION,
    check_outputs,
    write_json_atomic,
)
from multitag.cli.compare import SEED_OPTION, render_compare, table_columns
from multitag.cli.progress import StepProgress
from multitag.cli.rendering import console as make_console
from multitag.data.registry import ReaderOptions

CV_COLUMNS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss",
              "fit_seconds")


def register(app: typer.Typer) -> None:
    app.command("cv")(cv_command)


@ro.with_reader_options
def cv_command(
    path: Path = ro.DATA_ARGUMENT,
    folds: int = typer.Option(5, "--folds", help="Label-stratified folds: each is the test set "
                              "once, the others train (2 to the number of rows)."),
    models: str = typer.Option("mlp,br-lr,br-svm", "--models",
                               help="Comma-separated model names, as for `multitag compare`."),
    columns: str = typer.Option(",".join(CV_COLUMNS), "--columns",
                                help="Metrics shown in the table (JSON always has all)."),
    metrics_json: Path = METRICS_JSON_OPTION,
    seed: int = SEED_OPTION,
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Cross-validate the network and the baselines on DATA: every metric, mean ± std."""
    from multitag.data import load
    from multitag.pipeline.compare import parse_models
    from multitag.pipeline.cv import check_folds, cross_validate

    names = parse_models(models)
    shown = table_columns(columns)
    check_folds(folds)
    check_outputs({"--metrics-json": metrics_json}, data=[path], reader=reader)
    data = load(path, reader)
    check_folds(folds, data.n_samples)
    with StepProgress(quiet, folds * len(names)) as progress:
        result = cross_validate(data, names, folds=folds, seed=seed, progress=progress)
    if metrics_json is not None:
        write_json_atomic(metrics_json, result.metrics_json())
    render_compare(result, shown, make_console())
