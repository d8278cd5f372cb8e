"""`multitag curve TRAIN --test TEST`: learning curves (bias vs variance), table and PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import (
    ALL_ROWS_OPTION,
    QUIET_OPTION,
    TEST_OPTION,
    TEST_SIZE_OPTION,
    check_outputs,
    write_json_atomic,
)
from multitag.cli.compare import SEED_OPTION
from multitag.cli.progress import StepProgress
from multitag.cli.rendering import console as make_console
from multitag.cli.rendering import notice
from multitag.data.registry import ReaderOptions

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from multitag.pipeline.curve import CurveResult


def register(app: typer.Typer) -> None:
    app.command("curve")(curve_command)


@ro.with_reader_options
def curve_command(
    train: Path = ro.DATA_ARGUMENT,
    test: Path = TEST_OPTION,
    test_size: float = TEST_SIZE_OPTION,
    all_rows: bool = ALL_ROWS_OPTION,
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
    from multitag.pipeline.compare import parse_models
    from multitag.pipeline.curve import curve_metric, diagnose, learning_curve
    from multitag.pipeline.holdout import read_pair
    from multitag.report.curves import plot_curve

    if out is not None:  # before any work: the picture needs matplotlib
        from multitag.exceptions import require_extra

        require_extra("plots", "`multitag curve --out`")
        for name in ("learning_curve.png", "learning_curve.json"):
            check_outputs({"--out": out / name}, data=[train, test], reader=reader)
    names, metric = parse_models(models), curve_metric(metric)
    shares = _parse_fractions(fractions)
    split = read_pair(train, reader, test=test, test_size=test_size, all_rows=all_rows,
                      seed=seed)
    for text in split.notices:
        notice(text)
    train_data, test_data = split.train, split.test
    with StepProgress(quiet, len(names) * len(shares)) as progress:
        curve = learning_curve(train_data, test_data, names, shares, metric, seed=seed,
                               progress=progress)
    console = make_console()
    render_curve(curve, console)
    console.print(diagnose(curve))
    if out is not None:
        png = plot_curve(curve, out / "learning_curve.png")
        write_json_atomic(out / "learning_curve.json",
                          {**curve.as_dict(), "diagnosis": diagnose(curve)})
        console.print(f"wrote {png} and {out / 'learning_curve.json'}", highlight=False)


def _parse_fractions(spec: str) -> list[float]:
    from multitag.exceptions import ConfigError

    try:
        values = [float(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or any(not 0 < v <= 1 for v in values):
        raise ConfigError(f"`--fractions` must be numbers in (0, 1] like 0.1,0.5,1; got {spec!r}")
    return values


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
