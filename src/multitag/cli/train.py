"""`multitag train`, `evaluate` and `predict`: a model directory in, out and applied."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import METRICS_JSON_OPTION, QUIET_OPTION, parse_int_list, write_json_atomic
from multitag.data.registry import ReaderOptions


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)


@ro.with_reader_options
def train(
    path: Path = ro.DATA_ARGUMENT,
    test: Path = typer.Option(None, "--test", help="Held-out test file: its metrics are "
                              "reported and written to --metrics-json.", dir_okay=False,
                              exists=True),
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    model: str = typer.Option("mlp", "--model", help="Model to train (mlp)."),
    hidden: str = typer.Option("256", help="Hidden layer widths, comma-separated."),
    epochs: int = typer.Option(100, help="Most epochs (early stopping on validation loss)."),
    batch_size: int = typer.Option(64, help="Batch size."),
    learning_rate: float = typer.Option(1e-3, help="AdamW learning rate."),
    dropout: float = typer.Option(0.2, help="Dropout after each hidden layer."),
    validation_split: float = typer.Option(0.1, help="Share of training rows for validation."),
    decision: str = typer.Option("global", help="Decision rule: fixed, global, per_label, "
                                 "top_k, at_least_one (tuned on validation data)."),
    objective: str = typer.Option("micro_f1", help="What tuning maximises: micro_f1, "
                                  "macro_f1, samples_f1, hamming."),
    seed: int = typer.Option(0, help="Seed of splits, weights and shuffling."),
    metrics_json: Path = METRICS_JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Train a network on TRAIN and save it as a model directory."""
    from multitag.data import load
    from multitag.workflow import TrainOptions, evaluate_model, train_model

    options = TrainOptions(
        model=model, hidden=parse_int_list(hidden, "--hidden"), epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, dropout=dropout,
        validation_split=validation_split, decision=decision, objective=objective, seed=seed)
    train_data = load(path, reader)
    test_data = load(test, reader) if test is not None else None
    callbacks = [] if quiet else [_progress()]
    outcome = train_model(train_data, options, callbacks)
    for notice in outcome.notices:
        typer.echo(f"notice: {notice}", err=True)
    payload = {"fit_seconds": outcome.fit_seconds}
    if test_data is not None:
        evaluation = evaluate_model(outcome.bundle, test_data)
        payload = evaluation.metrics_json(outcome.fit_seconds)
        outcome.bundle.metrics = {"test": payload}
        _render_metrics(evaluation.report, f"Test set {test.name}: {test_data.n_samples:,} rows")
    outcome.bundle.save(out)
    if metrics_json is not None:
        write_json_atomic(metrics_json, payload)
    typer.echo(f"model saved to {out} (trained in {outcome.fit_seconds:.1f} s, "
               f"{outcome.threads} thread(s))", err=quiet is False)


@ro.with_reader_options
def evaluate(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    path: Path = ro.DATA_ARGUMENT,
    metrics_json: Path = METRICS_JSON_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Every metric of a saved model on labelled DATA, with a per-label table."""
    from multitag.bundle import ModelBundle
    from multitag.data import load
    from multitag.workflow import evaluate_model

    bundle = ModelBundle.load(model_dir)
    data = load(path, reader)
    evaluation = evaluate_model(bundle, data)
    if metrics_json is not None:
        write_json_atomic(metrics_json, evaluation.metrics_json())
    _render_metrics(evaluation.report, f"{path.name}: {data.n_samples:,} rows", per_label=True)


@ro.with_reader_options
def predict(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    path: Path = ro.DATA_ARGUMENT,
    output: Path = typer.Option(None, "--output", "-o", help="CSV or JSONL file (by its "
                                "extension); default: CSV on standard output."),
    top_k: int = typer.Option(None, "--top-k", help="Predict the K most probable labels."),
    threshold: float = typer.Option(None, "--threshold", help="One threshold for all labels."),
    proba: bool = typer.Option(False, "--proba", help="Also write every label's probability."),
    reader: ReaderOptions = ro.READER,
) -> None:
    """Predict label sets for the rows of INPUT with a saved model."""
    from multitag.bundle import ModelBundle
    from multitag.data import load
    from multitag.prediction import override_rule, write_predictions

    bundle = ModelBundle.load(model_dir)
    rule = override_rule(bundle.decision_rule, top_k=top_k, threshold=threshold)
    data = load(path, reader)
    probabilities = bundle.predict_proba(data)
    write_predictions(output, bundle.label_names, probabilities, rule.predict(probabilities),
                      with_proba=proba)


def _progress():
    from multitag.cli.progress import ProgressCallback

    return ProgressCallback(label="training")


def _render_metrics(report, title: str, per_label: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from multitag.metrics import report_rows

    console = Console(highlight=False)
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report_rows(report):
        table.add_row(name, "n/a" if value is None else f"{value:.4f}")
    console.print(table)
    if per_label:
        _render_per_label(console, report)
    for line in report.conventions:
        console.print(f"- {line}", style="dim")


def _render_per_label(console, report) -> None:
    from rich.table import Table

    table = Table(title="Per label", title_justify="left")
    for column in ("label", "support", "precision", "recall", "F1", "AUC", "threshold"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in report.per_label:
        values = (row.precision, row.recall, row.f1, row.auc, row.threshold)
        table.add_row(row.name, str(row.support),
                      *("n/a" if v is None else f"{v:.3f}" for v in values))
    console.print(table)
