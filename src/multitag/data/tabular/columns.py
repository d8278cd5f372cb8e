"""The feature columns of a table (a pandas frame), for the whole-file and the chunked readers.

Numeric columns stay as they are; a text column becomes what `multitag.data.encoding.
text_column` decides from the whole file's distinct values: one-hot (`col=value`), one 0/1
column for two values (`col=<positive value>`), or left out with a notice (an identifier or
free text). A missing cell is NaN in every column of its column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.data.encoding import (
    FeatureEncoding,
    TextColumn,
    check_drop_columns,
)
from multitag.data.limits import check_fits, table_bytes


def encode_frame(frame: Any, plans: dict[Any, TextColumn], *, user_dropped: int,
                 path: Path) -> tuple[np.ndarray, list[str], FeatureEncoding, list[str]]:
    """(X, names, encoding, notices) of the feature columns of `frame` (`user_dropped` more
    were left out by --drop-columns); `plans` holds the encoding of each text column (a column
    without one is numeric). The matrix must fit the memory budget before it is built."""
    check_encoded_size(frame, plans, path)
    attributes = frame.shape[1] + user_dropped
    blocks, names, notices = [], [], []
    one_hot = binary = identifiers = unusable = 0
    example = ""
    for col in frame.columns:
        series = frame[col]
        plan = plans.get(col)
        if plan is None:
            blocks.append(series.to_numpy(dtype=np.float64).reshape(-1, 1))
            names.append(str(col))
            continue
        if not plan.kept:
            notices.append(plan.notice)
            identifiers += plan.kind == "identifier"
            unusable += plan.kind != "identifier"
            continue
        cells = series.astype(object).where(series.notna(), None).tolist()
        blocks.append(one_hot_block(cells, list(plan.categories)))
        names.extend(plan.names)
        if plan.kind == "binary":
            binary += 1
            example = example or plan.example
        else:
            one_hot += 1
    X = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
    encoding = FeatureEncoding(
        attributes=attributes, one_hot=one_hot, binary=binary, binary_example=example,
        identifiers=identifiers, unusable=unusable, user_dropped=user_dropped)
    return X, names, encoding, notices


def one_hot_block(cells: list[Any], categories: list[str]) -> np.ndarray:
    """One column per category (1 where the cell's text is it; a cell of another value is 0 in
    every column, so one category gives a 0/1 column); a None cell is a row of NaN."""
    column = {v: j for j, v in enumerate(categories)}
    block = np.zeros((len(cells), len(categories)))
    for i, v in enumerate(cells):
        if v is None:
            block[i] = np.nan
        elif str(v) in column:
            block[i, column[str(v)]] = 1.0
    return block


def drop_columns(columns: Sequence[Any], options: Any, not_features: set[Any],
                 path: Path) -> set[Any]:
    """The columns `--drop-columns` names (labels, tags or the text column are an error)."""
    protected = {str(c): "a label" for c in not_features}
    for col, what in ((options.tags_column, "the --tags-column"),
                      (options.text_column, "the --text-column")):
        if col is not None:
            protected[str(col)] = what
    names = check_drop_columns(options.drop_columns, [str(c) for c in columns], protected,
                               path)
    return {c for c in columns if str(c) in names}


def check_encoded_size(frame: Any, plans: dict[Any, TextColumn], path: Path) -> None:
    """The float64 feature matrix (a column per numeric column, per one-hot value) must fit
    before it is built."""
    width = sum(len(plans[c].names) if c in plans else 1 for c in frame.columns)
    check_fits(table_bytes(len(frame), width),
               f"the feature matrix of {len(frame):,} rows and {width:,} columns", path)
