"""The label columns of ARFF label attributes, and the label matrix.

A numeric label attribute, or a nominal one whose values all read as 0/1 ({0,1}, {no,yes},
{false,true}, ...), is one label named as the attribute. Another two-valued nominal is one
label `attribute=<positive value>` (`multitag.data.encoding.positive_value`). A nominal of more
values (a MEKA multi-target attribute) becomes a label `attribute=value` per value, by default
leaving out its most frequent value in the file, which is the implicit negative.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from multitag.data.arff.body import RawBody
from multitag.data.arff.header import Attribute
from multitag.data.encoding import binary_column, target_values, target_values_from_names
from multitag.data.limits import check_fits, dense_bytes
from multitag.data.reading import label_matrix
from multitag.exceptions import DataFormatError

_TRUE = ("1", "true", "yes", "y", "t")
_FALSE = ("0", "false", "no", "n", "f")


@dataclass(frozen=True)
class LabelColumn:
    """One label: its attribute, its name, and the 0/1 value of each nominal index of the
    attribute (None: a numeric attribute, whose values must be 0 or 1)."""

    attribute: int
    name: str
    mapping: np.ndarray | None = None


def zero_one_map(attr: Attribute) -> np.ndarray | None:
    """For a nominal whose values all read as 0/1: the 0/1 value of each index; else None."""
    low = [v.strip().lower() for v in attr.values]
    if all(v in _TRUE + _FALSE or _float_01(v) is not None for v in low):
        return np.array([1.0 if v in _TRUE or _float_01(v) == 1 else 0.0 for v in low])
    return None


def _float_01(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def is_multi_valued(attr: Attribute) -> bool:
    """A target attribute that becomes several labels (a nominal of 3+ values, not 0/1)."""
    return attr.kind == "nominal" and len(attr.values) > 2 and zero_one_map(attr) is None


def label_columns(
    attributes: list[Attribute], label_idx: list[int], path: Path, *,
    counts: dict[int, np.ndarray], all_values: bool = False,
    label_names: Collection[str] | None = None,
) -> tuple[list[LabelColumn], tuple[str, ...]]:
    """The label columns of the label attributes, and notices about multi-valued ones.

    `counts`: value counts in the file of each multi-valued attribute (not needed with
    `all_values`, or when a model's `label_names` say which values are labels)."""
    columns: list[LabelColumn] = []
    notices: list[str] = []
    for j in label_idx:
        attr = attributes[j]
        if attr.kind == "numeric":
            columns.append(LabelColumn(j, attr.name))
            continue
        mapping = zero_one_map(attr) if attr.kind == "nominal" else None
        if mapping is not None:
            columns.append(LabelColumn(j, attr.name, mapping))
        elif attr.kind == "nominal" and len(attr.values) == 2:
            name, positive = binary_column(attr.name, attr.values)
            columns.append(LabelColumn(j, name, (np.arange(2) == positive).astype(float)))
        elif attr.kind == "nominal" and len(attr.values) > 2:
            kept = target_values_from_names(attr.name, attr.values, label_names or ())
            if kept is None:
                kept, notice = target_values(attr.name, attr.values, counts.get(j), all_values)
                notices.append(notice)
            k = len(attr.values)
            check_fits(dense_bytes(len(kept), k), f"the {len(kept):,} labels of attribute "
                       f"{attr.name!r} ({k:,} values)", path, attr.line)
            columns += [LabelColumn(j, f"{attr.name}={attr.values[v]}",
                                    (np.arange(k) == v).astype(float)) for v in kept]
        else:
            shown = "{" + ",".join(attr.values) + "}" if attr.kind == "nominal" else attr.kind
            raise DataFormatError(
                f"label attribute {attr.name!r} must be numeric or nominal; got {shown}",
                path=path, line=attr.line)
    return columns, tuple(notices)


def labels_of(body: RawBody, attributes: list[Attribute], columns: list[LabelColumn],
              path: Path) -> np.ndarray | sp.csr_matrix:
    """The 0/1 label matrix; a value that is not 0 or 1 (or `?`) is an error naming its line."""
    maps = [c.mapping for c in columns]
    remap = any(m is not None and not np.array_equal(m, [0.0, 1.0]) for m in maps)
    n = body.values.shape[0]
    if remap or not body.sparse:
        check_fits(dense_bytes(n, len(columns)),
                   f"the label matrix of {n:,} rows and {len(columns):,} labels", path)
    raw = body.values[:, [c.attribute for c in columns]]
    if remap:
        raw = raw.toarray() if sp.issparse(raw) else raw.copy()
        for j, mapping in enumerate(maps):
            if mapping is not None:
                col = raw[:, j]
                ok = ~np.isnan(col)
                col[ok] = mapping[col[ok].astype(np.int64)]
    raw = sp.csr_matrix(raw)
    bad = np.flatnonzero((raw.data != 0) & (raw.data != 1))
    if bad.size:
        row = int(np.searchsorted(raw.indptr, bad[0], side="right") - 1)
        name = attributes[columns[int(raw.indices[bad[0]])].attribute].name
        value = raw.data[bad[0]]
        got = "a missing value (?)" if np.isnan(value) else f"{value:g}"
        raise DataFormatError(
            f"label {name!r} has {got}; expected 0 or 1", path=path, line=int(body.row_lines[row])
        )
    return label_matrix(raw)
