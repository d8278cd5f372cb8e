"""Mulan and MEKA ARFF files -> `Dataset`.

Labels are the attributes named by `--labels-xml`, `--label-columns`/`--label-prefix`, the
Mulan XML found beside the file, or MEKA's `-C n` in `@relation` (in that order). Nominal
features become one-hot columns named `attribute=value` (a `{0,1}` attribute stays one column);
string and date attributes are dropped with a notice; `?` becomes NaN for the preprocessor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from multitag.data.arff.body import RawBody, parse_body
from multitag.data.arff.header import Attribute, Header, parse_header
from multitag.data.arff.labels import (
    find_labels_xml,
    labels_from_meka,
    labels_from_names,
    labels_from_xml,
)
from multitag.data.dataset import Dataset
from multitag.data.reading import base_name, label_matrix, read_text
from multitag.data.registry import ReaderOptions
from multitag.exceptions import DataFormatError

_TRUE = ("1", "true", "yes", "y", "t")
_FALSE = ("0", "false", "no", "n", "f")


def read_arff(path: Path, options: ReaderOptions | None = None) -> Dataset:
    """Read a (possibly .gz/.bz2/.xz compressed) ARFF file with dense or sparse rows."""
    options = options or ReaderOptions()
    text, notices = read_text(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = parse_header(lines, path)
    label_idx, source = label_indices(header, path, options)
    text_idx = text_attribute(header, options.text_column, path)
    body = parse_body(lines, header, path, text_idx)
    notices += (f"labels: {len(label_idx)} attribute(s) named by {source}",)
    return dataset_from_body(body, header, path, (label_idx, text_idx), notices)


def dataset_from_body(
    body: RawBody, header: Header, path: Path, columns: tuple[list[int], int | None],
    notices: tuple[str, ...] = (), *, with_labels: bool = True,
) -> Dataset:
    """The Dataset of parsed rows; `columns` = (label attribute indices, text attribute).
    `with_labels=False` (prediction) leaves the labels out unchecked: Y has no columns."""
    label_idx, text_idx = columns
    if with_labels:
        Y = _labels(body, header.attributes, label_idx, path)
    else:
        Y = np.zeros((body.values.shape[0], 0), dtype=np.uint8)
    skip = set(label_idx) | ({text_idx} if text_idx is not None else set())
    X, names, dropped = _features(body, header.attributes, skip)
    notices += tuple(
        f"dropped {a.kind} attribute {a.name!r} (line {a.line}): not usable as a feature"
        + (" (if it is text: --text-column)" if a.kind == "string" else "")
        for a in dropped
    )
    has_missing = _check_values(X, body.row_lines, path)
    if has_missing:
        notices += (f"{_count_nan(X)} missing values (?) in the features; the preprocessor "
                    "imputes them",)
    return Dataset(
        X=X, Y=Y, feature_names=names,
        label_names=[header.attributes[i].name for i in label_idx] if with_labels else [],
        name=base_name(path), has_missing=has_missing, notices=notices, texts=body.texts,
    )


def text_attribute(header: Header, name: str | None, path: Path) -> int | None:
    """Index of the attribute `--text-column` names (its raw values become Dataset.texts)."""
    if name is None:
        return None
    names = [a.name for a in header.attributes]
    if name not in names:
        raise DataFormatError(
            f"no attribute {name!r} for --text-column; expected one of the @attribute names",
            path=path,
        )
    return names.index(name)


def label_indices(header: Header, path: Path, options: ReaderOptions) -> tuple[list[int], str]:
    if options.labels_xml is not None:
        return labels_from_xml(options.labels_xml, header, path), options.labels_xml.name
    if options.label_columns or options.label_prefix:
        idx = labels_from_names(
            header.attributes, options.label_columns, options.label_prefix, path
        )
        return idx, "the label options"
    xml = find_labels_xml(path)
    if xml is not None:
        return labels_from_xml(xml, header, path), xml.name
    meka = labels_from_meka(header, path)
    if meka is not None:
        return meka, "-C in @relation"
    raise DataFormatError(
        "cannot tell which attributes are labels; expected a Mulan XML file beside it, "
        "'-C n' in @relation (MEKA), or --labels-xml / --label-columns / --label-prefix",
        path=path,
    )


def _binary_map(attr: Attribute, path: Path) -> np.ndarray | None:
    """For a nominal label: the 0/1 value of each nominal index; None for numeric labels."""
    if attr.kind == "numeric":
        return None
    if attr.kind == "nominal":
        low = [v.strip().lower() for v in attr.values]
        if all(v in _TRUE + _FALSE or _is_float_01(v) for v in low):
            return np.array([1.0 if v in _TRUE or _is_float_01(v) == 1 else 0.0 for v in low])
    shown = "{" + ",".join(attr.values) + "}" if attr.kind == "nominal" else attr.kind
    raise DataFormatError(
        f"label attribute {attr.name!r} must be numeric or nominal {{0,1}}; got {shown}",
        path=path, line=attr.line,
    )


def _is_float_01(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def _labels(
    body: RawBody, attributes: list[Attribute], label_idx: list[int], path: Path
) -> np.ndarray | sp.csr_matrix:
    maps = [_binary_map(attributes[i], path) for i in label_idx]
    raw = body.values[:, label_idx]
    if any(m is not None and not np.array_equal(m, [0.0, 1.0]) for m in maps):
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
        name = attributes[label_idx[int(raw.indices[bad[0]])]].name
        value = raw.data[bad[0]]
        got = "a missing value (?)" if np.isnan(value) else f"{value:g}"
        raise DataFormatError(
            f"label {name!r} has {got}; expected 0 or 1", path=path, line=int(body.row_lines[row])
        )
    return label_matrix(raw)


def _features(
    body: RawBody, attributes: list[Attribute], skip: set[int]
) -> tuple[np.ndarray | sp.csr_matrix, list[str], list[Attribute]]:
    """Feature blocks in attribute order: direct columns, remapped {0,1} columns, one-hot."""
    blocks: list[np.ndarray | sp.csr_matrix] = []
    names: list[str] = []
    dropped: list[Attribute] = []
    run: list[int] = []
    for j, attr in enumerate(attributes):
        if j in skip:
            continue
        if attr.kind in ("string", "date"):
            dropped.append(attr)
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
    if run:
        blocks.append(body.values[:, run])
    return _stack(blocks, body), names, dropped


def _nominal_block(
    values: np.ndarray | sp.csr_matrix, j: int, attr: Attribute
) -> tuple[np.ndarray | sp.csr_matrix, list[str]]:
    column = values[:, [j]].toarray().ravel() if sp.issparse(values) else values[:, j]
    missing = np.isnan(column)
    index = np.where(missing, 0, column).astype(np.int64)
    if set(attr.values) == {"0", "1"}:
        out = np.array([float(v) for v in attr.values])[index]
        out[missing] = np.nan
        block = out.reshape(-1, 1)
        return (sp.csr_matrix(block) if sp.issparse(values) else block), [attr.name]
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


def _check_values(X: np.ndarray | sp.csr_matrix, row_lines: np.ndarray, path: Path) -> bool:
    """Inf (a number too large) is an error naming the line; returns whether NaN occurs."""
    data = X.data if sp.issparse(X) else X
    big = np.isinf(data) | (np.abs(np.nan_to_num(data)) > np.finfo(np.float32).max)
    if big.any():
        if sp.issparse(X):
            pos = int(np.flatnonzero(big.ravel())[0])
            row = int(np.searchsorted(X.indptr, pos, side="right") - 1)
        else:
            row = int(np.flatnonzero(big.any(axis=1))[0])
        raise DataFormatError(
            "a feature value is infinite or too large for float32; expected finite numbers",
            path=path, line=int(row_lines[row]),
        )
    return bool(np.isnan(data).any())


def _count_nan(X: np.ndarray | sp.csr_matrix) -> int:
    return int(np.isnan(X.data if sp.issparse(X) else X).sum())
