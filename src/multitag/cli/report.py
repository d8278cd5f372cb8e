"""`multitag report MODEL_DIR DATA --out DIR`: plots, Markdown and self-contained HTML."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.data.registry import ReaderOptions


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@ro.with_reader_options
def report(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    path: Path = ro.DATA_ARGUMENT,
    out: Path = typer.Option(..., "--out", help="Report directory to write (a previous report "
                             "there is replaced once the new one is complete)."),
    title: str = typer.Option(None, "--title", help="Report title (default: from DATA)."),
    reader: ReaderOptions = ro.READER,
) -> None:
    """Evaluate a saved model on labelled DATA and write plots, report.md and report.html."""
    from multitag.bundle.directory import ModelBundle
    from multitag.cli.common import check_outputs
    from multitag.exceptions import require_extra
    from multitag.pipeline.holdout import read_labelled

    require_extra("plots", "`multitag report`")
    from multitag.report import build_report

    check_outputs(directories={"--out": out}, data=[path], reader=reader, models=[model_dir])
    bundle = ModelBundle.load(model_dir)
    data = read_labelled(path, reader, bundle.label_names)
    result = build_report(bundle, data, out, title=title)
    for written in result.paths:
        typer.echo(str(written))
