"""CSV, TSV, JSON lines and Parquet in chunks (see `multitag.data.chunks`).

A whole-file load decides per column from all rows: numeric or text, which text columns become
one-hot (and with which values), which are dropped as identifiers, and the tag vocabulary. A
first pass collects exactly that (distinct values capped just above the one-hot limit), so every
chunk gets the columns `load` would give. CSV/TSV chunks are runs of physical lines parsed by
pandas under the file's header line (a quoted value spanning lines is not supported in chunks);
JSON lines are parsed line by line; Parquet is read in batches of each row group with pyarrow.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from multitag.data.chunks import ChunkedFile, Piece, Source, TextChunk, TextSource
from multitag.data.dataset import Dataset
from multitag.data.reading import base_name, check_text_start, open_binary
from multitag.data.tabular.reader import (
    MAX_ONE_HOT_VALUES,
    _check_jsonl_records,
    _check_values,
    _jsonl_defaults,
    _label_column_names,
    _labels,
    check_ragged,
    delimited_error,
    is_mostly_numeric,
    no_rows_error,
    ragged,
    read_csv_frame,
    stray_word_error,
    stray_words,
)
from multitag.exceptions import DataFormatError

_QUOTED_ROW = re.compile(r"inside string starting at row (\d+)")


@dataclass
class Schema:
    """What the whole file decides: column order, numeric columns, one-hot values, tags."""

    columns: list[str] = field(default_factory=list)
    text_like: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    n_rows: int = 0
    typed: set[str] = field(default_factory=set)  # read as numbers in some chunk
    present: dict[str, int] = field(default_factory=dict)  # values present per column
    words: dict[str, int] = field(default_factory=dict)  # of those, not numbers
    first_word: dict[str, tuple[object, int | None]] = field(default_factory=dict)
    read_tags: bool = True  # False when labels are left out (prediction): tags go unread
    path: Any = None  # named in errors

    def add(self, frame: Any, options: Any, count: bool = True,
            lines: np.ndarray | None = None) -> None:
        """Take in one chunk (`count=False`: a second look at the values of text columns;
        `lines`: the file line of each row)."""
        for col in frame.columns:
            if col not in self.columns:
                self.columns.append(col)
        self.n_rows += len(frame) if count else 0
        for col in frame.columns:
            series = frame[col]
            if col == options.tags_column:
                if self.read_tags:
                    self._add_tags(series.tolist(), options, lines)
                continue
            if count:
                self._count_words(col, series, lines)
            if series.dtype.kind in "biuf":
                self.typed.add(col)
            elif col not in (options.text_column,):
                self.text_like.add(col)
            if col in self.text_like and len(self.values.get(col, ())) <= MAX_ONE_HOT_VALUES:
                seen = self.values.setdefault(col, set())
                seen |= {str(v) for v in series.dropna().astype(object).tolist()}

    def _add_tags(self, cells: list[Any], options: Any, lines: np.ndarray | None) -> None:
        for i, cell in enumerate(cells):
            try:
                self.tags.update(_cell_tags(cell, options))
            except TypeError as err:
                line = int(lines[i]) if lines is not None else None
                raise DataFormatError(str(err), path=self.path, line=line) from err

    def _count_words(self, col: str, series: Any, lines: np.ndarray | None) -> None:
        """Tally what `load` checks for a text column: how many values are not numbers."""
        if series.dtype.kind in "biuf":
            self.present[col] = self.present.get(col, 0) + int(series.notna().sum())
            return
        present, words = stray_words(series)
        self.present[col] = self.present.get(col, 0) + present
        self.words[col] = self.words.get(col, 0) + int(words.sum())
        if words.any() and col not in self.first_word:
            row = int(np.flatnonzero(words)[0])
            line = int(lines[row]) if lines is not None else None
            self.first_word[col] = (series.iloc[row], line)

    def check_words(self, path: Any, skip: set[str]) -> None:
        """A column of numbers with a few stray words is an error, as in `load`."""
        for col in self.columns:
            if col in self.text_like and col not in skip and is_mostly_numeric(
                    self.present.get(col, 0), self.words.get(col, 0)):
                value, line = self.first_word[col]
                raise stray_word_error(str(col), value, path, line)

    def rescan_columns(self) -> list[str]:
        """Text columns that some chunk read as numbers (their values are read again as text)."""
        return [c for c in self.columns if c in self.text_like and c in self.typed]

    def one_hot(self, col: str) -> list[str] | None:
        """Sorted values of a kept text column; None for a dropped one (as `load` decides)."""
        distinct = self.values.get(col, set())
        if len(distinct) > MAX_ONE_HOT_VALUES or len(distinct) == self.n_rows > 1:
            return None
        return sorted(distinct)


class TabularChunks:
    """Turns a pandas frame of one chunk into a Dataset with the whole file's columns."""

    def __init__(self, owner: ChunkedFile, with_labels: bool) -> None:
        self.path = owner.path
        self.options = owner.options
        self.with_labels = with_labels
        self.schema: Schema | None = None

    def new_schema(self) -> Schema:
        return Schema(read_tags=self.with_labels, path=self.path)

    def not_features(self) -> set[str]:
        """Label and text columns of the file (the stray-word check is for features)."""
        options, columns = self.options, self.schema.columns if self.schema else []
        named = {*options.label_columns, options.tags_column, options.text_column}
        prefix = options.label_prefix
        return {c for c in columns if c in named or (prefix and str(c).startswith(prefix))}

    def dataset(self, frame: Any, lines: np.ndarray | None, first: bool) -> Dataset:
        schema = self.schema
        frame = frame.reindex(columns=schema.columns)
        if len(frame) == 0:
            raise no_rows_error(self.path)
        lines = lines if lines is not None else np.zeros(len(frame), dtype=np.int64)
        options = self.options
        Y, label_names, used = self._labels(frame, lines)
        texts = None
        if options.text_column is not None:
            texts = ["" if v is None or v != v else str(v)
                     for v in frame[options.text_column].tolist()]
            used.add(options.text_column)
        X, names, notices = self._features(frame.drop(columns=list(used)), first)
        has_missing = _check_values(X, names, self.path, lines)
        return Dataset(X=X, Y=Y, feature_names=names, label_names=label_names,
                       name=base_name(self.path), texts=texts, has_missing=has_missing,
                       notices=tuple(notices))

    def _labels(self, frame: Any, lines: np.ndarray) -> tuple[Any, list[str], set[str]]:
        options = self.options
        if not self.with_labels:
            present = [c for c in (*options.label_columns, options.tags_column)
                       if c in frame.columns]
            if options.label_prefix:
                present += [c for c in frame.columns if str(c).startswith(options.label_prefix)]
            return np.zeros((len(frame), 0), dtype=np.uint8), [], set(present)
        cols = _label_column_names(frame, self.path, options)
        if options.tags_column is None:
            Y, names = _labels(frame, cols, options, self.path, lines)
            return Y, names, set(cols)
        names = sorted(self.schema.tags)
        column = {n: j for j, n in enumerate(names)}
        Y = np.zeros((len(frame), len(names)), dtype=np.uint8)
        for i, cell in enumerate(frame[options.tags_column].tolist()):
            try:
                Y[i, [column[t] for t in _cell_tags(cell, options)]] = 1
            except TypeError as err:
                raise DataFormatError(str(err), path=self.path,
                                      line=int(lines[i]) or None) from err
        return Y, names, set(cols)

    def _features(self, frame: Any, first: bool) -> tuple[np.ndarray, list[str], list[str]]:
        blocks, names, notices = [], [], []
        for col in frame.columns:
            series = frame[col]
            if col not in self.schema.text_like:
                blocks.append(series.to_numpy(dtype=np.float64).reshape(-1, 1))
                names.append(str(col))
                continue
            values = self.schema.one_hot(col)
            if values is None:
                if first:
                    notices.append(f"dropped column {col!r} (more than one value per row or "
                                   f"over {MAX_ONE_HOT_VALUES}): an identifier or free text; "
                                   "use --text-column for text")
                continue
            blocks.append(_one_hot(series, values))
            names.extend(f"{col}={v}" for v in values)
        X = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
        return X, names, notices


