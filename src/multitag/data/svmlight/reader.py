"""svmlight/libsvm multi-label files and the Extreme Classification Repository format -> `Dataset`.

Rows look like `1,5,7 3:0.5 10:1` (labels, then index:value pairs; a row may have no labels).
Plain files are parsed in bulk by `svmlight_bulk` (the final arrays allocated once, so a large
file peaks near the size of its CSR matrices); anything else (comments, `qid:`, malformed rows)
goes through scikit-learn's `load_svmlight_file(multilabel=True)`. This module adds what that
does not handle: the repository's header line `n_samples n_features n_labels`, spaces after the
commas (`1, 3`), 0- or 1-based indices, and error messages that name the line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from multitag.data.dataset import Dataset
from multitag.data.encoding import FeatureEncoding, check_drop_columns
from multitag.data.limits import check_fits, names_bytes, over_allowance, text_room
from multitag.data.reading import (
    base_name,
    compression_of,
    decompression_errors,
    label_matrix,
    open_binary,
)
from multitag.data.registry import ReaderOptions
from multitag.data.svmlight.bulk import BulkRows, parse_plain
from multitag.exceptions import DataFormatError

_HEADER = re.compile(rb"\s*(\d+)\s+(\d+)\s+(\d+)\s*")
_COMMA_SPACE = re.compile(rb"[ \t]*,[ \t]*")
PARSE_ERRORS = (ValueError, OverflowError, TypeError, IndexError)
MAX_COLUMNS = 50_000_000  # features or labels (each one gets a name)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LABELS = rf"{_NUMBER}(?:[ \t]*,[ \t]*{_NUMBER})*"
_PAIR = rf"\d+:{_NUMBER}"
_ROW = re.compile(
    rf"[ \t]*(?:{_LABELS})?(?:[ \t]+qid:\d+)?(?:[ \t]+{_PAIR})*[ \t]*"
    rf"|[ \t]*{_PAIR}(?:[ \t]+{_PAIR})*[ \t]*"
)


class SpacedCommas:
    """A binary file whose lines come out with spaces around commas removed (`1, 3` -> `1,3`)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def __iter__(self) -> Iterator[bytes]:
        for line in self._handle:
            yield _COMMA_SPACE.sub(b",", line)


def read_header(path: Path) -> tuple[int, int, int] | None:
    """(n_samples, n_features, n_labels) from an Extreme Classification Repository header,
    checked against the file: its rows must fit the file's bytes, its columns the memory."""
    with open_binary(path) as handle:
        first = handle.readline(4096)
    match = _HEADER.fullmatch(first)
    if match is None:
        return None
    numbers = tuple(int(g) for g in match.groups())
    if max(numbers) > MAX_COLUMNS:
        raise DataFormatError(
            f"header numbers {numbers} are too large; expected at most {MAX_COLUMNS:,} each",
            path=path, line=1,
        )
    check_declared(numbers, path)  # type: ignore[arg-type]
    return numbers  # type: ignore[return-value]


def check_declared(numbers: tuple[int, int, int], path: Path) -> None:
    """A header's counts against the file: every row takes at least 2 bytes (compressed: of
    the text it may decompress to), the feature and label names must fit the memory."""
    n_rows, n_features, n_labels = numbers
    room = text_room(path, compression_of(path) is not None)
    if room is not None and 2 * n_rows > room:
        raise DataFormatError(
            f"the header says {n_rows:,} rows, more than a file of {room:,} bytes can hold "
            "(a row takes at least 2 bytes); expected the number of data rows", path=path,
            line=1)
    check_fits(names_bytes(n_features + n_labels),
               f"the header's {n_features:,} features and {n_labels:,} labels (their names)",
               path, line=1)


def read_svmlight(path: Path, options: ReaderOptions | None = None) -> Dataset:
    """Read a svmlight/libsvm multi-label or Extreme Classification Repository file."""
    with decompression_errors(path):
        return _read(path, options or ReaderOptions())


def _read(path: Path, options: ReaderOptions) -> Dataset:
    header = read_header(path)
    raw = _load(path, skip_header=header is not None)
    n_rows = len(raw.indptr) - 1
    if n_rows == 0:
        raise no_rows_error(path)
    check_row_count(header, n_rows, path)
    X, first_index = _feature_matrix(raw, header, path)
    Y, label_names = _label_matrix(raw, header, path)
    del raw
    _check_finite(X, path, header is not None)
    chosen = select_features([f"f{i + first_index}" for i in range(X.shape[1])],
                             options.drop_columns, path)
    return Dataset(X=chosen.apply(X), Y=Y, feature_names=list(chosen.names),
                   label_names=label_names, name=base_name(path),
                   n_attributes=chosen.encoding.attributes, encoding=chosen.encoding)


@dataclass(frozen=True)
class FeatureSelection:
    """The features `--drop-columns` leaves: their positions (None: all), names, encoding."""

    keep: list[int] | None
    names: list[str]
    encoding: FeatureEncoding

    def apply(self, X: sp.csr_matrix) -> sp.csr_matrix:
        return X if self.keep is None else X[:, self.keep]


