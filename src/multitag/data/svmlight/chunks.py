"""svmlight / Extreme Classification files in chunks (see `multitag.data.chunks`).

The columns are fixed for the whole file before the first chunk: by the repository's header
line (`n_samples n_features n_labels`; indices 0-based, as the repository writes them), by a
model's feature names, or else by a first pass over the file that finds what `load` would (the
widest index, 0- or 1-based indices, the label ids that occur). A chunk is parsed by the same
bulk parser as `load` (scikit-learn for rows it does not take); an index beyond the declared
width, or a label id beyond the declared count, is an error naming the line.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from multitag.data.chunking import ChunkOwner, Piece, TextChunk, TextSource
from multitag.data.dataset import Dataset
from multitag.data.reading import base_name, label_matrix, open_binary
from multitag.data.svmlight.bulk import (
    BulkRows,
    NotPlain,
    is_plain,
    normalise_block,
    parse_block,
    sorted_within_rows,
)
from multitag.data.svmlight.reader import (
    MAX_COLUMNS,
    PARSE_ERRORS,
    FeatureSelection,
    SpacedCommas,
    check_row_count,
    check_width,
    header_label_error,
    header_width_error,
    label_value_problem,
    no_rows_error,
    non_finite_error,
    read_header,
    row_problem,
    select_features,
)
from multitag.exceptions import DataFormatError

_FEATURE_NAME = re.compile(r"f(\d+)")


@dataclass(frozen=True)
class SvmLayout:
    """The columns: width and first index of the features; label ids -> columns."""

    n_features: int
    first_index: int
    label_ids: np.ndarray | None  # sorted ids that occur (no header), else None
    n_labels: int
    first_label: int = 0

    def feature_names(self) -> list[str]:
        return [f"f{i + self.first_index}" for i in range(self.n_features)]

    def label_names(self) -> list[str]:
        if self.label_ids is not None:
            return [str(int(v)) for v in self.label_ids]
        return [str(i + self.first_label) for i in range(self.n_labels)]


class SvmlightSource(TextSource):
    comment = b"#"  # to the end of the line

    def __init__(self, owner: ChunkOwner, feature_names: Sequence[str] | None,
                 with_labels: bool) -> None:
        super().__init__(owner)
        self.with_labels = with_labels
        self.drop = tuple(owner.options.drop_columns)
        self.selection: FeatureSelection | None = None  # made once, at the first chunk
        self.header = read_header(self.path)
        self.n_rows = self.header[0] if self.header else None
        self.layout = self._known_layout(feature_names)

    def start_of_data(self) -> Piece:
        if self.header is None:
            return Piece(0, 1, 0)
        with open_binary(self.path) as handle:
            first = handle.readline(4096)  # the header matched in its first 4 KiB
        return Piece(len(first), 2, 0)

    def is_row(self, line: bytes) -> bool:
        return bool(line.split(b"#", 1)[0].strip())

    def no_rows(self) -> DataFormatError:
        return no_rows_error(self.path)

    def finish(self, rows: int) -> None:
        check_row_count(self.header, rows, self.path)

    def _known_layout(self, feature_names: Sequence[str] | None) -> SvmLayout | None:
        if feature_names is not None and self.drop:  # a model's, without the dropped ones
            feature_names = _by_index([*feature_names, *self.drop])
        first = _FEATURE_NAME.fullmatch(feature_names[0]) if feature_names else None
        base = int(first.group(1)) if first else 0
        if self.header is not None:  # 0-based, unless a model of as many features says 1
            base = base if feature_names and len(feature_names) == self.header[1] else 0
            return SvmLayout(self.header[1], base, None, self.header[2])
        if feature_names is not None and not self.with_labels:
            return SvmLayout(len(feature_names), base, None, 0)
        return None

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        if self.layout is None:
            self.layout = self._scan()
        rows, lines = chunk.rows(), chunk.row_lines()
        raw = parse_rows(rows, lines, self.path)
        X = self._features(raw, lines)
        if self.with_labels:
            Y, names = self._labels(raw, lines), self.layout.label_names()
        else:
            Y, names = np.zeros((X.shape[0], 0), dtype=np.uint8), []
        if self.selection is None:
            self.selection = select_features(self.layout.feature_names(), self.drop, self.path)
        chosen = self.selection
        return Dataset(X=chosen.apply(X), Y=Y, feature_names=list(chosen.names),
                       label_names=names, name=base_name(self.path),
                       n_attributes=chosen.encoding.attributes, encoding=chosen.encoding)

    def _scan(self) -> SvmLayout:
        """One pass over the file: widest index, first index, the label ids, the rows."""
        low, high, n_rows, ids = None, -1, 0, np.zeros(0, dtype=np.int64)
        high_line = None
        for _, chunk in self.text_chunks(self.start_of_data(), None):
            raw = parse_rows(chunk.rows(), chunk.row_lines(), self.path)
            n_rows += len(raw.label_counts)
            if len(raw.indices):
                low = min(int(raw.indices.min()), low if low is not None else MAX_COLUMNS)
                top = int(np.argmax(raw.indices))
                if int(raw.indices[top]) > high:
                    high = int(raw.indices[top])
                    high_line = int(chunk.row_lines()[_row_of(raw.indptr, top)])
            if self.with_labels:
                _check_label_values(raw, chunk.row_lines(), self.path)
                ids = np.union1d(ids, raw.label_ids.astype(np.int64))
        self.n_rows = n_rows
        base = 0 if low is None or low == 0 else 1
        if high + 1 - base > 0:
            check_width(high + 1 - base, high, self.path, lambda: high_line)
        return SvmLayout(high + 1 - base, base, ids, len(ids))

    def _features(self, raw: BulkRows, lines: np.ndarray) -> sp.csr_matrix:
        layout = self.layout
        indices = raw.indices.astype(np.int64) - layout.first_index
        bad = np.flatnonzero((indices < 0) | (indices >= layout.n_features))
        if bad.size:
            row = _row_of(raw.indptr, bad[0])
            if self.header is not None and indices[bad[0]] >= layout.n_features:
                raise header_width_error(int(raw.indices[bad[0]]), layout.n_features,
                                         self.path, int(lines[row]))
            last = layout.n_features - 1 + layout.first_index
            raise DataFormatError(
                f"feature index {int(raw.indices[bad[0]])} out of range; expected "
                f"{layout.n_features} features (indices {layout.first_index} to {last})",
                path=self.path, line=int(lines[row]),
            )
        X = sp.csr_matrix((raw.data, indices.astype(np.int32), raw.indptr),
                          shape=(len(raw.indptr) - 1, layout.n_features))
        finite = np.isfinite(X.data)
        if not finite.all():
            row = _row_of(X.indptr, int(np.flatnonzero(~finite)[0]))
            raise non_finite_error(self.path, int(lines[row]))
        return X

    def _labels(self, raw: BulkRows, lines: np.ndarray) -> np.ndarray | sp.csr_matrix:
        layout = self.layout
        _check_label_values(raw, lines, self.path)
        ids = raw.label_ids.astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(raw.label_counts)]).astype(np.int64)
        if layout.label_ids is not None:
            columns = np.searchsorted(layout.label_ids, ids)
            known = columns < len(layout.label_ids)
            known[known] = layout.label_ids[columns[known]] == ids[known]
        else:
            columns = ids - layout.first_label
            known = (columns >= 0) & (columns < layout.n_labels)
        if not known.all():
            pos = int(np.flatnonzero(~known)[0])
            line = int(lines[_row_of(indptr, pos)])
            if self.header is not None:
                raise header_label_error(int(ids[pos]), layout.n_labels, self.path, line)
            raise DataFormatError(
                f"label id {int(ids[pos])} out of range; the file declares {layout.n_labels} "
                f"labels (ids 0 to {layout.n_labels - 1})", path=self.path, line=line)
        Y = sp.csr_matrix((np.ones(len(ids), dtype=np.uint8), columns, indptr),
                          shape=(len(raw.label_counts), layout.n_labels))
        Y.sum_duplicates()
        Y.data[:] = 1
        return label_matrix(Y)


def parse_rows(rows: list[bytes], lines: np.ndarray, path: object) -> BulkRows:
    """svmlight rows (bytes lines) -> raw CSR parts and label ids; errors name the line."""
    block = b"".join(r + b"\n" for r in rows)  # TextChunk rows lack their breaks
    try:
        return _bulk(block)
    except (NotPlain, ValueError):
        return _general(block, rows, lines, path)


def _bulk(block: bytes) -> BulkRows:
    if not is_plain(block):
        raise NotPlain
    part = parse_block(normalise_block(block))
    if not sorted_within_rows(part.indices, part.row_counts):
        raise NotPlain
    indptr = np.concatenate([[0], np.cumsum(part.row_counts)]).astype(np.int64)
    with np.errstate(over="ignore"):
        data = part.values.astype(np.float32)
    return BulkRows(data, part.indices, indptr, part.label_ids, part.label_counts)


def _general(block: bytes, rows: list[bytes], lines: np.ndarray, path: object) -> BulkRows:
    from sklearn.datasets import load_svmlight_file

    for spaced in (False, True):
        handle = io.BytesIO(block)
        source = SpacedCommas(handle) if spaced else handle
        try:
            X, labels = load_svmlight_file(source, dtype=np.float32, multilabel=True,
                                           zero_based=True, n_features=None)
        except DataFormatError:
            raise
        except PARSE_ERRORS:
            continue
        if X.shape[0] != len(rows):
            break
        counts = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
        flat = np.fromiter(itertools.chain.from_iterable(labels), dtype=np.float64,
                           count=int(counts.sum()))
        return BulkRows(X.data, X.indices, X.indptr.astype(np.int64), flat, counts)
    for number, row in zip(lines, rows, strict=True):
        problem = row_problem(row.split(b"#", 1)[0].decode("latin-1").rstrip("\r\n"))
        if problem:
            raise DataFormatError(problem, path=path, line=int(number))
    raise DataFormatError("cannot read these rows; expected svmlight rows", path=path,
                          line=int(lines[0]))


def _check_label_values(raw: BulkRows, lines: np.ndarray, path: object) -> None:
    problem = label_value_problem(raw.label_ids)
    if problem is not None:
        indptr = np.concatenate([[0], np.cumsum(raw.label_counts)])
        raise DataFormatError(problem[1], path=path, line=int(lines[_row_of(indptr, problem[0])]))


def _by_index(names: list[str]) -> list[str]:
    """Feature names like 'f12' in the order of their index (others last, as given)."""
    def index(name: str) -> int:
        match = _FEATURE_NAME.fullmatch(name)
        return int(match.group(1)) if match else MAX_COLUMNS + 1

    return sorted(names, key=index)


def _row_of(indptr: np.ndarray, position: int) -> int:
    return int(np.searchsorted(indptr, position, side="right") - 1)


def svmlight_source(owner: ChunkOwner, feature_names: Sequence[str] | None,
                    with_labels: bool) -> SvmlightSource:
    """The chunked reader of an svmlight/XC file (registered with the format)."""
    return SvmlightSource(owner, feature_names, with_labels)