def _one_hot(series: Any, values: list[str]) -> np.ndarray:
    from multitag.data.tabular.reader import one_hot_block

    return one_hot_block(series.astype(object).where(series.notna(), None).tolist(), values)


def _cell_tags(cell: Any, options: Any) -> list[str]:
    if isinstance(cell, list | tuple | np.ndarray):
        tags = [str(t).strip() for t in cell]
    elif cell is None or (isinstance(cell, float) and cell != cell):
        tags = []
    elif isinstance(cell, str | int | np.integer):
        tags = [t.strip() for t in str(cell).split(options.tag_sep)]
    else:
        raise TypeError(f"tags must be text or a list; got {cell!r}")
    return [t for t in tags if t]


class TabularSource(TextSource):
    """A text format of `tabular`: its whole-file reader's message for a file of no rows."""

    def no_rows(self) -> DataFormatError:
        return no_rows_error(self.path)


class DelimitedSource(TabularSource):
    """CSV/TSV: the header line, then runs of physical lines parsed by pandas."""

    def __init__(self, owner: ChunkedFile, with_labels: bool, sep: str) -> None:
        super().__init__(owner)
        self.sep = sep
        self.convert = TabularChunks(owner, with_labels)
        with open_binary(self.path) as handle:
            self.header = handle.readline()
        if not self.header.strip():
            raise DataFormatError("the file is empty; expected a header row of column names",
                                  path=self.path, line=1)

    def start_of_data(self) -> Piece:
        return Piece(len(self.header), 2, 0)

    def frame(self, chunk: TextChunk, dtype: Any = None) -> Any:
        """The rows of `chunk` under the header line, with `read_csv`'s checks and messages."""
        import pandas as pd

        rows, lines = chunk.rows(), chunk.row_lines()
        text = self.header + b"".join(r if r.endswith(b"\n") else r + b"\n" for r in rows)
        try:
            frame = read_csv_frame(io.BytesIO(text), self.sep, dtype=dtype, encoding="utf-8-sig")
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            if "EOF inside string" in str(err):
                raise self._spanning(chunk, _QUOTED_ROW.search(str(err))) from err

            def line_of(number: int) -> int:  # pandas' line 1 is the header
                return int(lines[number - 2]) if 2 <= number < len(lines) + 2 else int(lines[0])

            raise delimited_error(err, self.sep, self.path, line_of) from err
        if len(frame) != len(lines) and not frame.attrs.get("ragged"):
            raise self._spanning(chunk, None)
        if ragged(frame):
            decoded = [r.decode("utf-8", errors="replace") for r in (self.header, *rows)]
            check_ragged(frame, decoded, self.sep, self.path, [1, *lines])
        return frame

    def _spanning(self, chunk: TextChunk, row: Any) -> DataFormatError:
        """A quoted value over several lines: chunks need one row a line."""
        lines = chunk.row_lines()
        if row is not None:
            index = int(row.group(1)) - 1
        else:  # the first line with an unbalanced quote
            odd = [i for i, r in enumerate(chunk.rows()) if r.count(b'"') % 2]
            index = odd[0] if odd else 0
        line = int(lines[min(max(index, 0), len(lines) - 1)])
        return DataFormatError("a quoted value runs over several lines; reading in chunks "
                               "(predict, train --stream) needs one row a line: remove the line "
                               "breaks inside quotes", path=self.path, line=line)

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        if self.convert.schema is None:
            self.convert.schema = self._scan()
        text_like = [c for c in self.convert.schema.columns if c in self.convert.schema.text_like]
        dtype = {c: str for c in text_like}
        if self.convert.options.tags_column:
            dtype[self.convert.options.tags_column] = str
        frame = self.frame(chunk, dtype)
        return self.convert.dataset(frame, chunk.row_lines(), piece.row == 0)

    def _scan(self) -> Schema:
        schema = self.convert.new_schema()
        for _, chunk in self.text_chunks(self.start_of_data(), None):
            schema.add(self.frame(chunk), self.convert.options, lines=chunk.row_lines())
        again = schema.rescan_columns()
        if again:
            for col in again:
                schema.values.pop(col, None)
            for _, chunk in self.text_chunks(self.start_of_data(), None):
                frame = self.frame(chunk, {c: str for c in again})
                schema.add(frame[again], self.convert.options, count=False)
        self.n_rows = schema.n_rows
        self.convert.schema = schema
        schema.check_words(self.path, self.convert.not_features())
        return schema


