"""What the report says: the sections of the document, from a model, its data and its metrics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.metrics.evaluation import Report, report_rows
from multitag.metrics.names import LOWER_IS_BETTER
from multitag.options import LINEAR_MODELS
from multitag.report.document import Block, Bullets, Document, Image, Paragraph, Section, Table
from multitag.report.figure import Drawn


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """A model, the labelled data it was evaluated on, its metrics and its scores."""

    bundle: ModelBundle
    data: Dataset
    report: Report
    scores: np.ndarray
    title: str | None = None

    @cached_property
    def Y(self) -> np.ndarray:
        return self.data.Y_dense()

    @cached_property
    def rule_text(self) -> str:
        return describe_rule(self.bundle.decision_rule.to_dict())


def describe_rule(state: dict[str, Any]) -> str:
    """A decision rule's `to_dict()` in a few words ("global threshold 0.340 (micro_f1)")."""
    name, params, fitted = state.get("rule"), state.get("params", {}), state.get("state", {})
    if name == "fixed":
        return f"fixed threshold {float(params['threshold']):.3f}"
    if name == "global" and "threshold" in fitted:
        return f"global threshold {float(fitted['threshold']):.3f} tuned for {params['objective']}"
    if name == "per_label" and "thresholds" in fitted:
        values = np.asarray(fitted["thresholds"], dtype=float)
        return (f"per-label thresholds tuned for {params['objective']} "
                f"({values.min():.2f} to {values.max():.2f})")
    if name == "top_k":
        return f"top-{int(params['k'])} labels per row"
    if name == "at_least_one":
        return f"at least one label per row, else {describe_rule(params['base'])}"
    return str(name)


@dataclass(frozen=True)
class Figure:
    """One figure of the report: its file name, section title and what drawing it gave."""

    filename: str
    title: str
    drawn: Drawn


def assemble(inputs: ReportInputs, figures: list[Figure]) -> Document:
    """The whole report: summary, metrics, figures, per-label table, absent labels, conventions."""
    report = inputs.report
    title = inputs.title or f"multitag report: {inputs.data.name or 'evaluation data'}"
    sections = [_summary(inputs), _metrics(report)]
    sections += [Section(figure.title, figure_blocks(figure)) for figure in figures]
    sections += [_per_label(report), _absent(report),
                 Section("Conventions", [Bullets(list(report.conventions))])]
    return Document(title=title, sections=sections)


def figure_blocks(figure: Figure) -> list[Block]:
    """The image with its caption and label key, or, for a figure left out, the sentence that
    says why."""
    drawn = figure.drawn
    if not drawn.drawn:
        return [Paragraph(drawn.caption)]
    blocks: list[Block] = [Image(filename=figure.filename, alt=figure.title,
                                 caption=drawn.caption)]
    if drawn.key:
        blocks += [Paragraph("Label key: the names cut short in the figure above, by their "
                             "column number (the # of the per-label table)."),
                   Table(["code", "label"], [[code, name] for code, name in drawn.key])]
    return blocks


def _summary(inputs: ReportInputs) -> Section:
    bundle, data, Y = inputs.bundle, inputs.data, inputs.Y
    arch = bundle.architecture
    layers = " → ".join(str(n) for n in [arch.get("n_features"), *arch.get("hidden", []),
                                         arch.get("n_labels")])
    members = int(arch.get("members", 1) or 1)
    if arch.get("model") in LINEAR_MODELS:
        model = (f"Model: linear {arch['model']} (one classifier per label, "
                 f"{layers}), fitted" + _rows(bundle) + " It has no training epochs, so the "
                 "report has no training-curve figure.")
    else:
        model = (f"Network: {layers} (dropout {arch.get('dropout', 0)}), trained for "
                 f"{_epochs(bundle)}" + _rows(bundle)
                 + (f" An ensemble of {members} cross-fitted networks; {_curves_show(bundle)}."
                    if members > 1 else ""))
    items = [
        f"Data: {data.name or 'unnamed'} — {data.n_samples:,} rows, {data.n_labels:,} labels, "
        f"{Y.sum(axis=1).mean():.2f} labels per row on average.",
        model,
        f"Decision rule: {inputs.rule_text}.",
    ]
    return Section("Summary", [Bullets(items)])


def _rows(bundle: ModelBundle) -> str:
    train_rows = bundle.training.get("n_train_rows")  # informational: any JSON value
    return f" on {train_rows:,} rows." if _count(train_rows) else "."


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _epochs(bundle: ModelBundle) -> str:
    """"12 epoch(s) of at most 100", or each network's count for an ensemble."""
    epochs = bundle.training.get("epochs")
    most = f" of at most {epochs}" if _count(epochs) else ""
    lengths = [len(h) for h in network_histories(bundle)]
    if len(lengths) > 1:
        return f"{', '.join(map(str, lengths))} epochs{most} (one count per network)"
    return f"{len(bundle.history)} epoch(s){most}"


def _curves_show(bundle: ModelBundle) -> str:
    if len(network_histories(bundle)) > 1:
        return "the training curves show every network"
    return ("only the first network's history is stored (an older model directory), so the "
            "training curves show that one")


def _fmt(value: float | int | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _metrics(report: Report) -> Section:
    rows = [[name, _fmt(value), "lower" if name in LOWER_IS_BETTER else "higher"]
            for name, value in report_rows(report)]
    note = Paragraph(f"{report.n_samples:,} rows, {report.n_labels:,} labels. 'n/a' marks a "
                     "metric that is undefined on this data (see Conventions).")
    return Section("Metrics", [note, Table(["metric", "value", "better"], rows,
                                           numeric=frozenset({1}))])


def _per_label(report: Report) -> Section:
    header = ["#", "label", "support", "predicted", "precision", "recall", "F1", "AUC",
              "threshold"]
    rows = [[str(j), r.name, str(r.support), str(r.predicted), _fmt(r.precision, 3),
             _fmt(r.recall, 3), _fmt(r.f1, 3), _fmt(r.auc, 3), _fmt(r.threshold, 3)]
            for j, r in enumerate(report.per_label, start=1)]
    note = Paragraph("# = the label's column number (the code of a name cut short in a "
                     "figure); support = positive rows in the data; predicted = rows the "
                     "saved rule assigns the label; threshold = the rule's threshold for the "
                     "label (n/a for top-k style rules).")
    table = Table(header, rows, numeric=frozenset({0, *range(2, 9)}))
    return Section("Per-label table", [note, table])


def _absent(report: Report) -> Section:
    no_pos = report.absent_labels.get("no_positive", [])
    no_neg = report.absent_labels.get("no_negative", [])
    if not no_pos and not no_neg:
        return Section("Absent labels", [Paragraph("Every label has both a positive and a "
                                                   "negative row in the data.")])
    items = []
    if no_pos:
        items.append(f"No positive row ({len(no_pos)}; left out of macro F1, AUC and the F1 "
                     f"plots): {', '.join(no_pos)}")
    if no_neg:
        items.append(f"No negative row ({len(no_neg)}; AUC undefined): {', '.join(no_neg)}")
    return Section("Absent labels", [Bullets(items)])


def network_histories(bundle: ModelBundle) -> list[list[dict[str, Any]]]:
    """One history per network: `member_histories` when stored, else the one `history` of an
    older model directory (the first network's), else none."""
    members = [h for h in bundle.member_histories if isinstance(h, list) and h]
    if members:
        return members
    return [bundle.history] if bundle.history else []
