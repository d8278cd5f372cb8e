"""Which rows train and which test: a test file, a share held out of the training file
(`--test-size`, iterative stratification), or the split the file records (MEKA's
`-split-number` / `-split-percentage`, used by default with a notice)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError


@dataclass
class Holdout:
    """The training rows, the test rows (None: no test set) and what the user should know."""

    train: Dataset
    test: Dataset | None
    notices: list[str] = field(default_factory=list)


def check_test_size(test_size: float | None, has_test_file: bool = False) -> None:
    """`--test-size` is a share in (0, 1), and not given with a test file."""
    if test_size is None:
        return
    if has_test_file:
        raise ConfigError("give a test file (--test) or a share to hold out (--test-size), "
                          "not both")
    if isinstance(test_size, bool) or not 0.0 < float(test_size) < 1.0:
        raise ConfigError(f"`--test-size` must be a number in (0, 1); got {test_size}")


def hold_out(data: Dataset, test: Dataset | None = None, *, test_size: float | None = None,
             recorded: bool = True, seed: int = 0) -> Holdout:
    """The rows of `data` to train on and the rows to test on: `test` when given, else a
    stratified share `test_size` of `data`, else (with `recorded`) the split `data` records."""
    check_test_size(test_size, test is not None)
    if test is not None:
        return Holdout(data, test)
    if test_size is not None:
        return _share(data, float(test_size), seed)
    if recorded and data.split_rows is not None:
        return _recorded(data)
    return Holdout(data, None)


def _share(data: Dataset, test_size: float, seed: int) -> Holdout:
    from multitag.data.splits import assign

    n_test = round(data.n_samples * test_size)
    if n_test < 1 or data.n_samples - n_test < 2:
        raise DataFormatError(f"{data.name or 'data'} has {data.n_samples} rows: too few to "
                              f"hold out {test_size:g} of them as a test set")
    part = assign(data.Y_dense(), [1 - test_size, test_size], method="stratified", seed=seed)
    train_rows, test_rows = np.flatnonzero(part == 0), np.flatnonzero(part == 1)
    notice = (f"held out {len(test_rows):,} of {data.n_samples:,} rows ({test_size:g}) as the "
              f"test set, stratified over the labels (seed {seed})")
    return Holdout(data.subset(train_rows, f"{data.name}-train"),
                   data.subset(test_rows, f"{data.name}-test"), [notice])


def _recorded(data: Dataset) -> Holdout:
    n_train = int(data.split_rows)
    rows = np.arange(data.n_samples)
    notice = (f"{data.name or 'the file'} records a train/test split: its first {n_train:,} "
              f"rows train, the other {data.n_samples - n_train:,} test (--test, --test-size "
              "or --all-rows to choose otherwise)")
    return Holdout(data.subset(rows[:n_train], f"{data.name}-train"),
                   data.subset(rows[n_train:], f"{data.name}-test"), [notice])


def read_labelled(path: object, reader: object, label_names: list[str]) -> Dataset:
    """Labelled data to score a model (or training data) with labels `label_names`: a
    multi-target attribute is read with all its values, then the model's labels are kept (the
    file's own most frequent value may differ from the training file's). An ARFF file that does
    not say which attributes are labels has the model's."""
    from dataclasses import replace

    from multitag.data import load
    from multitag.data.registry import make_options
    from multitag.pipeline.evaluate import align_labels

    data = load(path, replace(make_options(reader), all_target_values=True,
                              known_labels=tuple(label_names)))
    return align_labels(label_names, data)


def load_split(path: object, reader: object = None, *, test: object = None,
               test_size: float | None = None, all_rows: bool = False,
               seed: int = 0) -> Holdout:
    """Training rows and test rows (or none): from two files, a held-out share, or the split
    the file records."""
    from multitag.data import load

    train = load(path, reader)
    test_data = read_labelled(test, reader, train.label_names) if test is not None else None
    return hold_out(train, test_data, test_size=test_size, recorded=not all_rows, seed=seed)


def read_pair(path: object, reader: object = None, *, test: object = None,
              test_size: float | None = None, all_rows: bool = False,
              seed: int = 0) -> Holdout:
    """Training and test rows for a command that must score on a test set (compare, curve):
    from two files, a held-out share, or the split the file records."""
    check_test_size(test_size, test is not None)
    split = load_split(path, reader, test=test, test_size=test_size, all_rows=all_rows,
                       seed=seed)
    if split.test is None:
        raise ConfigError(f"{path}: a test set is needed: give --test FILE or --test-size F "
                          "(or use `multitag cv` for cross-validated scores)")
    return split
