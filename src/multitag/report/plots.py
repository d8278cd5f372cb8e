"""The report's label figures, each drawn by matplotlib (Agg backend) into one PNG file:
per-label F1, the micro precision-recall curve, label frequency against F1 and label
co-occurrence. (The training curves are in `history`.)

Every function takes plain data, writes `path` and returns a `Drawn`: a caption that says what
was left out (labels beyond the top/bottom N, labels absent from the data), the Figure, and the
key of any label name shown abbreviated. A figure with nothing to show is not written; its
caption says why. Figures are `matplotlib.figure.Figure` objects, never pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.metrics.evaluation import LabelRow
from multitag.report.figure import Drawn, left_out, new_figure, save_png
from multitag.report.labels import LabelNames

MAX_BARS = 40  # more labels than this: the F1 chart shows the top and bottom MAX_BARS // 2
MAX_ANNOTATED = 20  # the scatter names at most this many labels
MAX_CURVE_POINTS = 4000
MAX_STACK = 16  # a dot's area grows with the labels at its spot up to this many
MAX_STACK_COUNTS = 12  # more shared spots than this: their counts are not written
F1_AXIS = "F1 at the saved decision rule (0 = worst, 1 = best)"


def _names(labels: LabelNames | None, names: Sequence[str]) -> LabelNames:
    return labels if labels is not None else LabelNames(names)


# ---------------------------------------------------------------------------------------------
# Per-label F1


def _f1_selection(rows: Sequence[LabelRow]) -> tuple[list[LabelRow], str]:
    """The rows to draw (F1 descending) and what the selection is, in words."""
    present = sorted((r for r in rows if r.support > 0),
                     key=lambda r: (-r.f1, r.support, r.name))
    absent = len(rows) - len(present)
    note = (f"; {absent} label(s) with no positive in the data are left out"
            if absent else "")
    zero = sum(r.f1 == 0 for r in present)
    note += (f"; {zero} label(s) have F1 = 0 (ties: the most frequent last)" if zero else "")
    if len(present) <= MAX_BARS:
        return present, f"all {len(present)} labels with a positive in the data{note}"
    half = MAX_BARS // 2
    return (present[:half] + present[-half:],
            f"the top {half} and bottom {half} of {len(present)} labels by F1{note}")


def f1_bars(rows: Sequence[LabelRow], path: Path, labels: LabelNames | None = None) -> Drawn:
    """Horizontal bars of per-label F1, best at the top; top/bottom N when there are many."""
    shown, what = _f1_selection(rows)
    if not shown:
        return left_out("No per-label F1 figure: no label has a positive in the data, so "
                        "per-label F1 is undefined.")
    labels = _names(labels, [r.name for r in rows])
    texts, key = labels.show_all([r.name for r in shown], width=26, lines=2)
    per_bar = 0.36 if any("\n" in t for t in texts) else 0.26
    fig = new_figure(8.5, max(2.5, 1.1 + per_bar * len(shown)))
    ax = fig.add_subplot()
    positions = np.arange(len(shown))[::-1].astype(float)
    if len(shown) == MAX_BARS and len(rows) > MAX_BARS:
        positions[len(shown) // 2:] -= 1.0  # a gap between the top and the bottom group
    f1 = [r.f1 for r in shown]
    ax.barh(positions, f1, color=[_f1_colour(v) for v in f1], height=0.75)
    ax.set_yticks(positions, texts, fontsize=8)
    ax.set_ylim(positions.min() - 0.7, positions.max() + 0.7)
    for y, row in zip(positions, shown):
        ax.text(row.f1 + 0.01, y, f"{row.f1:.2f}  (support {row.support})", va="center",
                fontsize=7)
    ax.set(xlim=(0, 1.22), xlabel=F1_AXIS, ylabel="label (best F1 at the top)",
           title=f"Per-label F1: {what.split(';')[0]}")
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.grid(axis="x", alpha=0.3)
    save_png(fig, path)
    return Drawn(caption=f"F1 of each label at the saved decision rule, best first, with its "
                         f"support (positive rows in the data): {what}{labels.note()}.",
                 figure=fig, key=key)


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
                     rule: str, path: Path) -> Drawn:
    """Micro-averaged precision-recall curve with the saved rule's operating point marked."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = Y.ravel(), scores.ravel()
    if not y.any():
        return left_out("No precision-recall figure: the data has no positive label, so "
                        "precision and recall are undefined.")
    fig = new_figure(6.5, 5.8)
    ax = fig.add_subplot()
    precision, recall, _ = precision_recall_curve(y, s)
    recall, precision = _thin(recall, precision)
    ap = average_precision_score(y, s)
    ax.plot(recall, precision, drawstyle="steps-post", label=f"micro-average (AP = {ap:.3f})")
    ax.axhline(y.mean(), color="grey", linestyle="--", linewidth=1,
               label=f"chance (positive share {y.mean():.3f})")
    if point is not None:
        ax.plot(point[1], point[0], "o", color="crimson", markersize=9,
                label=f"saved rule: {rule}\n(P = {point[0]:.3f}, R = {point[1]:.3f})")
    ax.set(xlim=(0, 1.01), ylim=(0, 1.02),
           xlabel="recall (micro): share of the true labels that are predicted",
           ylabel="precision (micro): share of the predicted labels that are true",
           title="Precision-recall, micro-averaged over all labels")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncols=2)
    save_png(fig, path)
    return Drawn(caption="Precision against recall as one threshold sweeps all label scores at "
                         f"once (average precision {ap:.3f}); the dot is the saved decision "
                         f"rule ({rule}).", figure=fig)


