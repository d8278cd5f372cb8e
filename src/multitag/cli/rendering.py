"""What the commands print: metric tables, notices, a console that never wraps mid-number."""

from __future__ import annotations

from typing import Any

import typer

PIPED_WIDTH = 200


def console(stderr: bool = False) -> Any:
    """A rich console; piped or captured output gets a wide fixed width, so lines and tables
    are not wrapped at 80 columns in the middle of a number."""
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out = Console(stderr=stderr, highlight=False, width=PIPED_WIDTH, soft_wrap=True)
    return out


def notice(text: str) -> None:
    """One notice line on stderr, never wrapped."""
    typer.echo(f"notice: {text}", err=True)


def render_metrics(report: Any, title: str, per_label: bool = False) -> None:
    """Every metric of `report` in a table, optionally the per-label table, then the
    conventions."""
    from rich.table import Table

    from multitag.metrics.evaluation import report_rows

    out = console()
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report_rows(report):
        table.add_row(name, "n/a" if value is None else f"{value:.4f}")
    out.print(table)
    if per_label:
        render_per_label(out, report)
    for line in report.conventions:
        out.print(f"- {line}", style="dim")


def render_per_label(out: Any, report: Any) -> None:
    from rich.table import Table

    table = Table(title="Per label", title_justify="left")
    for column in ("label", "support", "precision", "recall", "F1", "AUC", "threshold"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in report.per_label:
        values = (row.precision, row.recall, row.f1, row.auc, row.threshold)
        table.add_row(row.name, str(row.support),
                      *("n/a" if v is None else f"{v:.3f}" for v in values))
    out.print(table)