class JsonlSource(TabularSource):
    """JSON lines: one object a line, parsed with `json`, a chunk made into a DataFrame."""

    def __init__(self, owner: ChunkedFile, with_labels: bool) -> None:
        super().__init__(owner)
        check_text_start(self.path)
        self.convert = TabularChunks(owner, with_labels)
        self.lists_only = owner.options.tags_column is None

    def records(self, chunk: TextChunk) -> list[dict[str, Any]]:
        records = []
        for number, line in zip(chunk.row_lines(), chunk.rows(), strict=True):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise DataFormatError(f"not valid JSON ({getattr(err, 'msg', err)}); expected "
                                      "one object a line", path=self.path,
                                      line=int(number)) from err
            if not isinstance(record, dict):
                raise DataFormatError(f"expected a JSON object; got {type(record).__name__}",
                                      path=self.path, line=int(number))
            records.append(record)
        return records

    def frame(self, chunk: TextChunk) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.records(chunk))

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        if self.convert.schema is None:
            self._scan()
        return self.convert.dataset(self.frame(chunk), chunk.row_lines(), piece.row == 0)

    def _scan(self) -> None:
        """One pass: the columns, and `read_jsonl`'s checks of every record (the labels'
        only when they are read)."""
        import pandas as pd

        schema, checked = self.convert.new_schema(), None
        for _, chunk in self.text_chunks(self.start_of_data(), None):
            records, lines = self.records(chunk), chunk.row_lines()
            frame = pd.DataFrame.from_records(records)
            if checked is None:
                self.convert.options = _jsonl_defaults(frame, self.convert.options)
                checked = self.convert.options if self.convert.with_labels else replace(
                    self.convert.options, tags_column=None)
            _check_jsonl_records(records, list(lines), checked, self.lists_only, self.path)
            schema.add(frame, self.convert.options, lines=lines)
        if checked is None:
            raise no_rows_error(self.path)
        self.convert.schema = schema
        self.n_rows = schema.n_rows
        schema.check_words(self.path, self.convert.not_features())


