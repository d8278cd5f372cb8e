"""ARFF feature attributes -> feature columns, by the one policy of `multitag.data.encoding`.

Numeric attributes and nominal {0,1} stay one column as they are; another two-valued nominal is
one 0/1 column `attribute=<positive value>`; a nominal of 3+ values is one-hot
(`attribute=value`). A nominal or string attribute distinct on nearly every row is an
identifier and left out; so are string and date attributes and those named by --drop-columns.
A missing value (`?`) is NaN in every column of its attribute. `ArffPlan` holds what the whole
file decides (the chunked reader finds it in a first pass when it must).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from multitag.data.arff.body import RawBody
from multitag.data.arff.header import Attribute
from multitag.data.arff.targets import LabelColumn
from multitag.data.encoding import (
    IDENTIFIER_MIN_ROWS,
    IDENTIFIER_SHARE,
    FeatureEncoding,
    binary_column,
    binary_example,
    distinct_counts,
    identifier_notice,
    is_identifier,
    is_zero_one,
)


@dataclass(frozen=True)
class ArffPlan:
    """The columns of a file: label attributes and their label columns, the text attribute,
    the feature attributes left out (by --drop-columns; identifiers with their distinct values
    over `n_rows` rows), and notices for the first Dataset."""

    label_idx: list[int]
    text_idx: int | None
    labels: list[LabelColumn]
    dropped: frozenset[int] = frozenset()
    identifiers: dict[int, int] = field(default_factory=dict)
    n_rows: int = 0
    notices: tuple[str, ...] = ()
    split_rows: int | None = None

    def feature_attributes(self, n_attributes: int) -> list[int]:
        return feature_attributes(n_attributes, self.label_idx, self.text_idx)


def feature_attributes(n_attributes: int, label_idx: list[int],
                       text_idx: int | None) -> list[int]:
    """Attributes that are neither labels nor the text attribute."""
    skip = set(label_idx) | ({text_idx} if text_idx is not None else set())
    return [j for j in range(n_attributes) if j not in skip]


class NominalCounts:
    """How often each value of chosen nominal attributes occurs, over the rows added."""

    def __init__(self, attributes: list[Attribute], wanted: list[int]) -> None:
        self.counts = {j: np.zeros(len(attributes[j].values), dtype=np.int64) for j in wanted}
        self.n_rows = 0

    def add(self, values: np.ndarray | sp.csr_matrix) -> None:
        self.n_rows += values.shape[0]
        if not self.counts:
            return
        wanted = list(self.counts)
        block = values[:, wanted]
        if not sp.issparse(block):
            for k, j in enumerate(wanted):
                self.counts[j] += distinct_counts(block[:, k], len(self.counts[j]))
            return
        block = block.tocsc()  # column by column: never rows x attributes dense
        for k, j in enumerate(wanted):
            stored = block.data[block.indptr[k]:block.indptr[k + 1]]
            self.counts[j] += distinct_counts(stored, len(self.counts[j]))
            self.counts[j][0] += values.shape[0] - len(stored)  # absent: value index 0


def identifier_candidates(attributes: list[Attribute], features: list[int]) -> list[int]:
    """Nominal feature attributes with enough declared values to be an identifier."""
    least = IDENTIFIER_SHARE * IDENTIFIER_MIN_ROWS
    return [j for j in features
            if attributes[j].kind == "nominal" and len(attributes[j].values) >= least]


def find_identifiers(counts: NominalCounts, candidates: list[int],
                     strings: dict[int, int] | None = None) -> dict[int, int]:
    """Attribute -> distinct values, of the candidates (and string attributes: `strings`,
    attribute -> distinct values) that are identifiers."""
    distinct = {j: int((counts.counts[j] > 0).sum()) for j in candidates}
    distinct.update(strings or {})
    return {j: d for j, d in distinct.items() if is_identifier(d, counts.n_rows)}


def string_distinct(body: RawBody, attributes: list[Attribute],
                    features: list[int]) -> dict[int, int]:
    """Distinct values of each string feature attribute (the row parser numbers them)."""
    out = {}
    for j in features:
        if attributes[j].kind == "string":
            column = body.values[:, [j]]
            column = column.toarray().ravel() if sp.issparse(column) else column.ravel()
            out[j] = len(np.unique(column[~np.isnan(column)]))
    return out


def identifier_notices(plan: ArffPlan, attributes: list[Attribute]) -> tuple[str, ...]:
    return tuple(identifier_notice("attribute", attributes[j].name, d, plan.n_rows)
                 for j, d in sorted(plan.identifiers.items()) if d)  # 0: known from a model


def encode_features(
    body: RawBody, attributes: list[Attribute], plan: ArffPlan
) -> tuple[np.ndarray | sp.csr_matrix, list[str], FeatureEncoding, list[Attribute]]:
    """Feature blocks in attribute order: direct columns, 0/1 columns, one-hot blocks.
    Returns X, names, the encoding, and the string/date attributes left out."""
    blocks: list[np.ndarray | sp.csr_matrix] = []
    names: list[str] = []
    unusable: list[Attribute] = []
    run: list[int] = []
    one_hot = binary = 0
    example = ""
    features = plan.feature_attributes(len(attributes))
    for j in features:
        attr = attributes[j]
        if j in plan.dropped or j in plan.identifiers:
            continue
        if attr.kind in ("string", "date"):
            unusable.append(attr)
            continue
        if attr.kind == "numeric" or attr.values == ("0", "1"):
            run.append(j)
            names.append(attr.name)
            continue
        if run:
            blocks.append(body.values[:, run])
            run = []
        block, block_names = _nominal_block(body.values, j, attr)
        blocks.append(block)
        names.extend(block_names)
        if len(attr.values) != 2:
            one_hot += 1
        elif not is_zero_one(attr.values):
            binary += 1
            example = example or binary_example(attr.values)
    if run:
        blocks.append(body.values[:, run])
    encoding = FeatureEncoding(
        attributes=len(features), one_hot=one_hot, binary=binary, binary_example=example,
        identifiers=len(plan.identifiers), unusable=len(unusable),
        user_dropped=len(plan.dropped))
    return _stack(blocks, body), names, encoding, unusable


def encoded_size(body: RawBody, attributes: list[Attribute], plan: ArffPlan) -> tuple[int, str]:
    """(bytes, what) of the feature matrix `encode_features` would build, found before it is
    built: dense rows x columns float64, or sparse values (a one-hot row of a missing value
    holds a NaN in each of its columns). `what` names the widest one-hot attribute."""
    n = body.values.shape[0]
    width, widest = 0, (0, -1)
    nnz = int(body.values.indptr[-1]) if body.sparse else 0  # the direct columns at most
    missing: np.ndarray | None = None  # per column, counted in one pass when first needed
    for j in plan.feature_attributes(len(attributes)):
        attr = attributes[j]
        if j in plan.dropped or j in plan.identifiers or attr.kind in ("string", "date"):
            continue
        k = 1 if attr.kind == "numeric" or len(attr.values) <= 2 else len(attr.values)
        width += k
        if k > 1 and k > widest[0]:
            widest = (k, j)
        if body.sparse and k > 1:
            if missing is None:
                missing = _missing_per_column(body.values)
            nnz += n + int(missing[j]) * (k - 1)
    if body.sparse:
        nnz = min(nnz, n * width)
        nbytes, kind = nnz * 12 + (n + 1) * 8, "sparse"
    else:
        nbytes, kind = n * width * 8, "dense float64"
    what = f"the {kind} feature matrix of {n:,} rows and {width:,} columns"
    if widest[1] >= 0:
        what += (f" (one-hot attribute {attributes[widest[1]].name!r} has {widest[0]:,} "
                 "values; --drop-columns leaves it out)")
    return nbytes, what


def _missing_per_column(values: sp.csr_matrix) -> np.ndarray:
    """Missing (NaN) values in each column of a sparse body."""
    return np.bincount(values.indices[np.isnan(values.data)], minlength=values.shape[1])


def _nominal_block(
    values: np.ndarray | sp.csr_matrix, j: int, attr: Attribute
) -> tuple[np.ndarray | sp.csr_matrix, list[str]]:
    column = values[:, [j]].toarray().ravel() if sp.issparse(values) else values[:, j]
    missing = np.isnan(column)
    index = np.where(missing, 0, column).astype(np.int64)
    if len(attr.values) == 2:
        name, positive = binary_column(attr.name, attr.values)
        out = (index == positive).astype(np.float64)
        out[missing] = np.nan
        block = out.reshape(-1, 1)
        return (sp.csr_matrix(block) if sp.issparse(values) else block), [name]
    names = [f"{attr.name}={v}" for v in attr.values]
    n, k = len(column), len(attr.values)
    if sp.issparse(values):
        rows = np.concatenate([np.flatnonzero(~missing), np.repeat(np.flatnonzero(missing), k)])
        cols = np.concatenate([index[~missing], np.tile(np.arange(k), int(missing.sum()))])
        data = np.concatenate([np.ones(int((~missing).sum())), np.full(k * missing.sum(), np.nan)])
        return sp.csr_matrix((data, (rows, cols)), shape=(n, k)), names
    block = np.zeros((n, k))
    block[np.arange(n), index] = 1.0
    block[missing] = np.nan
    return block, names


def _stack(blocks: list, body: RawBody) -> np.ndarray | sp.csr_matrix:
    n = body.values.shape[0]
    if not blocks:
        return sp.csr_matrix((n, 0)) if body.sparse else np.zeros((n, 0))
    if body.sparse:
        return blocks[0].tocsr() if len(blocks) == 1 else sp.hstack(blocks, format="csr")
    return blocks[0] if len(blocks) == 1 else np.hstack(blocks)
