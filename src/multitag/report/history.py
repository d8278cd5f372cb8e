"""The training-curve figure: every network of the model, loss per epoch (training dashed,
validation solid) and, when early stopping watched the objective, the validation objective per
epoch in a second panel; each network's best epoch (the weights kept) is starred and an early
stop is crossed. A model without epochs (a linear model, or a directory without a history)
gets no figure, only a sentence saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multitag.options import LINEAR_MODELS
from multitag.report.figure import Drawn, left_out, new_figure, save_png

LOSS_NAMES = {"bce": "binary cross-entropy", "focal": "focal loss",
              "asymmetric": "asymmetric loss"}
# The early-stopping objectives (options.OBJECTIVES) as plotted (Hamming as its negative).
OBJECTIVE_NAMES = {"micro_f1": "micro-F1", "macro_f1": "macro-F1", "samples_f1": "samples-F1",
                   "hamming": "−Hamming loss"}
MAX_LEGEND_NETWORKS = 10  # more networks than this: one legend entry for them all


@dataclass(frozen=True)
class Curve:
    """One network's history as arrays (epochs without a number are skipped)."""

    train: list[tuple[int, float]]
    valid: list[tuple[int, float]]
    score: list[tuple[int, float]]

    @property
    def epochs(self) -> int:
        return max(e for e, _ in self.train)

    def best(self) -> tuple[int, str] | None:
        """(best epoch, by what): the objective when recorded, else the validation loss."""
        if self.score:
            return self.score[int(np.argmax([v for _, v in self.score]))][0], "objective"
        if self.valid:
            return self.valid[int(np.argmin([v for _, v in self.valid]))][0], "loss"
        return None


def loss_label(loss: str | None) -> str:
    name = LOSS_NAMES.get(str(loss), f"{loss} loss" if loss else "training loss")
    return f"{name}\n(mean per row × label; lower is better)"


def objective_name(objective: str | None) -> str:
    return OBJECTIVE_NAMES.get(str(objective), str(objective or "objective"))


def objective_label(objective: str | None) -> str:
    name = objective_name(objective)
    return f"validation {name}\nat its best threshold (higher is better)"


def training_curves(histories: Sequence[Sequence[dict[str, Any]]], path: Path, *,
                    model: str = "mlp", loss: str | None = None, objective: str | None = None,
                    max_epochs: int | None = None, members: int = 1,
                    best_kept: bool = False) -> Drawn:
    """Draw every network's curves into `path`; `histories` holds one list of per-epoch
    records per network (an older model directory stores only the first network's).
    Writes nothing and says why when there are no epochs."""
    curves = [c for c in (_curve(h) for h in histories) if c.train]
    if not curves:
        if model in LINEAR_MODELS:
            return left_out(f"No training-curve figure: this is a linear model ({model}), "
                            "fitted in one go with no epochs, so there is no loss curve.")
        return left_out("No training-curve figure: the model holds no training history, "
                        "so no loss curve can be drawn.")
    with_score = any(c.score for c in curves)
    fig = new_figure(9, 6.6 if with_score else 4.6)
    axes = fig.subplots(2 if with_score else 1, 1, sharex=True, squeeze=False)[:, 0]
    colours = _colours(len(curves))
    stops = [_draw_network(axes, c, colour, j, max_epochs, len(curves))
             for j, (c, colour) in enumerate(zip(curves, colours))]
    axes[0].set_ylabel(loss_label(loss))
    if with_score:
        axes[1].set_ylabel(objective_label(objective))
    axes[-1].set_xlabel("epoch (one pass over the training rows)")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.legend(handles=_legend(curves, with_score, any(stops)), loc="outside right upper",
               fontsize=8, framealpha=0.9)
    axes[0].set_title(_title(len(curves), members), fontsize=11)
    save_png(fig, path)
    caption = _caption(curves, stops, members, loss, objective, best_kept)
    return Drawn(caption=caption, figure=fig)


def _curve(history: Sequence[dict[str, Any]]) -> Curve:
    return Curve(_series(history, "train_loss"), _series(history, "valid_loss"),
                 _series(history, "valid_score"))


