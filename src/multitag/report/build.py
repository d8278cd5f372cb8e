"""`build_report`: evaluate a saved model on labelled data and write plots, Markdown and HTML.

Everything is written into a temporary directory beside `out_dir` and renamed into place only
when complete, so an interrupted run never leaves a half-written report (and a previous report
stays until the new one is whole). An existing `out_dir` is replaced only if it is empty or
holds nothing but a previous report's files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.fileio import check_replaceable, staged_directory
from multitag.report import cooccurrence, history, plots
from multitag.report.content import Figure, ReportInputs, assemble, network_histories
from multitag.report.document import to_html, to_markdown
from multitag.report.figure import Drawn
from multitag.report.labels import LabelNames

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
    """Where the report was written, and the evaluation it shows. `images` are the figures
    drawn (a figure with nothing to show, such as a linear model's training curves, is left
    out and the report says why)."""

    out_dir: Path
    markdown: Path
    html: Path
    images: list[Path]
    evaluation: Any
    figures: list[Figure] = field(default_factory=list)

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
        figures = _draw_figures(inputs, staging)
        document = assemble(inputs, figures)
        (staging / MARKDOWN).write_text(to_markdown(document), encoding="utf-8")
        (staging / HTML).write_text(to_html(document, staging), encoding="utf-8")
    return ReportResult(out_dir=target, markdown=target / MARKDOWN, html=target / HTML,
                        images=[target / f.filename for f in figures if f.drawn.drawn],
                        evaluation=evaluation, figures=figures)


def _draw_figures(inputs: ReportInputs, directory: Path) -> list[Figure]:
    """Every figure in FIGURES order, drawn as a PNG in `directory` unless it has nothing to
    show (then only its caption, which says why, goes into the report)."""
    report, Y = inputs.report, inputs.Y
    labels = LabelNames(report.label_names)
    draw: dict[str, Callable[[Path], Drawn]] = {
        "training_curves.png": lambda p: history.training_curves(
            network_histories(inputs.bundle), p, **_training_facts(inputs.bundle)),
        "f1_per_label.png": lambda p: plots.f1_bars(report.per_label, p, labels),
        "precision_recall.png": lambda p: plots.precision_recall(
            Y, inputs.scores, _operating_point(report.metrics), inputs.rule_text, p),
        "frequency_vs_f1.png": lambda p: plots.frequency_vs_f1(report.per_label, p, labels),
        "cooccurrence.png": lambda p: cooccurrence.cooccurrence(Y, report.label_names, p,
                                                                labels),
    }
    return [Figure(filename=name, title=FIGURES[name], drawn=draw[name](directory / name))
            for name in FIGURES]


def _training_facts(bundle: ModelBundle) -> dict[str, Any]:
    """What the training-curve figure needs from model.json (data from disk: checked)."""
    training = bundle.training if isinstance(bundle.training, dict) else {}
    trainer = training.get("trainer") if isinstance(training.get("trainer"), dict) else {}
    spec = trainer.get("loss")
    loss = training.get("loss") or (spec.get("name") if isinstance(spec, dict) else None)
    epochs = training.get("epochs", trainer.get("epochs"))
    members = bundle.architecture.get("members", 1)
    return {
        "model": str(bundle.architecture.get("model", "mlp")),
        "loss": str(loss) if loss else None,
        "objective": str(training["objective"]) if training.get("objective") else None,
        "max_epochs": epochs if isinstance(epochs, int) and epochs > 0 else None,
        "members": members if isinstance(members, int) and members > 0 else 1,
        "best_kept": bool(trainer.get("restore_best") and trainer.get("early_stopping_patience")),
    }


def _operating_point(metrics: dict[str, float | None]) -> tuple[float, float] | None:
    precision, recall = metrics.get("micro_precision"), metrics.get("micro_recall")
    if precision is None or recall is None or not np.isfinite([precision, recall]).all():
        return None
    return float(precision), float(recall)
