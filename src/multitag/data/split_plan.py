"""How a run splits its data (test part, validation from training, or k folds), as one object.

`plan_parts` gives the named parts; `plan_split_report` loads the file(s) and counts every label
in every part (what `multitag data split-report` shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from multitag.data.dataset import Dataset
from multitag.data.registry import ReaderOptions, load
from multitag.data.splits import METHODS, kfold, train_test_split, validation_split
from multitag.data.summary import SplitReport, split_report
from multitag.exceptions import ConfigError


@dataclass(frozen=True)
class SplitPlan:
    """`test_size` is used when there is no separate test file; `valid_size` 0 means none."""

    test_size: float = 0.2
    valid_size: float = 0.1
    method: str = "stratified"
    folds: int = 0
    seed: int = 0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"`method` must be one of {', '.join(METHODS)}; got {self.method!r}")
        for name in ("test_size", "valid_size"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ConfigError(f"`{name}` must be a fraction in [0, 1); got {value!r}")
        if self.folds == 1 or self.folds < 0:
            raise ConfigError(f"`folds` must be 0 (no k-fold) or at least 2; got {self.folds}")


def plan_parts(data: Dataset, plan: SplitPlan, test: Dataset | None = None) -> dict[str, Dataset]:
    """Named parts: fold1..foldK, or train / validation / test (validation from training)."""
    plan.validate()
    if plan.folds:
        pairs = kfold(data, plan.folds, method=plan.method, seed=plan.seed)
        return {f"fold{i + 1}": data.subset(rows) for i, (_, rows) in enumerate(pairs)}
    train = data
    if test is None and plan.test_size > 0:
        train, test = train_test_split(data, plan.test_size, method=plan.method, seed=plan.seed)
    parts = {"train": train}
    if plan.valid_size > 0:
        parts["train"], parts["validation"] = validation_split(
            train, plan.valid_size, method=plan.method, seed=plan.seed
        )
    if test is not None:
        parts["test"] = test
    return parts


def plan_split_report(
    path: Path, options: ReaderOptions, plan: SplitPlan, test_path: Path | None = None
) -> SplitReport:
    """Load `path` (and the test file) and count each label in each part of `plan`."""
    plan.validate()
    data = load(path, options)
    test = load(test_path, options) if test_path is not None else None
    method = f"{plan.folds}-fold {plan.method}" if plan.folds else plan.method
    if test is not None and not plan.folds:
        method += ", test from the file"
    return split_report(plan_parts(data, plan, test), method=f"{method}, seed {plan.seed}")
