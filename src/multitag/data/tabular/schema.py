"""The whole-file decisions of a tabular file read in chunks, and a chunk made into a `Dataset`.

`Schema` collects what `load` decides from all rows (column order, numeric and text columns,
one-hot values, identifiers to drop, the tag vocabulary, stray words in numeric columns) over a
first pass of the chunks; `TabularChunks` then turns each chunk's pandas frame into a `Dataset`
with the whole file's columns. The chunk sources themselves are in
`multitag.data.tabular.chunks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.chunking import ChunkOwner
from multitag.data.dataset import Dataset
from multitag.data.encoding import MAX_ONE_HOT_VALUES, TextColumn, text_column
from multitag.data.limits import check_fits, table_bytes
from multitag.data.reading import base_name
from multitag.data.tabular.columns import drop_columns, encode_frame
from multitag.data.tabular.reader import (
    check_values,
    is_mostly_numeric,
    label_column_names,
    labels,
    no_rows_error,
    stray_word_error,
    stray_words,
    tag_matrix,
)
from multitag.exceptions import DataFormatError


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

    def text_columns(self) -> dict[Any, TextColumn]:
        """The encoding of every text column, as `load` decides it from the same values."""
        return {col: text_column(str(col), self.values.get(col, set()), self.n_rows)
                for col in self.columns if col in self.text_like}


class TabularChunks:
    """Turns a pandas frame of one chunk into a Dataset with the whole file's columns."""

    def __init__(self, owner: ChunkOwner, with_labels: bool) -> None:
        self.path = owner.path
        self.options = owner.options
        self.with_labels = with_labels
        self.schema: Schema | None = None
        self.plans: dict[Any, TextColumn] | None = None
        self.dropped: set[Any] | None = None

    def new_schema(self) -> Schema:
        return Schema(read_tags=self.with_labels, path=self.path)

    def labels(self) -> set[str]:
        """Label (and tags) columns of the file."""
        options, columns = self.options, self.schema.columns if self.schema else []
        named = {*options.label_columns, options.tags_column}
        prefix = options.label_prefix
        return {c for c in columns if c in named or (prefix and str(c).startswith(prefix))}

    def not_features(self) -> set[str]:
        """Label, text and dropped columns of the file (the stray-word check is for features);
        a --drop-columns name the file lacks, or that names a label, is an error here."""
        columns = self.schema.columns if self.schema else []
        self.dropped = drop_columns(columns, self.options, self.labels(), self.path)
        text = {self.options.text_column} & set(columns)
        return self.labels() | text | self.dropped

    def dataset(self, frame: Any, lines: np.ndarray | None, first: bool) -> Dataset:
        schema = self.schema
        check_fits(table_bytes(len(frame), len(schema.columns)), f"a chunk of {len(frame):,} "
                   f"rows and the file's {len(schema.columns):,} columns", self.path)
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
        if self.plans is None:
            self.plans = self.schema.text_columns()
        dropped = self.dropped if self.dropped is not None else set()
        features = frame.drop(columns=list(used | dropped))
        X, names, encoding, notices = encode_frame(features, self.plans,
                                                   user_dropped=len(dropped), path=self.path)
        has_missing = check_values(X, names, self.path, lines)
        return Dataset(X=X, Y=Y, feature_names=names, label_names=label_names,
                       name=base_name(self.path), texts=texts, has_missing=has_missing,
                       notices=tuple(notices) if first else (),
                       n_attributes=encoding.attributes, encoding=encoding)

    def _labels(self, frame: Any, lines: np.ndarray) -> tuple[Any, list[str], set[str]]:
        options = self.options
        if not self.with_labels:
            present = [c for c in (*options.label_columns, options.tags_column)
                       if c in frame.columns]
            if options.label_prefix:
                present += [c for c in frame.columns if str(c).startswith(options.label_prefix)]
            return np.zeros((len(frame), 0), dtype=np.uint8), [], set(present)
        cols = label_column_names(frame, self.path, options)
        if options.tags_column is None:
            Y, names = labels(frame, cols, options, self.path, lines)
            return Y, names, set(cols)
        names = sorted(self.schema.tags)
        rows = []
        for i, cell in enumerate(frame[options.tags_column].tolist()):
            try:
                rows.append(_cell_tags(cell, options))
            except TypeError as err:
                raise DataFormatError(str(err), path=self.path,
                                      line=int(lines[i]) or None) from err
        return tag_matrix(rows, names, self.path), names, set(cols)


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
