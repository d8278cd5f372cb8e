"""The report's figures, each drawn by matplotlib (Agg backend) into one PNG file.

Every function takes plain data, writes `path` and returns a one-sentence caption that says what
was left out (labels beyond the top/bottom N, labels absent from the data, a missing history).
Figures are `matplotlib.figure.Figure` objects, never pyplot state, so nothing leaks between
calls. matplotlib is imported lazily: `import multitag` does not need it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.exceptions import ConfigError
from multitag.metrics.evaluation import LabelRow

DPI = 110
MAX_BARS = 40  # more labels than this: the F1 chart shows the top and bottom MAX_BARS // 2
MAX_HEATMAP = 50
MAX_CELL_VALUES = 12  # the heatmap prints its values up to this many labels
MAX_ANNOTATED = 20  # the scatter names its points up to this many labels
MAX_CURVE_POINTS = 4000


def _figure(width: float, height: float) -> Any:
    """A new Agg-backed Figure (raises `ConfigError` when matplotlib is missing)."""
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:  # never switch a notebook's own backend
            matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ConfigError("reports need matplotlib; install it with "
                          "`pip install 'multitag[plots]'`") from err
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # drawn by Agg whatever the session's backend
    return fig


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")


def _short(name: str, most: int = 28) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Training curves


def training_curves(history: Sequence[dict[str, Any]], path: Path, model: str = "mlp") -> str:
    """Loss per epoch, training and validation, with the best epoch marked (by the validation
    objective when early stopping watched it, else by the validation loss)."""
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    train = _series(history, "train_loss")
    if not train:
        why = (f"This is a linear model ({model}): it is fitted in one go, with no epochs,\n"
               "so there is no loss curve." if model in ("br-svm", "br-lr") else
               "No training history is stored in this model,\nso there is no loss curve.")
        _message(ax, why)
        _save(fig, path)
        return why.replace("\n", " ") if model in ("br-svm", "br-lr") else \
            "The model holds no training history, so no loss curve can be drawn."
    ax.plot(*zip(*train), marker=".", label="training loss")
    valid, score = _series(history, "valid_loss"), _series(history, "valid_score")
    caption = f"Training loss per epoch over {len(train)} epoch(s)"
    if valid:
        ve, vl = zip(*valid)
        ax.plot(ve, vl, marker=".", label="validation loss")
        best = ve[int(np.argmin(vl))]
        what = "lowest validation loss"
        if score:
            se, sv = zip(*score)
            best, what = se[int(np.argmax(sv))], "best validation objective"
            twin = ax.twinx()
            twin.plot(se, sv, color="tab:green", marker=".", label="validation objective")
            twin.set_ylabel("validation objective (higher is better)")
        ax.axvline(best, color="grey", linestyle=":", label=f"{what} (epoch {best})")
        caption += f"; the {what} was at epoch {best}."
    else:
        caption += "; the model was trained without a validation split, so there is no " \
                   "validation curve."
    ax.set(xlabel="epoch", ylabel="loss (the training loss)", title="Training curves")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    handles = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="center right", framealpha=0.9)
    _save(fig, path)
    return caption


def _series(history: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(epoch, value) pairs of `key`, skipping records without a number there (a NaN loss is
    stored as null; model.json is data from disk, so nothing else is assumed either)."""
    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    return [(int(r["epoch"]), float(r[key])) for r in history
            if isinstance(r, dict) and number(r.get("epoch")) and number(r.get(key))]


def _message(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=ax.transAxes)
    ax.set_axis_off()


# ---------------------------------------------------------------------------------------------
# Per-label F1