def _series(history: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(epoch, value) pairs of `key`, skipping records without a number there (a NaN loss is
    stored as null; model.json is data from disk, so nothing else is assumed either)."""
    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and bool(np.isfinite(value))

    if not isinstance(history, list | tuple):
        return []
    return [(int(r["epoch"]), float(r[key])) for r in history
            if isinstance(r, dict) and number(r.get("epoch")) and number(r.get(key))]


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](j) for j in range(n)]
    return [colormaps["viridis"](j / max(1, n - 1)) for j in range(n)]


def _draw_network(axes: Any, curve: Curve, colour: Any, index: int, max_epochs: int | None,
                  n: int) -> bool:
    """Lines of one network; its best epoch starred, an early stop crossed. True if stopped
    early (before `max_epochs`)."""
    width = 1.4 if n <= 5 else 0.9
    name = f"network {index + 1}"
    axes[0].plot(*zip(*curve.train), color=colour, linestyle="--", linewidth=width, alpha=0.8,
                 label=f"{name}: training")
    if curve.valid:
        axes[0].plot(*zip(*curve.valid), color=colour, linewidth=width, label=f"{name}: valid")
    if curve.score:
        axes[1].plot(*zip(*curve.score), color=colour, linewidth=width)
    best = curve.best()
    if best is not None:
        series = curve.score if best[1] == "objective" else curve.valid
        ax = axes[1] if best[1] == "objective" else axes[0]
        value = dict(series)[best[0]]
        ax.plot(best[0], value, marker="*", markersize=13, color=colour,
                markeredgecolor="black", linestyle="none", zorder=5)
    stopped = max_epochs is not None and curve.epochs < max_epochs
    if stopped:
        last = (curve.score or curve.valid or curve.train)[-1]
        ax = axes[1] if curve.score else axes[0]
        ax.plot(*last, marker="X", markersize=8, color=colour, markeredgecolor="black",
                linestyle="none", zorder=5)
    return stopped


def _legend(curves: list[Curve], with_score: bool, stopped: bool) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", linestyle="--", label="training loss")]
    if any(c.valid for c in curves):
        handles.append(Line2D([], [], color="black", label="validation loss"
                              + (" / objective" if with_score else "")))
    if any(c.best() for c in curves):
        by = "validation objective" if with_score else "validation loss"
        handles.append(Line2D([], [], marker="*", markersize=11, color="grey",
                              markeredgecolor="black", linestyle="none",
                              label=f"best epoch by {by}"))
    if stopped:
        handles.append(Line2D([], [], marker="X", markersize=8, color="grey",
                              markeredgecolor="black", linestyle="none",
                              label="early stop (last epoch run)"))
    if 1 < len(curves) <= MAX_LEGEND_NETWORKS:
        colours = _colours(len(curves))
        handles += [Line2D([], [], color=colours[j], linewidth=3, label=f"network {j + 1}")
                    for j in range(len(curves))]
    elif len(curves) > MAX_LEGEND_NETWORKS:
        handles.append(Line2D([], [], color="grey", linewidth=3,
                              label=f"{len(curves)} networks (colour = order)"))
    return handles


def _title(n: int, members: int) -> str:
    if n == 1 and members > 1:
        return f"Training curves: the first of {members} networks (the only one stored)"
    return "Training curves" + (f": all {n} networks of the ensemble" if n > 1 else "")


def _caption(curves: list[Curve], stops: list[bool], members: int, loss: str | None,
             objective: str | None, best_kept: bool) -> str:
    lengths = [c.epochs for c in curves]
    what = LOSS_NAMES.get(str(loss), "loss")
    if len(curves) == 1:
        text = f"{what.capitalize()} per epoch over {lengths[0]} epoch(s)"
        if members > 1:
            text += (f"; this model directory stores only the first of its {members} "
                     "networks' histories (it was saved by an older version)")
    else:
        text = (f"{what.capitalize()} per epoch of each of the {len(curves)} networks, "
                f"trained for {min(lengths)} to {max(lengths)} epochs")
    bests = [c.best() for c in curves]
    if all(b is None for b in bests):
        return text + ("; the model was trained without a validation split, so there is no "
                       "validation curve.")
    by = ("best validation objective" if any(b and b[1] == "objective" for b in bests)
          else "lowest validation loss")
    if by.startswith("best"):
        name = objective_name(objective)
        text += (f"; the lower panel is the validation {name} at its best global threshold, "
                 "which early stopping watched")
    epochs = ", ".join(str(b[0]) for b in bests if b)
    text += (f"; the {by} was at epoch {epochs}" if len(curves) == 1
             else f"; the {by} was at epochs {epochs} (network 1 first)")
    text += " (starred" + ("; the saved weights are those of that epoch)" if best_kept else ")")
    if len(curves) == 1 and stops[0]:
        text += f"; early stopping ended training after epoch {lengths[0]} (crossed)"
    elif any(stops):
        text += f"; {sum(stops)} of the {len(curves)} networks stopped early (crossed)"
    return text + "."
