"""Metric names: the DESIGN.md list, which are lower-is-better, and parsing of user spellings.

`METRIC_NAMES` is the order every metrics JSON and table follows; `parse_metric_name` maps a
user's spelling ("P@5", "nDCG@5", "exact_match", ...) to its canonical name or raises
`ConfigError` listing the valid ones. This module does not import numpy or torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from multitag.exceptions import ConfigError

METRIC_NAMES: tuple[str, ...] = (
    "hamming_loss", "label_accuracy", "subset_accuracy", "micro_f1", "macro_f1", "samples_f1",
    "micro_precision", "micro_recall", "jaccard_samples", "roc_auc_micro", "roc_auc_macro",
    "average_precision_micro", "lrap", "ranking_loss", "coverage_error", "one_error",
    "precision_at_1", "precision_at_3", "precision_at_5", "ndcg_at_5", "loss",
)
LOWER_IS_BETTER = frozenset({"hamming_loss", "ranking_loss", "coverage_error", "one_error", "loss"})


def metric_names() -> tuple[str, ...]:
    """The metric names every metrics JSON holds, in DESIGN order."""
    return METRIC_NAMES


def greater_is_better(name: str) -> bool:
    """Whether a larger value of metric `name` is better (for marking the best in tables)."""
    return parse_metric_name(name) not in LOWER_IS_BETTER


_ALIASES = {"accuracy_subset": "subset_accuracy", "exact_match": "subset_accuracy",
            "lrap": "lrap", "bce": "loss", "hamming": "hamming_loss"}
_AT_K = re.compile(r"^(p|precision|ndcg)(?:@|_at_)(\d+)$")


def parse_metric_name(name: str, *, allow_any_k: bool = False) -> str:
    """The canonical name of metric `name` ("micro_f1", "P@5", "nDCG@5", ...).

    With `allow_any_k`, precision@k and nDCG@k are accepted for any k >= 1.
    Unknown names raise `ConfigError` listing the valid ones.
    """
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    match = _AT_K.match(key)
    if match:
        family = "ndcg" if match.group(1) == "ndcg" else "precision"
        key = f"{family}_at_{int(match.group(2))}"
        if allow_any_k and int(match.group(2)) >= 1:
            return key
    if key not in METRIC_NAMES:
        raise ConfigError(
            f"unknown metric {name!r}; valid names are: {', '.join(METRIC_NAMES)} "
            "(P@k and nDCG@k are accepted too)"
        )
    return key


def parse_metric_names(spec: str | Iterable[str]) -> list[str]:
    """Canonical names from a comma-separated string or a list; duplicates dropped."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [parse_metric_name(item) for item in items if str(item).strip()]
    if not names:
        raise ConfigError(f"no metric names given; valid names are: {', '.join(METRIC_NAMES)}")
    return list(dict.fromkeys(names))
