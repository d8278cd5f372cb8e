"""`multitag train`, `evaluate` and `predict`: a model directory in, out and applied."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import METRICS_JSON_OPTION, QUIET_OPTION, parse_int_list, write_json_atomic
from multitag.data.registry import ReaderOptions
from multitag.exceptions import ConfigError


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
    model: str = typer.Option("mlp", "--model", help="mlp; auto (the network, br-svm and "
                              "br-lr on the same held-out rows: keeps the best); br-svm; br-lr."),
    hidden: str = typer.Option("auto", help="Hidden layer widths, comma-separated ('auto': "
                               "from the data's shape; 'none': a linear model)."),
    epochs: str = typer.Option("auto", help="Most epochs (early stopping ends sooner)."),
    batch_size: str = typer.Option("auto", help="Batch size."),
    learning_rate: float = typer.Option(1e-3, help="AdamW learning rate."),
    weight_decay: float = typer.Option(1e-4, help="AdamW (decoupled) weight decay."),
    dropout: str = typer.Option("auto", help="Dropout after each hidden layer, in [0, 1)."),
    loss: str = typer.Option("auto", help="Loss: bce, focal or asymmetric ('auto': "
                             "asymmetric)."),
    pos_weight: str = typer.Option(None, "--pos-weight", help="BCE weight of positives: "
                                   "'auto' (negatives/positives per label, clipped), one "
                                   "number per label comma-separated, or a JSON file "
                                   "{label: weight} (other labels 1)."),
    loss_param: list[str] = typer.Option(None, "--loss-param", help="NAME=VALUE, repeatable: "
                                         "focal_gamma (focal), gamma_neg, gamma_pos, clip "
                                         "(asymmetric)."),
    ensemble: str = typer.Option("auto", help="Networks averaged, each validated on its own "
                                 "fold ('auto': 5 below 5,000 rows, else 1)."),
    early_stopping: str = typer.Option("auto", "--early-stopping", help="What early "
                                       "stopping watches: objective or loss."),
    patience: str = typer.Option("auto", help="Epochs without improvement before stopping "
                                 "('none': train every epoch)."),
    validation_split: float = typer.Option(0.1, help="Share of training rows for validation "
                                           "(single network)."),
    decision: str = typer.Option("auto", help="Decision rule: fixed, global, per_label, "
                                 "top_k, at_least_one (tuned on held-out rows; 'auto': "
                                 "global or per_label, whichever cross-validates better)."),
    objective: str = typer.Option("micro_f1", help="What tuning maximises: micro_f1, "
                                  "macro_f1, samples_f1, hamming."),
    seed: int = typer.Option(0, help="Seed of splits, weights and shuffling."),
    device: str = typer.Option("auto", help="auto (a CUDA GPU when torch sees one, else the "
                               "CPU), cpu, cuda, cuda:N or mps."),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="Run the network "
                                         "in bfloat16 (autocast); the loss stays float32."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run whose "
                                "checkpoint is in OUT/checkpoint (same data and options)."),
    checkpoint_every: int = typer.Option(1, help="Checkpoint every N epochs (0: never)."),
    checkpoint_minutes: float = typer.Option(None, help="Also checkpoint when this many "
                                             "minutes have passed since the last one."),
    stream: bool = typer.Option(False, "--stream", help="Read TRAIN in chunks every epoch "
                                "instead of loading it (files larger than memory)."),
    chunk_rows: int = typer.Option(10_000, "--chunk-rows", min=1,
                                   help="Rows a chunk with --stream."),
    metrics_json: Path = METRICS_JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    distributed: bool = typer.Option(False, "--distributed", help="Data-parallel training "
                                     "over the processes started by torchrun (README)."),
    dist_timeout: float = typer.Option(1800.0, "--dist-timeout", help="Seconds to wait for "
                                       "the other processes before failing (--distributed)."),
    reader: ReaderOptions = ro.READER,
) -> None:
    """Train a network on TRAIN and save it as a model directory."""
    from multitag.cli import checkpoints
    from multitag.data import load
    from multitag.pipeline.fit import TrainOptions, evaluate_model, train_model

    options = TrainOptions(
        model=model, hidden=_hidden(hidden), epochs=_auto_int(epochs, "--epochs"),
        batch_size=_auto_int(batch_size, "--batch-size"), learning_rate=learning_rate,
        weight_decay=weight_decay, dropout=_auto_float(dropout, "--dropout"), loss=loss,
        pos_weight=_pos_weight(pos_weight), loss_options=_loss_params(loss_param or []),
        ensemble=_auto_int(ensemble, "--ensemble"),
        early_stopping_monitor=early_stopping,
        early_stopping_patience=_auto_int(patience, "--patience", allow_none=True),
        validation_split=validation_split, decision=decision, objective=objective, seed=seed,
        device=device, mixed_precision=mixed_precision)
    if distributed:
        from multitag.cli import distributed_train as dt

        options = dt.check_options(options, stream, resume)
        dt.train_distributed(path, test, out, options, metrics_json, quiet, reader, dist_timeout)
        return
    checkpointer = checkpoints.prepare(out, options, resume, checkpoint_every,
                                       checkpoint_minutes)
    train_data = None if stream else load(path, reader)
    test_data = load(test, reader) if test is not None else None
    callbacks = [] if quiet else [_progress()]
    with checkpoints.guarded(checkpointer):
        if stream:
            outcome = _train_stream(path, reader, options, chunk_rows,
                                    [*callbacks, checkpointer], quiet)
        else:
            outcome = train_model(train_data, options, [*callbacks, checkpointer])
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
    from multitag.bundle.directory import ModelBundle
    from multitag.data import load
    from multitag.exceptions import errors_in
    from multitag.pipeline.fit import evaluate_model

    bundle = ModelBundle.load(model_dir)
    data = load(path, reader)
    with errors_in(path):  # e.g. the data lacks the model's features
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
    chunk_rows: int = typer.Option(10_000, "--chunk-rows", min=1, help="Rows read, predicted "
                                   "and written at a time (memory does not grow with INPUT)."),
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Predict label sets for the rows of INPUT with a saved model, chunk by chunk."""
    from multitag.bundle.directory import ModelBundle
    from multitag.cli.row_progress import RowProgress
    from multitag.data.chunks import ChunkedFile
    from multitag.pipeline.predict import override_rule, predict_chunks

    bundle = ModelBundle.load(model_dir)
    rule = override_rule(bundle.decision_rule, top_k=top_k, threshold=threshold)
    chunks = ChunkedFile(path, reader, chunk_rows, feature_names=bundle.feature_names,
                         with_labels=False)
    with RowProgress("predicting", lambda: chunks.n_rows, quiet) as progress:
        predict_chunks(bundle, chunks, output, rule=rule, with_proba=proba,
                       on_chunk=progress.advance)


