"""CSV, TSV, Parquet and JSON lines -> `Dataset` (pandas and pyarrow are imported on use).

Labels are the columns named by `label_columns`, those starting with `label_prefix`, or one
`tags_column` holding every label of a row (`a|b|c`, or a JSON list). Remaining numeric columns
are features; a text column of two values is one 0/1 column, one of a few more values one-hot
(`multitag.data.tabular.columns`), an identifier or free-text column is dropped with a notice,
`drop_columns` are left out, and `text_column` is kept as raw text for TF-IDF in the
preprocessor. pandas (and pyarrow for Parquet) come with the `tabular` extra; a missing one is
one line naming it (`require_tabular`).
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.data.encoding import TextColumn, text_column
from multitag.data.limits import check_fits, names_bytes, read_line, size_text, table_bytes
from multitag.data.reading import (
    base_name,
    decompression_errors,
    label_matrix,
    open_binary,
    read_text,
)
from multitag.data.registry import ReaderOptions
from multitag.data.tabular.columns import drop_columns, encode_frame
from multitag.data.tabular.delimited import (
    check_ragged,
    delimited_error,
    ragged,
    read_csv_frame,
)
from multitag.data.tabular.jsonl import KeyTally, json_record
from multitag.exceptions import DataFormatError, require_extra

# What each format needs of the `tabular` extra (checked before any reading).
NEEDS = {"csv": ("reading CSV files", ("pandas",)), "tsv": ("reading TSV files", ("pandas",)),
         "jsonl": ("reading JSON lines files", ("pandas",)),
         "parquet": ("reading Parquet files", ("pandas", "pyarrow"))}


def require_tabular(fmt: str) -> None:
    """A missing pandas/pyarrow is one line naming the extra to install."""
    what, modules = NEEDS[fmt]
    require_extra("tabular", what, modules)


def read_csv(path: Path, options: ReaderOptions | None = None) -> Dataset:
    require_tabular("csv")
    return _read_delimited(path, options or ReaderOptions(), sep=",")


def read_tsv(path: Path, options: ReaderOptions | None = None) -> Dataset:
    require_tabular("tsv")
    return _read_delimited(path, options or ReaderOptions(), sep="\t")


def _read_delimited(path: Path, options: ReaderOptions, sep: str) -> Dataset:
    import pandas as pd

    try:
        with decompression_errors(path), open_binary(path, whole=True) as handle:
            check_header_width(read_line(handle, path, 1), sep, path)
            handle.seek(0)
            frame = read_csv_frame(handle, sep)  # decompressed behind the guard
    except DataFormatError:
        raise
    except pd.errors.EmptyDataError as err:
        raise DataFormatError("the file is empty; expected a header row of column names",
                              path=path, line=1) from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise delimited_error(err, sep, path) from err
    if ragged(frame):
        with open_binary(path) as raw, io.TextIOWrapper(raw, "utf-8", errors="replace") as text:
            check_ragged(frame, text, sep, path)
    return frame_to_dataset(frame, path, options, first_row_line=2)


def check_header_width(header: bytes, sep: str, path: Path) -> None:
    """The columns a header line names (each a pandas column) must fit before reading."""
    columns = header.count(sep.encode()) + 1
    check_fits(table_bytes(0, columns), f"a table of {columns:,} columns (the header line)",
               path, line=1)


def read_parquet(path: Path, options: ReaderOptions | None = None) -> Dataset:
    require_tabular("parquet")
    import pandas as pd

    try:
        check_parquet_size(parquet_file(path), None, path)
        frame = pd.read_parquet(path)
    except DataFormatError:
        raise
    except (OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError | PermissionError):
            raise
        raise DataFormatError(f"not a valid Parquet file: {err}", path=path) from err
    return frame_to_dataset(frame, path, options or ReaderOptions(), first_row_line=None)


def parquet_file(path: Path) -> Any:
    """The `pyarrow.parquet.ParquetFile` of `path` (its footer read, no data)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError | PermissionError):
            raise
        raise DataFormatError(f"not a valid Parquet file: {err}", path=path) from err


def check_parquet_size(file: Any, batch_rows: int | None, path: Path) -> None:
    """From the footer, before reading: the rows (all, or a batch of `batch_rows`) times the
    columns, 8 bytes a cell twice (the Arrow table and the pandas frame made from it), and
    the data's uncompressed size (all of it, or its largest row group) must fit."""
    meta = file.metadata
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    sizes = [max(int(g.total_byte_size), 0) for g in groups] or [0]
    rows = meta.num_rows if batch_rows is None else min(batch_rows, meta.num_rows)
    data = sum(sizes) if batch_rows is None else max(sizes)
    what = "the table" if batch_rows is None else "a chunk"
    check_fits(max(2 * table_bytes(rows, meta.num_columns), data),
               f"{what} of {rows:,} rows and {meta.num_columns:,} columns (from the file's "
               f"metadata: {meta.num_rows:,} rows, {size_text(sum(sizes))} uncompressed)", path)


