"""`multitag demo`: the classic Keras multi-label example, end to end."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli.common import METRICS_JSON_OPTION, QUIET_OPTION, write_json_atomic
from multitag.cli.options import TRAIN_OPTIONS, with_train_options
from multitag.demo.classic import CLASSIC

# The training flags of the demo (the rest of its training is the original program's).
DEMO_OPTIONS = ("epochs", "batch_size", "hidden", "learning_rate", "validation_split", "seed")

LABEL_ACCURACY_NOTE = (
    "label accuracy = 1 - Hamming loss: the share of all (row, label) decisions that are right. "
    "Keras 2 printed this as \"accuracy\" for this setup (Keras 3 prints a different, categorical "
    "accuracy). Subset accuracy counts a row right only when every label is right."
)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


@with_train_options(DEMO_OPTIONS, CLASSIC, overrides=True)
def demo(
    preset: str = typer.Option("default", help="default (the original recipe) or tuned."),
    samples: int = typer.Option(None, help="Rows to generate [10000]."),
    features: int = typer.Option(None, help="Features [6]."),
    classes: int = typer.Option(None, help="Labels (classes) [3]."),
    labels: int = typer.Option(None, help="Average labels per row [2]."),
    out: Path = typer.Option(None, help="Also write metrics.json and history.json here."),
    metrics_json: Path = METRICS_JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    options: dict = TRAIN_OPTIONS,
) -> None:
    """Run the classic example: synthetic data, Dense 32-16-8 network, honest metrics."""
    from multitag.demo.classic import demo_config, run_demo

    config = demo_config(preset, samples=samples, features=features, classes=classes,
                         labels=labels, **options)
    callbacks = []
    if not quiet:
        from multitag.cli.progress import ProgressCallback

        _describe(config)
        callbacks.append(ProgressCallback(label="training"))
    result = run_demo(config, callbacks)
    if metrics_json is not None:
        write_json_atomic(metrics_json, result.metrics_json())
    if out is not None:
        write_json_atomic(out / "metrics.json", result.metrics_json())
        write_json_atomic(out / "history.json", {"history": result.history})
    _render(result, quiet)


def _describe(config) -> None:
    options = config.options
    layers = " -> ".join(str(n) for n in (config.features, *options.hidden, config.classes))
    typer.echo(
        f"multitag demo (preset {config.preset}, seed {options.seed}): "
        f"{config.samples:,} rows x {config.features} features, {config.classes} labels\n"
        f"network {layers} (sigmoid), BCE, {options.optimizer} lr {options.learning_rate:g}, "
        f"batch {options.batch_size}, up to {options.epochs} epochs, validation = last "
        f"{options.validation_split:.0%} of training rows",
        err=True,
    )


def _render(result, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    metrics, bayes = result.metrics, result.bayes or {}
    table = Table(title=f"Test set: {result.n_test:,} rows (trained on {result.n_train:,}, "
                        f"validated on {result.n_valid:,})", title_justify="left")
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("Bayes-optimal", justify="right")
    table.add_column("gap", justify="right")
    rows = [("loss (BCE)", "loss", -1), ("label accuracy", "label_accuracy", 1),
            ("subset accuracy (exact match)", "subset_accuracy", 1),
            ("micro F1", "micro_f1", 0), ("macro F1", "macro_f1", 0),
            ("Hamming loss", "hamming_loss", 0)]
    for title, key, sign in rows:
        ref = bayes.get(key)
        gap = "" if ref is None or sign == 0 else f"{(ref - metrics[key]) * sign:.4f}"
        table.add_row(title, _fmt(metrics[key]), "" if ref is None else _fmt(ref), gap)
    console = Console(highlight=False)
    console.print(table)
    console.print(LABEL_ACCURACY_NOTE, style="dim")
    if result.bayes_skipped_reason:
        console.print(result.bayes_skipped_reason)
    if not quiet:
        console.print(f"fit {metrics['fit_seconds']:.2f} s, predict "
                      f"{metrics['predict_seconds'] * 1000:.1f} ms")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
