"""Mulan and MEKA ARFF files -> `Dataset`.

Labels are the attributes named by `--labels-xml`, `--label-columns`/`--label-prefix`, the
Mulan XML named like the file, MEKA's `-C n` in `@relation`, or the only XML file in the
file's folder (in that order); a multi-valued
nominal label (MEKA multi-target) becomes a label per value (`multitag.data.arff.targets`).
Features are encoded by `multitag.data.arff.encode` (nominal one-hot, two-valued nominals one
0/1 column, identifiers, string and date attributes and `--drop-columns` left out with a
notice); `?` becomes NaN for the preprocessor. MEKA's `-split-number`/`-split-percentage` set
`Dataset.split_rows`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from multitag.data.arff.body import RawBody, parse_body
from multitag.data.arff.encode import (
    ArffPlan,
    NominalCounts,
    encode_features,
    encoded_size,
    feature_attributes,
    find_identifiers,
    identifier_candidates,
    identifier_notices,
    string_distinct,
)
from multitag.data.arff.header import Header, parse_header
from multitag.data.arff.labels import (
    find_labels_xml,
    labels_by_model,
    labels_from_meka,
    labels_from_names,
    labels_from_xml,
    meka_split_rows,
)
from multitag.data.arff.targets import is_multi_valued, label_columns, labels_of
from multitag.data.dataset import Dataset
from multitag.data.encoding import check_drop_columns, target_values_from_names
from multitag.data.limits import check_fits
from multitag.data.reading import base_name, read_text
from multitag.data.registry import ReaderOptions
from multitag.exceptions import DataFormatError


def read_arff(path: Path, options: ReaderOptions | None = None) -> Dataset:
    """Read a (possibly .gz/.bz2/.xz compressed) ARFF file with dense or sparse rows."""
    options = options or ReaderOptions()
    text, notices = read_text(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = parse_header(lines, path)
    columns = ColumnChoice(header, path, options)
    body = parse_body(lines, header, path, columns.text_idx)
    counts = NominalCounts(header.attributes, columns.counted)
    counts.add(body.values)
    plan = columns.plan(counts, string_distinct(body, header.attributes, columns.features))
    plan = replace(plan, split_rows=meka_split_rows(header, body.values.shape[0], path))
    return dataset_from_body(body, header, path, plan, notices)


class ColumnChoice:
    """What the header and the options decide: label, text, dropped and feature attributes,
    and which nominal attributes need their value counts in the file (multi-valued labels,
    possible identifiers). `plan(counts)` completes it into an `ArffPlan`."""

    def __init__(self, header: Header, path: Path, options: ReaderOptions,
                 label_names: Collection[str] | None = None, *, with_labels: bool = True,
                 feature_names: Collection[str] | None = None) -> None:
        self.header, self.path, self.options = header, path, options
        self.label_names, self.with_labels = label_names, with_labels
        self.known_identifiers: dict[int, int] = {}
        self.label_idx, source = label_indices(header, path, options)
        self.text_idx = text_attribute(header, options.text_column, path)
        self.dropped = drop_attributes(header, path, options, self.label_idx, self.text_idx)
        attributes = header.attributes
        self.features = [j for j in feature_attributes(len(attributes), self.label_idx,
                                                       self.text_idx) if j not in self.dropped]
        self.candidates = identifier_candidates(attributes, self.features)
        if feature_names is not None:  # a model's: an identifier left no column in it
            names = set(feature_names)
            self.known_identifiers = {
                j: 0 for j in self.candidates
                if not any(f"{attributes[j].name}={v}" in names for v in attributes[j].values)}
            self.candidates = []
        self.targets = [j for j in self.label_idx if is_multi_valued(attributes[j])]
        self.notices = (f"labels: {len(self.label_idx)} attribute(s) named by {source}",)

    @property
    def counted(self) -> list[int]:
        """Attributes whose value counts `plan` needs: possible identifiers, and multi-valued
        labels whose implicit negative is neither given by the options nor by label names."""
        targets = []
        if self.with_labels and not self.options.all_target_values:
            attributes = self.header.attributes
            targets = [j for j in self.targets if target_values_from_names(
                attributes[j].name, attributes[j].values, self.label_names or ()) is None]
        return sorted({*targets, *self.candidates})

    def plan(self, counts: NominalCounts, strings: dict[int, int] | None = None) -> ArffPlan:
        attributes = self.header.attributes
        labels, label_notices = [], ()
        if self.with_labels:
            labels, label_notices = label_columns(
                attributes, self.label_idx, self.path, counts=counts.counts,
                all_values=self.options.all_target_values, label_names=self.label_names)
        identifiers = {**self.known_identifiers,
                       **find_identifiers(counts, self.candidates, strings)}
        plan = ArffPlan(self.label_idx, self.text_idx, labels, frozenset(self.dropped),
                        identifiers, counts.n_rows)
        notices = self.notices + label_notices + identifier_notices(plan, attributes)
        return replace(plan, notices=notices)


def drop_attributes(header: Header, path: Path, options: ReaderOptions, label_idx: list[int],
                    text_idx: int | None) -> set[int]:
    """Indices of the attributes `--drop-columns` names (a label or the text is an error)."""
    names = [a.name for a in header.attributes]
    protected = {names[j]: "a label" for j in label_idx}
    if text_idx is not None:
        protected[names[text_idx]] = "the --text-column"
    drop = check_drop_columns(options.drop_columns, names, protected, path, "attribute")
    return {j for j, name in enumerate(names) if name in drop}


def dataset_from_body(
    body: RawBody, header: Header, path: Path, plan: ArffPlan,
    notices: tuple[str, ...] = (), *, with_labels: bool = True, first: bool = True,
) -> Dataset:
    """The Dataset of parsed rows. `with_labels=False` (prediction) leaves the labels out
    unchecked: Y has no columns. `first`: the plan's notices go with this Dataset."""
    attributes = header.attributes
    if with_labels:
        Y = labels_of(body, attributes, plan.labels, path)
    else:
        Y = np.zeros((body.values.shape[0], 0), dtype=np.uint8)
    check_fits(*encoded_size(body, attributes, plan), path)
    X, names, encoding, unusable = encode_features(body, attributes, plan)
    if first:
        notices = plan.notices + notices
        notices += tuple(
            f"dropped {a.kind} attribute {a.name!r} (line {a.line}): not usable as a feature"
            + (" (if it is text: --text-column)" if a.kind == "string" else "")
            for a in unusable
        )
    has_missing = _check_values(X, body.row_lines, path)
    if has_missing:
        notices += (f"{_count_nan(X)} missing values (?) in the features; the preprocessor "
                    "imputes them",)
    return Dataset(
        X=X, Y=Y, feature_names=names,
        label_names=[c.name for c in plan.labels] if with_labels else [],
        name=base_name(path), has_missing=has_missing, notices=notices, texts=body.texts,
        split_rows=plan.split_rows, n_attributes=encoding.attributes, encoding=encoding,
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
    xml = find_labels_xml(path, lone=False)  # named like the file: it is this file's
    if xml is not None:
        return labels_from_xml(xml, header, path), xml.name
    meka = labels_from_meka(header, path)  # the file's own word beats an unrelated XML
    if meka is not None:
        return meka, "-C in @relation"
    xml = find_labels_xml(path)
    if xml is not None:
        return labels_from_xml(xml, header, path), xml.name
    if options.known_labels:
        return labels_by_model(header.attributes, options.known_labels), "the model's labels"
    raise DataFormatError(
        "cannot tell which attributes are labels; expected a Mulan XML file beside it, "
        "'-C n' in @relation (MEKA), or --labels-xml / --label-columns / --label-prefix",
        path=path,
    )


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
