"""`build_report`: evaluate a saved model on labelled data and write plots, Markdown and HTML.

Everything is written into a temporary directory beside `out_dir` and renamed into place only
when complete, so an interrupted run never leaves a half-written report (and a previous report
stays until the new one is whole). An existing `out_dir` is replaced only if it is empty or
holds nothing but a previous report's files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.fileio import check_replaceable, staged_directory
from multitag.report import plots
from multitag.report.content import ReportInputs, assemble
from multitag.report.document import Image, to_html, to_markdown

MARKDOWN = "report.md"
HTML = "report.html"
FIGURES: dict[str, str] = {
    "training_curves.png": "Training curves",
    "f1_per_label.png": "Per-label F1",
    "precision_recall.png": "Precision-recall curve (micro)",
    "frequency_vs_f1.png": "Label frequency vs F1",
    "cooccurrence.png": "Label co-occurrence",
}
REPORT_FILES = frozenset({MARKDOWN, HTML, *FIGURES})


@dataclass(frozen=True)
class ReportResult:
    """Where the report was written, and the evaluation it shows."""

    out_dir: Path
    markdown: Path
    html: Path
    images: list[Path]
    evaluation: Any

    @property
    def paths(self) -> list[Path]:
        """Every file written, the documents first."""
        return [self.markdown, self.html, *self.images]


def build_report(bundle: ModelBundle, data: Dataset, out_dir: str | Path, *,
                 title: str | None = None) -> ReportResult:
    """Evaluate `bundle` on `data` and write the report into `out_dir` (replacing a previous
    report there). Raises `DataFormatError` if the labels differ from the model's and
    `ConfigError` if `out_dir` holds anything but a previous report."""
    from multitag.pipeline.evaluate import evaluate_model

    target = Path(os.path.abspath(out_dir))  # "." and "x/.." name a real parent and name
    check_replaceable(target, REPORT_FILES, "multitag report")
    evaluation = evaluate_model(bundle, data)
    inputs = ReportInputs(bundle=bundle, data=data, report=evaluation.report,
                          scores=evaluation.probabilities, title=title)
    with staged_directory(target, REPORT_FILES, "multitag report") as staging:
        images = _draw_figures(inputs, staging)
        document = assemble(inputs, images)
        (staging / MARKDOWN).write_text(to_markdown(document), encoding="utf-8")
        (staging / HTML).write_text(to_html(document, staging), encoding="utf-8")
    return ReportResult(out_dir=target, markdown=target / MARKDOWN, html=target / HTML,
                        images=[target / image.filename for image in images],
                        evaluation=evaluation)


def _draw_figures(inputs: ReportInputs, directory: Path) -> list[Image]:
    """Every figure as a PNG in `directory`, in FIGURES order, with its caption."""
    report, Y = inputs.report, inputs.Y
    draw: dict[str, Callable[[Path], str]] = {
        "training_curves.png": lambda p: plots.training_curves(
            inputs.bundle.history, p, inputs.bundle.architecture.get("model", "mlp")),
        "f1_per_label.png": lambda p: plots.f1_bars(report.per_label, p),
        "precision_recall.png": lambda p: plots.precision_recall(
            Y, inputs.scores, _operating_point(report.metrics), inputs.rule_text, p),
        "frequency_vs_f1.png": lambda p: plots.frequency_vs_f1(report.per_label, p),
        "cooccurrence.png": lambda p: plots.cooccurrence(Y, report.label_names, p),
    }
    return [Image(filename=name, alt=FIGURES[name], caption=draw[name](directory / name))
            for name in FIGURES]


def _operating_point(metrics: dict[str, float | None]) -> tuple[float, float] | None:
    precision, recall = metrics.get("micro_precision"), metrics.get("micro_recall")
    if precision is None or recall is None or not np.isfinite([precision, recall]).all():
        return None
    return float(precision), float(recall)
