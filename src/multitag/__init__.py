"""multitag: multi-label classification with neural networks.

`import multitag` is cheap: the public names are loaded on first use, so the CLI and tools that
only need one part never pay for torch or scikit-learn imports they do not use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Dataset": "multitag.data.dataset",
    "load": "multitag.data",
    "MultiLabelMLP": "multitag.estimator",
    "evaluate": "multitag.metrics.evaluation",
    "ModelBundle": "multitag.bundle.directory",
}

__all__ = [*_PUBLIC, "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from multitag.data import load as load
    from multitag.data.dataset import Dataset as Dataset
    from multitag.estimator import MultiLabelMLP as MultiLabelMLP
    from multitag.metrics.evaluation import evaluate as evaluate


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'multitag' has no attribute {name!r}")