def read_jsonl(path: Path, options: ReaderOptions | None = None) -> Dataset:
    """One JSON object a line, e.g. `{"text": "...", "labels": ["a", "b"]}`."""
    require_tabular("jsonl")
    import pandas as pd

    options = options or ReaderOptions()
    text, notices = read_text(path)
    records, lines, keys = [], [], KeyTally(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        record = json_record(line, path, number)
        keys.add(record, number)
        records.append(record)
        lines.append(number)
    keys.check_table(len(records))
    frame = pd.DataFrame.from_records(records)
    defaults = jsonl_defaults(frame, options)
    check_jsonl_records(records, lines, defaults, options.tags_column is None, path)
    data = frame_to_dataset(frame, path, defaults, row_lines=np.asarray(lines))
    return replace(data, notices=notices + data.notices)


def jsonl_defaults(frame: Any, options: ReaderOptions) -> ReaderOptions:
    has_labels = options.label_columns or options.label_prefix or options.tags_column
    if not has_labels and "labels" in frame.columns:
        options = replace(options, tags_column="labels")
    if options.text_column is None and "text" in frame.columns:
        options = replace(options, text_column="text")
    return options


def check_jsonl_records(records: list[dict[str, Any]], lines: list[int],
                         options: ReaderOptions, lists_only: bool, path: Path) -> None:
    """Every record has the text (a string) and the labels (a list of names; with an explicit
    --tags-column also a delimited string)."""
    text, tags = options.text_column, options.tags_column
    for record, line in zip(records, lines):
        if text is not None and not isinstance(record.get(text), str):
            got = "nothing" if text not in record else type(record[text]).__name__
            raise DataFormatError(f"field {text!r} must be a string; got {got}",
                                  path=path, line=line)
        if tags is None:
            continue
        value = record.get(tags)
        ok = isinstance(value, list) and all(
            isinstance(t, str | int) and not isinstance(t, bool) for t in value)
        if not ok and not (isinstance(value, str) and not lists_only):
            got = "nothing" if tags not in record else json.dumps(value)[:60]
            raise DataFormatError(f"field {tags!r} must be a list of label names like "
                                  f'["a", "b"] ([] for none); got {got}', path=path, line=line)


def frame_to_dataset(
    frame: Any, path: Path, options: ReaderOptions, first_row_line: int | None = None,
    row_lines: np.ndarray | None = None,
) -> Dataset:
    """A pandas DataFrame -> Dataset: labels, text, then the remaining columns as features."""
    if len(frame) == 0:
        raise no_rows_error(path)
    if row_lines is None and first_row_line is not None:
        row_lines = np.arange(len(frame)) + first_row_line
    lines = row_lines if row_lines is not None else np.zeros(len(frame), dtype=np.int64)
    label_cols = label_column_names(frame, path, options)
    dropped = drop_columns(list(frame.columns), options, set(label_cols), path)
    Y, label_names = labels(frame, label_cols, options, path, lines)
    texts = None
    used = set(label_cols)
    if options.text_column is not None:
        _require_columns(frame, [options.text_column], path, "text")
        texts = [
            "" if v is None or v != v else str(v) for v in frame[options.text_column].tolist()
        ]
        used.add(options.text_column)
    X, names, notices, has_missing, encoding = _features(
        frame.drop(columns=list(used | dropped)), path, lines, len(dropped))
    return Dataset(
        X=X, Y=Y, feature_names=names, label_names=label_names, name=base_name(path),
        texts=texts, has_missing=has_missing, notices=notices,
        n_attributes=encoding.attributes, encoding=encoding,
    )


def no_rows_error(path: Path) -> DataFormatError:
    return DataFormatError("no data rows; expected a header and at least one row", path=path)


def _require_columns(frame: Any, wanted: list[str], path: Path, what: str) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        have = [str(c) for c in frame.columns]
        raise DataFormatError(
            f"no {what} column(s) {', '.join(map(repr, missing))}; expected some of the columns "
            f"{', '.join(have[:10])}{', ...' if len(have) > 10 else ''}", path=path, line=1,
        )


def label_column_names(frame: Any, path: Path, options: ReaderOptions) -> list[str]:
    if options.tags_column is not None:
        _require_columns(frame, [options.tags_column], path, "tags")
        return [options.tags_column]
    wanted = list(options.label_columns)
    _require_columns(frame, wanted, path, "label")
    if options.label_prefix:
        wanted += [str(c) for c in frame.columns
                   if str(c).startswith(options.label_prefix) and c not in wanted]
        if not wanted:
            raise DataFormatError(
                f"no column name starts with {options.label_prefix!r}; expected label columns",
                path=path, line=1,
            )
    if not wanted:
        raise DataFormatError(
            "which columns are labels? give --label-columns a,b, --label-prefix P or "
            "--tags-column C", path=path,
        )
    return wanted


def labels(
    frame: Any, cols: list[str], options: ReaderOptions, path: Path, lines: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    if options.tags_column is not None:
        return _tags(frame[options.tags_column].tolist(), options.tag_sep, path, lines)
    block = frame[cols]
    if all(block[c].dtype.kind in "biuf" for c in cols):
        values = block.to_numpy(dtype=np.float64)
        ok = np.isin(values, (0.0, 1.0))
    else:
        values = block.to_numpy(dtype=object)
        ok = np.vectorize(_is_01, otypes=[bool])(values)
    if not ok.all():
        row, col = (int(v[0]) for v in np.nonzero(~ok))
        raise DataFormatError(
            f"label column {cols[col]!r} has {_shown(values[row, col])}; expected 0 or 1",
            path=path, line=int(lines[row]) or None,
        )
    return values.astype(np.uint8), [str(c) for c in cols]


def _shown(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "a missing value" if value != value else f"{float(value):g}"
    return repr(value)


def _is_01(value: object) -> bool:
    return isinstance(value, bool | int | float | np.number) and value in (0, 1)


def _tags(
    cells: list[Any], sep: str, path: Path, lines: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    rows: list[list[str]] = []
    for i, cell in enumerate(cells):
        if isinstance(cell, list | tuple | np.ndarray):
            tags = [str(t).strip() for t in cell]
        elif cell is None or (isinstance(cell, float) and cell != cell):
            tags = []
        elif isinstance(cell, str | int | np.integer):
            tags = [t.strip() for t in str(cell).split(sep)]
        else:
            raise DataFormatError(f"tags must be text or a list; got {cell!r}",
                                  path=path, line=int(lines[i]) or None)
        rows.append([t for t in tags if t])
    names = sorted({t for tags in rows for t in tags})
    return tag_matrix(rows, names, path), names


def tag_matrix(rows: list[list[str]], names: list[str], path: Path) -> Any:
    """The 0/1 matrix of each row's tags over `names`: built sparse, dense only when small
    (`label_matrix`); the names must fit the memory."""
    import scipy.sparse as sp

    check_fits(names_bytes(len(names)), f"{len(names):,} distinct tags (their names)", path)
    column = {n: j for j, n in enumerate(names)}
    ids = [sorted({column[t] for t in tags}) for tags in rows]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in ids])]).astype(np.int64)
    flat = np.fromiter((j for r in ids for j in r), dtype=np.int64, count=int(indptr[-1]))
    Y = sp.csr_matrix((np.ones(len(flat), dtype=np.uint8), flat, indptr),
                      shape=(len(rows), len(names)))
    return label_matrix(Y)


