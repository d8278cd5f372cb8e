"""What every report figure shares: an Agg-backed matplotlib Figure, PNG output, and `Drawn`,
the result of drawing one figure (its caption, the Figure itself, the label key it needs).

A figure that would have nothing to show is not drawn at all: its function returns a `Drawn`
whose `figure` is None and whose caption says why, and the report prints that sentence instead
of an empty picture. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multitag.exceptions import ConfigError

DPI = 110


@dataclass(frozen=True)
class Drawn:
    """One figure: `caption` (one or two sentences), the matplotlib `figure` (None when the
    figure was left out: nothing was written) and `key`, the (code, full label name) pairs
    of the label names the figure shows abbreviated."""

    caption: str
    figure: Any = None
    key: tuple[tuple[str, str], ...] = ()

    @property
    def drawn(self) -> bool:
        return self.figure is not None


def new_figure(width: float, height: float) -> Any:
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


def save_png(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=DPI, format="png", facecolor="white")


def left_out(caption: str) -> Drawn:
    """A figure that is not drawn; `caption` says why."""
    return Drawn(caption=caption)
