"""The label co-occurrence figure: P(column label | row label) for the most frequent labels.

The colour scale is fitted to the off-diagonal values (a fixed 0-1 scale makes every cell look
alike when labels rarely meet, as on `scene`, largest value 0.21); a single cell far above the
rest is clipped so that it does not flatten the others. The diagonal (a label always meets
itself) is masked in grey and shown instead as the bars beside the heat map: the share of rows
that hold each label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.report.figure import Drawn, left_out, new_figure, save_png
from multitag.report.labels import LabelNames

MAX_HEATMAP = 50
MAX_CELL_VALUES = 12  # the heatmap prints its values up to this many labels
OUTLIER_RATIO = 2.0  # a maximum this far above the 99th percentile is clipped
MASKED = "#d0d0d0"


def conditional_matrix(Y: np.ndarray) -> np.ndarray:
    """P(column | row) of the columns of a 0/1 matrix (each has a positive); NaN diagonal."""
    sub = Y.astype(np.int64)
    together = sub.T @ sub
    conditional = together / np.diag(together)[:, None]
    np.fill_diagonal(conditional, np.nan)
    return conditional


def colour_limit(conditional: np.ndarray) -> tuple[float, bool]:
    """The top of the colour scale (the largest off-diagonal value, or its 99th percentile
    when the largest is more than OUTLIER_RATIO times that) and whether values are clipped."""
    values = conditional[np.isfinite(conditional)]
    top = float(values.max()) if values.size else 0.0
    high = float(np.quantile(values, 0.99)) if values.size >= 100 else top
    if high > 0 and top > OUTLIER_RATIO * high:
        return high, True
    return top, False


def cooccurrence(Y: np.ndarray, names: Sequence[str], path: Path,
                 labels: LabelNames | None = None) -> Drawn:
    """Heatmap of P(column label | row label) for the (up to) MAX_HEATMAP most frequent labels,
    with each label's share of rows beside it."""
    counts = Y.sum(axis=0, dtype=np.int64)  # signed: negating unsigned counts wraps around
    order = np.argsort(-counts, kind="stable")[:MAX_HEATMAP]
    order = order[counts[order] > 0]
    chosen = (f"the {len(order)} most frequent of {len(names)} labels"
              if len(names) > MAX_HEATMAP else f"all {len(order)} labels with a positive")
    if len(order) < 2:
        return left_out("No co-occurrence figure: fewer than two labels occur in the data, so "
                        "nothing co-occurs.")
    conditional = conditional_matrix(Y[:, order])
    vmax, clipped = colour_limit(conditional)
    if vmax <= 0:
        return left_out(f"No co-occurrence figure: no two of {chosen} occur in the same row.")
    from matplotlib.ticker import MaxNLocator

    labels = labels if labels is not None else LabelNames(names)
    n = len(order)
    texts, key = labels.show_all([names[j] for j in order], width=18 if n > 20 else 14,
                                 lines=1 if n > 20 else 2)
    size = min(11.0, 5.0 + 0.13 * n)
    fig = new_figure(size + 2.4, size + 1.2)
    heat, side = fig.subplots(1, 2, sharey=True, width_ratios=[1.0, 0.2])
    image = _heatmap(heat, conditional, vmax)
    _label_ticks(heat, texts)
    if n <= MAX_CELL_VALUES:
        _cell_values(heat, conditional, vmax)
    _frequency_bars(side, counts[order] / max(1, Y.shape[0]), n <= MAX_CELL_VALUES)
    scale = (f"colour scale from 0 to {vmax:.2f}, the 99th percentile of the off-diagonal "
             "values (larger values in the top colour)" if clipped else
             f"colour scale from 0 to {vmax:.2f}, the largest off-diagonal value")
    bar = fig.colorbar(image, ax=heat, location="top", shrink=0.75, pad=0.01,
                       extend="max" if clipped else "neither",
                       label="P(column label | row label): share of the rows with the row "
                             f"label that also have the column label\n({scale}; grey "
                             "diagonal = the label itself, see the bars)")
    bar.locator = MaxNLocator(6)
    bar.update_ticks()
    fig.suptitle(f"Label co-occurrence: {chosen}", fontsize=11)
    save_png(fig, path)
    return Drawn(caption=f"Each cell is the share of rows holding the row's label that also "
                         f"hold the column's label ({chosen}); {scale}. The diagonal is "
                         "masked in grey (a label always occurs with itself); the bars on the "
                         f"right show each label's share of all rows instead{labels.note()}.",
                 figure=fig, key=key)


def _heatmap(ax: Any, conditional: np.ndarray, vmax: float) -> Any:
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad=MASKED)
    return ax.imshow(np.ma.masked_invalid(conditional), cmap=cmap, vmin=0, vmax=vmax,
                     interpolation="nearest", aspect="auto")


def _frequency_bars(ax: Any, share: np.ndarray, values: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    positions = np.arange(len(share))
    ax.barh(positions, share, color="grey", height=0.7)
    ax.set_xlim(0, float(share.max()) * (1.45 if values else 1.1))
    if values:
        for y, value in zip(positions, share):
            ax.text(value, y, f" {value:.2f}", va="center", fontsize=7)
    ax.set_xlabel("share of all rows\nwith the row label", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.tick_params(axis="y", left=False)
    ax.grid(axis="x", alpha=0.3)


def _cell_values(ax: Any, values: np.ndarray, vmax: float) -> None:
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if value > 0.6 * vmax else "white")


def _label_ticks(ax: Any, texts: list[str]) -> None:
    fontsize = 9 if len(texts) <= 15 else 7.5 if len(texts) <= 30 else 6.5
    ticks = np.arange(len(texts))
    ax.set_xticks(ticks, texts, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, texts, fontsize=fontsize)
    ax.set(xlabel="column label: also present in the row", ylabel="row label: rows that have it")