def _f1_selection(rows: Sequence[LabelRow]) -> tuple[list[LabelRow], str]:
    """The rows to draw (F1 descending) and what the selection is, in words."""
    present = sorted((r for r in rows if r.support > 0), key=lambda r: (-r.f1, r.name))
    absent = len(rows) - len(present)
    note = (f"; {absent} label(s) with no positive in the data are left out"
            if absent else "")
    zero = sum(r.f1 == 0 for r in present)
    note += f"; {zero} label(s) have F1 = 0 (ties sorted by name)" if zero else ""
    if len(present) <= MAX_BARS:
        return present, f"all {len(present)} labels with a positive in the data{note}"
    half = MAX_BARS // 2
    return (present[:half] + present[-half:],
            f"the top {half} and bottom {half} of {len(present)} labels by F1{note}")


def f1_bars(rows: Sequence[LabelRow], path: Path) -> str:
    """Horizontal bars of per-label F1, best at the top; top/bottom N when there are many."""
    shown, what = _f1_selection(rows)
    fig = _figure(8, max(2.5, 0.6 + 0.24 * max(len(shown), 1)))
    ax = fig.add_subplot()
    if not shown:
        _message(ax, "No label has a positive in the data,\nso per-label F1 is undefined.")
        _save(fig, path)
        return "No label has a positive in the data, so there is no per-label F1."
    positions = np.arange(len(shown))[::-1].astype(float)
    if len(shown) == MAX_BARS and len(rows) > MAX_BARS:
        positions[len(shown) // 2:] -= 1.0  # a gap between the top and the bottom group
    f1 = [r.f1 for r in shown]
    ax.barh(positions, f1, color=[_f1_colour(v) for v in f1], height=0.75)
    ax.set_yticks(positions, [_short(r.name) for r in shown], fontsize=8)
    ax.set_ylim(positions.min() - 0.7, positions.max() + 0.7)
    for y, value in zip(positions, f1):
        ax.text(value + 0.01, y, f"{value:.2f}", va="center", fontsize=7)
    ax.set(xlim=(0, 1.08), xlabel="F1 (saved decision rule)",
           title=f"Per-label F1: {what.split(';')[0]}")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    return f"F1 of each label at the saved decision rule, best first: {what}."


def _f1_colour(value: float) -> tuple[float, float, float, float]:
    from matplotlib import colormaps

    return colormaps["RdYlGn"](0.1 + 0.8 * value)


# ---------------------------------------------------------------------------------------------
# Precision-recall (micro)


def _thin(*arrays: np.ndarray) -> list[np.ndarray]:
    """At most MAX_CURVE_POINTS evenly spaced points of each curve array (ends kept)."""
    n = len(arrays[0])
    if n <= MAX_CURVE_POINTS:
        return list(arrays)
    keep = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
    return [a[keep] for a in arrays]


def precision_recall(Y: np.ndarray, scores: np.ndarray, point: tuple[float, float] | None,
                     rule: str, path: Path) -> str:
    """Micro-averaged precision-recall curve with the saved rule's operating point marked."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure(6.5, 5.5)
    ax = fig.add_subplot()
    y, s = Y.ravel(), scores.ravel()
    if not y.any():
        _message(ax, "The data has no positive label,\nso precision and recall are undefined.")
        _save(fig, path)
        return "The data has no positive label, so there is no precision-recall curve."
    precision, recall, _ = precision_recall_curve(y, s)
    recall, precision = _thin(recall, precision)
    ap = average_precision_score(y, s)
    ax.plot(recall, precision, drawstyle="steps-post", label=f"micro-average (AP = {ap:.3f})")
    ax.axhline(y.mean(), color="grey", linestyle="--", linewidth=1,
               label=f"chance (positive share {y.mean():.3f})")
    if point is not None:
        ax.plot(point[1], point[0], "o", color="crimson", markersize=9,
                label=f"saved rule: {rule}\n(P = {point[0]:.3f}, R = {point[1]:.3f})")
    ax.set(xlim=(0, 1.01), ylim=(0, 1.02), xlabel="recall (micro)", ylabel="precision (micro)",
           title="Precision-recall, micro-averaged over all labels")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncols=2)
    _save(fig, path)
    return ("Precision against recall as one threshold sweeps all label scores at once "
            f"(average precision {ap:.3f}); the dot is the saved decision rule ({rule}).")


# ---------------------------------------------------------------------------------------------
# Label frequency vs F1


def frequency_vs_f1(rows: Sequence[LabelRow], path: Path) -> str:
    """Scatter of each label's support in the data (log x) against its F1."""
    present = [r for r in rows if r.support > 0]
    absent = len(rows) - len(present)
    note = f"; {absent} label(s) with no positive in the data are left out" if absent else ""
    fig = _figure(7.5, 5)
    ax = fig.add_subplot()
    if not present:
        _message(ax, "No label has a positive in the data.")
        _save(fig, path)
        return "No label has a positive in the data, so there is nothing to plot."
    support = np.array([r.support for r in present], dtype=float)
    f1 = np.array([r.f1 for r in present])
    ax.scatter(support, f1, s=28, alpha=0.7, edgecolors="none")
    if len(present) <= MAX_ANNOTATED:
        for row in present:
            ax.annotate(_short(row.name, 20), (row.support, row.f1), xytext=(4, 3),
                        textcoords="offset points", fontsize=8)
    _log_axis(ax, support.min() / 1.5, support.max() * 1.5)
    ax.set(ylim=(-0.03, 1.05), xlabel="support: positive rows in the data (log scale)",
           ylabel="F1 (saved decision rule)",
           title=f"Label frequency vs F1 ({len(present)} label{'' if len(present) == 1 else 's'})")
    ax.grid(alpha=0.3, which="both")
    _save(fig, path)
    return ("Each point is a label: its positive count in the evaluated data against its F1 "
            f"(rare labels are often the hard ones){note}.")


def _log_axis(ax: Any, low: float, high: float) -> None:
    """A log x axis labelled with plain numbers (5, 10, 20, 50 ...), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs = (1.0, 2.0, 3.0, 5.0, 7.0) if high / low < 30 else (1.0, 2.0, 5.0)
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------------------------------
# Co-occurrence


def cooccurrence(Y: np.ndarray, names: Sequence[str], path: Path) -> str:
    """Heatmap of P(column label | row label) for the (up to) MAX_HEATMAP most frequent labels."""
    counts = Y.sum(axis=0, dtype=np.int64)  # signed: negating unsigned counts wraps around
    order = np.argsort(-counts, kind="stable")[:MAX_HEATMAP]
    order = order[counts[order] > 0]
    chosen = (f"the {len(order)} most frequent of {len(names)} labels"
              if len(names) > MAX_HEATMAP else f"all {len(order)} labels with a positive")
    size = min(11.0, 5.0 + 0.13 * len(order))
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    if len(order) < 2:
        _message(ax, "Fewer than two labels occur in the data,\nso nothing co-occurs.")
        _save(fig, path)
        return "Fewer than two labels occur in the data, so there is no co-occurrence."
    sub = Y[:, order].astype(np.int64)
    together = sub.T @ sub
    conditional = together / np.diag(together)[:, None]
    np.fill_diagonal(conditional, np.nan)
    image = ax.imshow(conditional, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    _label_ticks(ax, [names[j] for j in order])
    if len(order) <= MAX_CELL_VALUES:
        _cell_values(ax, conditional)
    fig.colorbar(image, ax=ax, shrink=0.8, label="P(column label | row label)")
    ax.set_title(f"Label co-occurrence: {chosen}", fontsize=11)
    _save(fig, path)
    return (f"Each cell is the share of rows holding the row's label that also hold the "
            f"column's label ({chosen}, diagonal left blank).")


def _cell_values(ax: Any, values: np.ndarray) -> None:
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if value > 0.6 else "white")


def _label_ticks(ax: Any, names: list[str]) -> None:
    fontsize = 9 if len(names) <= 15 else 7.5 if len(names) <= 30 else 6.5
    ticks = np.arange(len(names))
    short = [_short(n, 22) for n in names]
    ax.set_xticks(ticks, short, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, short, fontsize=fontsize)
    ax.set(xlabel="also has this label", ylabel="rows with this label")