def select_features(names: list[str], drop: tuple[str, ...], path: Path) -> FeatureSelection:
    """The features of `names` (like 'f12', as given here) that `--drop-columns` leaves."""
    dropped = check_drop_columns(drop, names, {}, path, "feature")
    encoding = FeatureEncoding(attributes=len(names), user_dropped=len(dropped))
    if not dropped:
        return FeatureSelection(None, names, encoding)
    keep = [i for i, name in enumerate(names) if name not in dropped]
    return FeatureSelection(keep, [names[i] for i in keep], encoding)


def no_rows_error(path: Path) -> DataFormatError:
    return DataFormatError(
        "no data rows; expected lines like '1,5 3:0.5 10:1' (labels, then index:value)",
        path=path,
    )


def check_row_count(header: tuple[int, int, int] | None, n_rows: int, path: Path) -> None:
    """The header's row count must be the number of data rows."""
    if header is not None and header[0] != n_rows:
        raise DataFormatError(
            f"the header says {header[0]} rows but the file has {n_rows}; expected them "
            "to agree", path=path, line=1,
        )


def header_width_error(index: int, n_cols: int, path: Path, line: int | None) -> DataFormatError:
    """The first feature index beyond the header's feature count, on its `line`."""
    return DataFormatError(
        f"feature index {index} out of range; the header says {n_cols} features "
        f"(indices 0 to {n_cols - 1}, or 1 to {n_cols})", path=path, line=line,
    )


def header_label_error(label_id: int, n_labels: int, path: Path,
                       line: int | None) -> DataFormatError:
    """The first label id beyond the header's label count, on its `line`."""
    return DataFormatError(
        f"label id {label_id} out of range; the header says {n_labels} labels (ids 0 to "
        f"{n_labels - 1}, or 1 to {n_labels})", path=path, line=line,
    )


def _load(path: Path, *, skip_header: bool) -> BulkRows:
    """Plain files in bulk (fast, lean); anything else through scikit-learn."""
    rows = parse_plain(path, skip_header)
    return rows if rows is not None else _load_sklearn(path, skip_header)


def _load_sklearn(path: Path, skip_header: bool) -> BulkRows:
    from sklearn.datasets import load_svmlight_file

    first_error: Exception | None = None
    for spaced in (False, True):
        with open_binary(path) as handle:
            if skip_header:
                handle.readline()
            source = SpacedCommas(handle) if spaced else handle
            try:
                X, labels = load_svmlight_file(
                    source, dtype=np.float32, multilabel=True, zero_based=True
                )
            except DataFormatError:  # a limit of the decompression guard
                raise
            except PARSE_ERRORS as err:
                first_error = first_error or err
                continue
        counts = np.fromiter(map(len, labels), dtype=np.int64, count=len(labels))
        flat = np.fromiter(itertools.chain.from_iterable(labels), dtype=np.float64,
                           count=int(counts.sum()))
        return BulkRows(X.data, X.indices, X.indptr, flat, counts)
    raise _locate_error(path, skip_header, first_error)


def _locate_error(path: Path, skip_header: bool, err: Exception | None) -> DataFormatError:
    """The first line that is not a valid row (the message says what a row must look like)."""
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and skip_header:
                continue
            line = raw.split(b"#", 1)[0].decode("latin-1").rstrip("\r\n")
            problem = row_problem(line)
            if problem:
                return DataFormatError(problem, path=path, line=number)
    return DataFormatError(f"cannot read the file ({err}); expected svmlight rows", path=path)


def row_problem(line: str) -> str | None:
    if not _ROW.fullmatch(line):
        shown = line.strip()[:40]
        return (
            f"expected 'label,label index:value ...' with whole-number indices; got {shown!r}"
        )
    indices = [int(p.split(":")[0]) for p in line.split() if ":" in p and not p.startswith("qid")]
    if any(b <= a for a, b in itertools.pairwise(indices)):
        return "feature indices must be increasing within a row (sorted, each once)"
    if any(i > np.iinfo(np.int32).max for i in indices):
        return "a feature index is too large; expected at most 2147483647"
    return None


