"""The learning-curve picture: one panel per model, training score dashed, test score solid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multitag.pipeline.curve import CurveResult


def plot_curve(curve: CurveResult, path: str | Path) -> Path:
    """Write the learning curves as a PNG (one panel per model: train dashed, test solid)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = curve.models
    fig = Figure(figsize=(4.2 * max(1, len(models)), 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(1, len(models)), sharey=True, squeeze=False)[0]
    for ax, model in zip(axes, models):
        pts = curve.for_model(model)
        sizes = [p.n_train for p in pts]
        ax.plot(sizes, _nan(p.train_score for p in pts), "o--", label="training")
        ax.plot(sizes, _nan(p.test_score for p in pts), "s-", label="test")
        ax.set_title(model)
        ax.set_xlabel("training rows")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(curve.metric + (" (higher is better)" if curve.greater_is_better
                                       else " (lower is better)"))
    axes[0].legend(loc="best")
    where = f" - {curve.dataset}" if curve.dataset else ""
    fig.suptitle(f"Learning curves{where} (test set: {curve.n_test} rows)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _nan(values: Any) -> list[float]:
    return [np.nan if v is None else v for v in values]
