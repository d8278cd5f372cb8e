"""Training settings chosen from the shape of the data, each one overridable.

The principles, measured on the seven Mulan benchmark sets (benchmarks/mulan.py):
- Few rows (under `SMALL_ROWS`): a 10% validation slice is a few dozen rows, too noisy to stop
  training or tune a threshold on. Train `SMALL_ENSEMBLE` cross-fitted networks instead: every
  row is validation data for one of them, the threshold is tuned on all rows' out-of-fold
  probabilities, and averaging removes most of the seed-to-seed spread.
- The decision rule (`auto`): one global threshold or one per label, whichever scores better
  under threshold cross-validation on the held-out rows (multitag.pipeline.selection).
- Early stopping watches the objective (micro-F1 at its best threshold) rather than the
  validation loss: on small data the loss turns up while decisions still improve.
- Asymmetric loss (Ridnik et al. 2021) by default: most cells of a multi-label matrix are easy
  negatives; ASL down-weights them, which rare labels need.
- More rows carry a wider layer and larger batches (throughput); sparse, wide input (text)
  gets more dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

SMALL_ROWS = 5_000
SMALL_ENSEMBLE = 5
LARGE_ROWS = 20_000
SPARSE_DENSITY = 0.1


@dataclass(frozen=True)
class DataShape:
    """What the defaults look at."""

    n_rows: int
    n_features: int
    n_labels: int
    density: float

    @property
    def sparse(self) -> bool:
        return self.density < SPARSE_DENSITY


def data_shape(X: Any, Y: Any) -> DataShape:
    """The shape of features `X` (dense or CSR, after preprocessing) and labels `Y`."""
    n_rows, n_features = X.shape
    nonzero = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    density = nonzero / max(n_rows * n_features, 1)
    return DataShape(int(n_rows), int(n_features), int(Y.shape[1]), float(density))


def shaped_defaults(shape: DataShape) -> dict[str, Any]:
    """Settings for data of this shape (`TrainOptions` field names)."""
    small = shape.n_rows < SMALL_ROWS
    large = shape.n_rows >= LARGE_ROWS
    return {
        "hidden": (512,) if large else (256,),
        "dropout": 0.5 if shape.sparse else 0.2,
        "batch_size": 256 if large else 128 if not small else 64,
        "epochs": 100,
        "ensemble": SMALL_ENSEMBLE if small else 1,
        "early_stopping_monitor": "objective",
        "early_stopping_patience": 20 if small else 10,
        "loss": "asymmetric",
    }


def describe(shape: DataShape, chosen: dict[str, Any]) -> str:
    """One line for the user: what was chosen from what."""
    kind = "sparse" if shape.sparse else "dense"
    settings = ", ".join(f"{k}={_show(v)}" for k, v in chosen.items())
    return (f"settings from the data ({shape.n_rows:,} rows, {shape.n_features:,} {kind} "
            f"features, {shape.n_labels:,} labels): {settings}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)