# ---------------------------------------------------------------------------------------------
# Label frequency vs F1


def _annotated(present: list[LabelRow], crowded: set[tuple[int, float]]) -> list[LabelRow]:
    """The labels the scatter may name, most wanted first: all of them when few, else the
    most frequent and then the lowest F1 (ties: higher support) among the rest; a label on a
    spot it shares with others (`crowded`) is not named."""
    alone = [r for r in present if _spot(r) not in crowded]
    if len(present) <= MAX_ANNOTATED:
        return alone
    half = MAX_ANNOTATED // 2
    frequent = sorted(alone, key=lambda r: (-r.support, r.name))[:half]
    rest = [r for r in alone if r not in frequent]
    return frequent + sorted(rest, key=lambda r: (r.f1, -r.support, r.name))[:half]


def _spot(row: LabelRow) -> tuple[int, float]:
    return row.support, round(row.f1, 6)


PLACES = ((5, 3, "left"), (5, -12, "left"), (-5, 3, "right"), (-5, -12, "right"))


def _name_points(ax: Any, rows: list[LabelRow], texts: list[str],
                 taken: list[Any]) -> list[LabelRow]:
    """Write each name beside its point (right, below right, left, below left: the first
    place that overlaps no text already written (`taken`, then the names) and stays inside
    the axes), or not at all;
    return the rows named. The axes are laid out first, so the test is in final pixels."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = [artist.get_window_extent(renderer) for artist in taken]
    named = []
    for row, text in zip(rows, texts):
        for dx, dy, align in PLACES:
            note = ax.annotate(text, (row.support, row.f1), xytext=(dx, dy), ha=align,
                               textcoords="offset points", fontsize=7, linespacing=0.9)
            note.set_in_layout(False)
            box = note.get_window_extent(renderer).expanded(1.05, 1.1)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 \
                and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                named.append(row)
                break
            note.remove()
    return named


def frequency_vs_f1(rows: Sequence[LabelRow], path: Path,
                    labels: LabelNames | None = None) -> Drawn:
    """Scatter of each label's support in the data (log x) against its F1; labels at the same
    spot are one larger dot with their count beside it."""
    present = [r for r in rows if r.support > 0]
    if not present:
        return left_out("No frequency-vs-F1 figure: no label has a positive in the data.")
    absent = len(rows) - len(present)
    note = f"; {absent} label(s) with no positive in the data are left out" if absent else ""
    labels = _names(labels, [r.name for r in rows])
    fig = new_figure(8.5, 5.6)
    ax = fig.add_subplot()
    spots: dict[tuple[int, float], int] = {}
    for r in present:
        spots[_spot(r)] = spots.get(_spot(r), 0) + 1
    xy = np.array(list(spots), dtype=float)
    count = np.array(list(spots.values()))
    area = 28 * np.minimum(count, MAX_STACK)
    ax.scatter(xy[:, 0], xy[:, 1], s=area, alpha=0.6, edgecolors="none")
    stacked = int((count > 1).sum())
    counts = [ax.annotate(f"×{k}", (x, y), xytext=(0, -(np.sqrt(a) / 2 + 8)),
                          textcoords="offset points", fontsize=7, color="dimgrey", ha="center")
              for (x, y), k, a in zip(xy, count, area)
              if k > 1 and stacked <= MAX_STACK_COUNTS]
    low, high = xy[:, 0].min(), xy[:, 0].max()
    span = np.log(high / low)  # room for the names on the right, in proportion to the axis
    _log_axis(ax, low / np.exp(0.05 * span + 0.2), high * np.exp(0.18 * span + 0.25))
    ax.set(ylim=(-0.08, 1.08), xlabel="support: positive rows in the evaluated data (log scale)",
           ylabel=F1_AXIS,
           title=f"Label frequency vs F1 ({len(present)} label{'' if len(present) == 1 else 's'})")
    ax.grid(alpha=0.3, which="both")
    wanted = _annotated(present, {spot for spot, k in spots.items() if k > 1})
    texts, key = labels.show_all([r.name for r in wanted], width=18, lines=2)
    named = {r.name for r in _name_points(ax, wanted, texts, counts)}
    key = tuple(entry for entry in key if entry[1] in named)
    save_png(fig, path)
    how = ("every point is named" if len(named) == len(present) else
           f"{len(named)} of the {len(present)} labels are named (the most frequent, then the "
           "lowest F1, where the names do not overlap; the per-label table has them all)")
    together = ("" if not stacked else " Labels with the same support and F1 share one "
                "dot, larger the more labels it holds (area up to 16 labels)"
                + (", their number beside it (×k)." if stacked <= MAX_STACK_COUNTS else "."))
    return Drawn(caption="Each point is a label: its positive count in the evaluated data "
                         f"against its F1 (rare labels are often the hard ones); {how}{note}"
                         f"{labels.note()}.{together}", figure=fig, key=key)


def _log_axis(ax: Any, low: float, high: float) -> None:
    """A log x axis labelled with plain numbers (5, 10, 20, 50 ...), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs = (1.0, 2.0, 3.0, 5.0, 7.0) if high / low < 30 else (1.0, 2.0, 5.0)
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
