"""`multitag report MODEL_DIR DATA --out DIR`: plots, Markdown and self-contained HTML."""

from __future__ import annotations

from pathlib import Path

import typer

from multitag.cli import reader_options as ro


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    path: Path = ro.DATA_ARGUMENT,
    out: Path = typer.Option(..., "--out", help="Report directory to write (a previous report "
                             "there is replaced once the new one is complete)."),
    title: str = typer.Option(None, "--title", help="Report title (default: from DATA)."),
    fmt: str = ro.FORMAT_OPTION, labels_xml: Path = ro.LABELS_XML_OPTION,
    label_columns: str = ro.LABEL_COLUMNS_OPTION, label_prefix: str = ro.LABEL_PREFIX_OPTION,
    tags_column: str = ro.TAGS_COLUMN_OPTION, tag_sep: str = ro.TAG_SEP_OPTION,
    text_column: str = ro.TEXT_COLUMN_OPTION,
) -> None:
    """Evaluate a saved model on labelled DATA and write plots, report.md and report.html."""
    from multitag.bundle import ModelBundle
    from multitag.data import load
    from multitag.report import build_report

    bundle = ModelBundle.load(model_dir)
    data = load(path, ro.reader_options(fmt, labels_xml, label_columns, label_prefix,
                                        tags_column, tag_sep, text_column))
    result = build_report(bundle, data, out, title=title)
    for written in result.paths:
        typer.echo(str(written))
