"""`multitag evaluate MODEL_DIR DATA`: every metric of a saved model, with a per-label table."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import METRICS_JSON_OPTION, check_outputs, write_json_atomic
from multitag.cli.rendering import render_metrics
from multitag.data.registry import ReaderOptions

MODEL_DIR_ARGUMENT = typer.Argument(..., help="Model directory written by `multitag train`.")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


@ro.with_reader_options
def evaluate(
    model_dir: Path = MODEL_DIR_ARGUMENT,
    path: Path = ro.DATA_ARGUMENT,
    metrics_json: Path = METRICS_JSON_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Every metric of a saved model on labelled DATA, with a per-label table."""
    from multitag.bundle.directory import ModelBundle
    from multitag.exceptions import errors_in
    from multitag.pipeline.evaluate import evaluate_model
    from multitag.pipeline.holdout import read_labelled

    check_outputs({"--metrics-json": metrics_json}, data=[path], reader=reader,
                  models=[model_dir])
    bundle = ModelBundle.load(model_dir)
    data = read_labelled(path, reader, bundle.label_names)
    with errors_in(path):  # e.g. the data lacks the model's features
        evaluation = evaluate_model(bundle, data)
    if metrics_json is not None:
        write_json_atomic(metrics_json, evaluation.metrics_json())
    render_metrics(evaluation.report, f"{path.name}: {data.n_samples:,} rows", per_label=True)