def _feature_matrix(
    raw: BulkRows, header: tuple[int, int, int] | None, path: Path
) -> tuple[sp.csr_matrix, int]:
    """CSR features, 1-based indices shifted in place; the header's width. (X, first index)."""
    nnz = len(raw.indices)
    width = int(raw.indices.max()) + 1 if nnz else 0
    used_zero = nnz > 0 and int(raw.indices.min()) == 0
    if width > MAX_COLUMNS + 1:
        row = int(np.searchsorted(raw.indptr, int(np.argmax(raw.indices)), side="right") - 1)
        raise DataFormatError(
            f"feature index {width - 1:,} is too large; expected at most {MAX_COLUMNS:,}",
            path=path, line=_line_of_row(path, row, header is not None),
        )
    base = 0 if used_zero or nnz == 0 else 1
    n_cols = width - base
    if header is None and n_cols > 0:
        check_width(n_cols, width - 1, path, lambda: _line_of_row(
            path, int(np.searchsorted(raw.indptr, int(np.argmax(raw.indices)), side="right")
                      - 1), False))
    if header is not None:
        n_cols = header[1]
        base = 0 if width <= n_cols else base
        if width - base > n_cols:
            pos = int(np.flatnonzero(raw.indices.astype(np.int64) - base >= n_cols)[0])
            row = int(np.searchsorted(raw.indptr, pos, side="right") - 1)
            raise header_width_error(int(raw.indices[pos]), n_cols, path,
                                     _line_of_row(path, row, True))
    index_type = np.int32 if nnz < 2**31 else np.int64
    indices = raw.indices.astype(index_type, copy=False)
    if base:
        indices -= 1
    indptr = raw.indptr.astype(index_type, copy=False)
    X = sp.csr_matrix((raw.data, indices, indptr), shape=(len(indptr) - 1, n_cols), copy=False)
    X.sort_indices()
    return X, base


def check_width(n_cols: int, index: int, path: Path, line_of: Callable[[], int | None]) -> None:
    """The feature columns the largest index implies must fit (their names; X stays sparse):
    else an error on the line of that index (`line_of()`)."""
    problem = over_allowance(
        names_bytes(n_cols), f"feature index {index:,} implies {n_cols:,} feature columns, "
        "whose names", path)
    if problem is not None:
        raise DataFormatError(problem, path=path, line=line_of())


def _label_matrix(
    raw: BulkRows, header: tuple[int, int, int] | None, path: Path
) -> tuple[np.ndarray | sp.csr_matrix, list[str]]:
    counts, flat = raw.label_counts, raw.label_ids
    indptr = np.zeros(len(counts) + 1, dtype=np.int32 if len(flat) < 2**31 else np.int64)
    np.cumsum(counts, out=indptr[1:])
    problem = label_value_problem(flat)
    if problem is not None:
        raise _label_error(path, header, indptr, *problem)
    ids = flat.astype(np.int32, copy=False)
    columns, names = _label_columns(ids, header)
    if header is not None and ids.size and columns.max() >= header[2]:
        pos = int(np.flatnonzero(columns >= header[2])[0])
        row = int(np.searchsorted(indptr, pos, side="right") - 1)
        raise header_label_error(int(ids[pos]), header[2], path, _line_of_row(path, row, True))
    Y = sp.csr_matrix(
        (np.ones(len(ids), dtype=np.uint8), columns, indptr), shape=(len(counts), len(names))
    )
    Y.sum_duplicates()
    Y.data[:] = 1
    return label_matrix(Y), names


def label_value_problem(flat: np.ndarray) -> tuple[int, str] | None:
    """(position, message) of the first label id that is not a whole number in range."""
    whole = True if flat.dtype.kind in "iu" else flat == np.floor(flat)
    bad = np.flatnonzero(~(whole & (flat >= 0) & (flat < MAX_COLUMNS)))
    if not bad.size:
        return None
    return int(bad[0]), (f"label {flat[bad[0]]:g} is not a whole number from 0 to "
                         f"{MAX_COLUMNS - 1:,}; expected label ids like 0,3,17")


def _label_error(
    path: Path, header: object, indptr: np.ndarray, pos: int, message: str
) -> DataFormatError:
    row = int(np.searchsorted(indptr, pos, side="right") - 1)
    return DataFormatError(message, path=path, line=_line_of_row(path, row, header is not None))


def _label_columns(
    ids: np.ndarray, header: tuple[int, int, int] | None
) -> tuple[np.ndarray, list[str]]:
    """Column of every label id and the label names (ids as written in the file)."""
    if header is None:
        distinct = np.unique(ids)
        return np.searchsorted(distinct, ids), [str(int(v)) for v in distinct]
    n_labels = header[2]
    base = 1 if ids.size and ids.max() == n_labels and ids.min() >= 1 else 0
    return ids - base, [str(i + base) for i in range(n_labels)]


def _check_finite(X: sp.csr_matrix, path: Path, has_header: bool) -> None:
    bad = ~np.isfinite(X.data)
    if bad.any():
        row = int(np.searchsorted(X.indptr, int(np.flatnonzero(bad)[0]), side="right") - 1)
        raise non_finite_error(path, _line_of_row(path, row, has_header))


def non_finite_error(path: Path, line: int | None) -> DataFormatError:
    return DataFormatError("a value is NaN, infinite or too large for float32; expected "
                           "finite numbers", path=path, line=line)


def _line_of_row(path: Path, row: int, has_header: bool) -> int | None:
    """File line of data row `row` (blank and comment lines do not count as rows)."""
    seen = -1
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if (number == 1 and has_header) or not raw.split(b"#", 1)[0].strip():
                continue
            seen += 1
            if seen == row:
                return number
    return None
