"""The training data as the networks see it, whichever mode it came from.

In memory, the `Preprocessor` is fitted on the whole training set and applied to it; streamed
(`multitag.pipeline.streaming`), one pass over the file gathers the same statistics and the
validation rows. Both give a `Prepared`: the fitted preprocessor, names, shape, label counts,
and either the features in memory or the plan to read them again every epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import DataFormatError
from multitag.options import AUTO, TrainOptions
from multitag.pipeline.defaults import DataShape, data_shape


@dataclass
class Prepared:
    """Preprocessed training data: in memory (`X`, `Y`) or streamed (`stream`)."""

    preprocessor: Any
    label_names: list[str]
    feature_names: list[str]
    shape: DataShape
    label_counts: np.ndarray
    X: Any = None
    Y: np.ndarray | None = None
    stream: Any = None
    notices: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return self.shape.n_rows

    @property
    def never(self) -> np.ndarray:
        """Labels positive in no training row."""
        return self.label_counts == 0

    @property
    def always(self) -> np.ndarray:
        """Labels positive in every training row."""
        return self.label_counts == self.n_rows


def prepare_memory(data: Dataset, options: TrainOptions) -> Prepared:
    """Fit the preprocessor on `data` and transform it."""
    from multitag.features.preprocessor import Preprocessor

    check_trainable(data, options)
    preprocessor = Preprocessor(scale=options.scale).fit(data)
    X, Y = preprocessor.transform(data), data.Y_dense()
    counts = np.asarray(Y.sum(axis=0)).ravel().astype(np.int64)
    notices = [*data.notices, *preprocessor.notices_,
               *constant_label_notices(data.label_names, counts, data.n_samples)]
    return Prepared(preprocessor, list(data.label_names), list(data.feature_names),
                    data_shape(X, Y), counts, X=X, Y=Y, notices=notices)


def check_trainable(train: Dataset, options: TrainOptions) -> None:
    """Labels to learn, and enough rows for an explicit validation split."""
    name = train.name or "training data"
    if train.n_labels == 0:
        raise DataFormatError(f"{name}: no label columns were found")
    if train.n_samples < 2:
        raise DataFormatError(f"{name} has {train.n_samples} row(s) (n_samples = "
                              f"{train.n_samples}); training needs at least 2")
    split = options.validation_split
    if split == AUTO or split == 0:
        return
    n_valid = int(train.n_samples * split)
    if n_valid < 1 or train.n_samples - n_valid < 1:
        raise DataFormatError(
            f"{name} has {train.n_samples} rows: too few for a validation split of {split:g} "
            f"(it needs at least {int(np.ceil(1 / split))} rows)")


def constant_label_notices(label_names: Sequence[str], counts: Any, n_rows: int) -> list[str]:
    """Notices naming the labels that never occur in, or occur in every one of, `n_rows`
    training rows (their positive `counts`): they are predicted constant."""
    notices = []
    for what, mask, value in (("never occur in training", np.asarray(counts) == 0, "absent"),
                              ("occur in every training row", np.asarray(counts) == n_rows,
                               "present")):
        names = [str(n) for n, m in zip(label_names, mask) if m]
        if names:
            more = f" (+{len(names) - 10} more)" if len(names) > 10 else ""
            notices.append(f"{len(names)} label(s) {what} and will be predicted {value}: "
                           f"{', '.join(names[:10])}{more}")
    return notices