def _features(
    frame: Any, path: Path, lines: np.ndarray, user_dropped: int
) -> tuple[np.ndarray, list[str], tuple[str, ...], bool, Any]:
    """Numeric columns as they are; text columns as `text_column` decides (one-hot, one 0/1
    column for two values, or dropped as an identifier or free text)."""
    plans: dict[Any, TextColumn] = {}
    for col in frame.columns:
        series = frame[col]
        if series.dtype.kind not in "biuf":
            _check_not_mostly_numeric(series, str(col), path, lines)
            distinct = {str(v) for v in series.dropna().astype(object).tolist()}
            plans[col] = text_column(str(col), distinct, len(frame))
    X, names, encoding, notices = encode_frame(frame, plans, user_dropped=user_dropped,
                                               path=path)
    has_missing = check_values(X, names, path, lines)
    if has_missing:
        notices.append(f"{int(np.isnan(X).sum())} missing feature values; the preprocessor "
                       "imputes them")
    return X, names, tuple(notices), has_missing, encoding


def _check_not_mostly_numeric(series: Any, name: str, path: Path, lines: np.ndarray) -> None:
    """A column of numbers with a few stray words (at most 1 in 10 of its values, or one) is
    an error, not a categorical column."""
    present, words = stray_words(series)
    if is_mostly_numeric(present, int(words.sum())):
        row = int(np.flatnonzero(words)[0])
        raise stray_word_error(name, series.iloc[row], path, int(lines[row]) or None)


def stray_words(series: Any) -> tuple[int, np.ndarray]:
    """(values present, mask of those that are not numbers) of a text column."""
    import pandas as pd

    present = series.notna().to_numpy()
    numbers = pd.to_numeric(series, errors="coerce").notna().to_numpy()
    return int(present.sum()), present & ~numbers


def is_mostly_numeric(present: int, words: int) -> bool:
    return 0 < words <= max(1, 0.1 * present)


def stray_word_error(name: str, value: object, path: Path, line: int | None) -> DataFormatError:
    return DataFormatError(
        f"column {name!r}: expected a number or an empty cell; got {str(value)[:40]!r}",
        path=path, line=line)


def check_values(X: np.ndarray, names: list[str], path: Path, lines: np.ndarray) -> bool:
    inf = np.isinf(X) | (np.abs(np.nan_to_num(X)) > np.finfo(np.float32).max)
    if inf.any():
        row, col = (int(v[0]) for v in np.nonzero(inf))
        raise DataFormatError(
            f"feature {names[col]!r} is infinite or too large for float32; expected finite "
            "numbers", path=path, line=int(lines[row]) or None,
        )
    return bool(np.isnan(X).any())