class ParquetSource(Source):
    """Parquet: batches of `chunk_rows` rows within each row group (pyarrow)."""

    def __init__(self, owner: ChunkedFile, with_labels: bool) -> None:
        import pyarrow.parquet as pq

        self.path = owner.path
        self.chunk_rows = owner.chunk_rows
        self.convert = TabularChunks(owner, with_labels)
        try:
            self.file = pq.ParquetFile(self.path)
        except (OSError, ValueError) as err:
            if isinstance(err, FileNotFoundError | PermissionError):
                raise
            raise DataFormatError(f"not a valid Parquet file: {err}", path=self.path) from err
        self.n_rows = self.file.metadata.num_rows

    def frames(self, start: Piece | None, limit: int | None) -> Iterator[tuple[Piece, Any]]:
        import pyarrow as pa

        first_group = start.offset if start else 0
        row = start.row if start else 0
        done = 0
        for group in range(first_group, self.file.num_row_groups):
            skip = start.line if start is not None and group == first_group else 0
            batches = self.file.iter_batches(batch_size=self.chunk_rows, row_groups=[group])
            for k, batch in enumerate(batches):
                if k < skip:
                    continue
                frame = pa.Table.from_batches([batch], schema=batch.schema).to_pandas()
                yield Piece(group, k, row), frame
                row, done = row + len(frame), done + 1
                if limit is not None and done >= limit:
                    return

    def read(self, start: Piece | None, limit: int | None = None) -> Iterator[tuple[Piece, Any]]:
        if self.convert.schema is None:
            schema = self.convert.new_schema()
            for _, frame in self.frames(None, None):
                schema.add(frame, self.convert.options)
            self.convert.schema = schema
            schema.check_words(self.path, self.convert.not_features())
        for piece, frame in self.frames(start, limit):
            yield piece, self.convert.dataset(frame, None, piece.row == 0)

    def no_rows(self) -> DataFormatError:
        return no_rows_error(self.path)

    def shuffle(self, pieces: list[Piece], generator: np.random.Generator) -> list[int]:
        """Row groups in a shuffled order, the batches of each group in a shuffled order."""
        groups: dict[int, list[int]] = {}
        for i, piece in enumerate(pieces):
            groups.setdefault(piece.offset, []).append(i)
        order = []
        for group in generator.permutation(sorted(groups)):
            order += [int(i) for i in generator.permutation(groups[int(group)])]
        return order


def tabular_source(owner: ChunkedFile, with_labels: bool) -> Source:
    if owner.format == "parquet":
        return ParquetSource(owner, with_labels)
    if owner.format == "jsonl":
        return JsonlSource(owner, with_labels)
    return DelimitedSource(owner, with_labels, "," if owner.format == "csv" else "\t")