def _train_stream(path, reader, options, chunk_rows, callbacks, quiet):
    from multitag.cli.row_progress import RowProgress
    from multitag.pipeline.streaming import StreamSettings, train_stream

    with RowProgress("first pass", lambda: None, quiet) as progress:
        return train_stream(path, reader, options, StreamSettings(chunk_rows=chunk_rows),
                            callbacks, on_chunk=progress.advance, on_pass_end=progress.close)


def _hidden(text: str) -> tuple[int, ...] | str:
    if text.strip().lower() in ("auto", "none"):
        return "auto" if text.strip().lower() == "auto" else ()
    return parse_int_list(text, "--hidden")


def _auto_int(text: str, option: str, allow_none: bool = False) -> int | str | None:
    value = text.strip().lower()
    if value == "auto" or (allow_none and value == "none"):
        return None if value == "none" else "auto"
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"`{option}` must be a positive integer or 'auto'"
                          f"{' or none' if allow_none else ''}; got {text!r}")
    return int(value)


def _auto_float(text: str, option: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"`{option}` must be a number or 'auto'; got {text!r}") from err


def _pos_weight(text: str | None) -> str | tuple[float, ...] | dict[str, float] | None:
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    if text.strip().lower().endswith(".json"):
        return _weights_file(Path(text))
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError as err:
        raise ConfigError("`--pos-weight` must be 'auto' or numbers separated by commas; got "
                          f"{text!r}") from err


def _weights_file(path: Path) -> dict[str, float]:
    import json
    import math

    try:
        weights = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: `--pos-weight` needs a readable JSON file ({err})") from err
    if not isinstance(weights, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v > 0 for v in weights.values()):
        raise ConfigError(f"{path}: `--pos-weight` expects a JSON object mapping label names "
                          "to positive numbers")
    return {str(k): float(v) for k, v in weights.items()}


def _loss_params(items: list[str]) -> tuple[tuple[str, float], ...]:
    params = []
    for item in items:
        name, _, value = item.partition("=")
        try:
            params.append((name.strip(), float(value)))
        except ValueError as err:
            raise ConfigError(f"`--loss-param` must be NAME=NUMBER; got {item!r}") from err
    return tuple(params)


def _progress():
    from multitag.cli.progress import ProgressCallback

    return ProgressCallback(label="training")


def _render_metrics(report, title: str, per_label: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from multitag.metrics.evaluation import report_rows

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
