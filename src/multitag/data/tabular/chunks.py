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
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from multitag.data.chunking import ChunkOwner, Piece, Source, TextChunk, TextSource
from multitag.data.dataset import Dataset
from multitag.data.limits import read_line
from multitag.data.reading import check_text_start, open_binary
from multitag.data.tabular.delimited import (
    check_ragged,
    delimited_error,
    ragged,
    read_csv_frame,
)
from multitag.data.tabular.jsonl import KeyTally, json_record
from multitag.data.tabular.reader import (
    check_header_width,
    check_jsonl_records,
    check_parquet_size,
    jsonl_defaults,
    no_rows_error,
    parquet_file,
    require_tabular,
)
from multitag.data.tabular.schema import Schema, TabularChunks
from multitag.exceptions import DataFormatError

_QUOTED_ROW = re.compile(r"inside string starting at row (\d+)")


class TabularSource(TextSource):
    """A text format of `tabular`: its whole-file reader's message for a file of no rows."""

    def no_rows(self) -> DataFormatError:
        return no_rows_error(self.path)


class DelimitedSource(TabularSource):
    """CSV/TSV: the header line, then runs of physical lines parsed by pandas."""

    def __init__(self, owner: ChunkOwner, with_labels: bool, sep: str) -> None:
        super().__init__(owner)
        self.sep = sep
        self.convert = TabularChunks(owner, with_labels)
        with open_binary(self.path) as handle:
            self.header = read_line(handle, self.path, 1)
        check_header_width(self.header, sep, self.path)
        if not self.header.strip():
            raise DataFormatError("the file is empty; expected a header row of column names",
                                  path=self.path, line=1)

    def start_of_data(self) -> Piece:
        return Piece(len(self.header), 2, 0)

    def frame(self, chunk: TextChunk, dtype: Any = None) -> Any:
        """The rows of `chunk` under the header line, with `read_csv`'s checks and messages."""
        import pandas as pd

        rows, lines = chunk.rows(), chunk.row_lines()
        text = self.header + b"".join(r + b"\n" for r in rows)  # rows lack their breaks
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

    def __init__(self, owner: ChunkOwner, with_labels: bool) -> None:
        super().__init__(owner)
        check_text_start(self.path)
        self.convert = TabularChunks(owner, with_labels)
        self.lists_only = owner.options.tags_column is None
        self.keys = KeyTally(self.path)

    def records(self, chunk: TextChunk) -> list[dict[str, Any]]:
        """The chunk's objects (the limits of `json_record`); the table they make, over every
        key seen in the file so far, must fit."""
        records = []
        for number, line in zip(chunk.row_lines(), chunk.rows(), strict=True):
            record = json_record(line, self.path, int(number))
            self.keys.add(record, int(number))
            records.append(record)
        self.keys.check_table(len(records))
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
                self.convert.options = jsonl_defaults(frame, self.convert.options)
                checked = self.convert.options if self.convert.with_labels else replace(
                    self.convert.options, tags_column=None)
            check_jsonl_records(records, list(lines), checked, self.lists_only, self.path)
            schema.add(frame, self.convert.options, lines=lines)
        if checked is None:
            raise no_rows_error(self.path)
        self.convert.schema = schema
        self.n_rows = schema.n_rows
        schema.check_words(self.path, self.convert.not_features())


class ParquetSource(Source):
    """Parquet: batches of `chunk_rows` rows within each row group (pyarrow)."""

    def __init__(self, owner: ChunkOwner, with_labels: bool) -> None:
        self.path = owner.path
        self.chunk_rows = owner.chunk_rows
        self.convert = TabularChunks(owner, with_labels)
        self.file = parquet_file(self.path)
        check_parquet_size(self.file, self.chunk_rows, self.path)
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


def tabular_source(owner: ChunkOwner, feature_names: object, with_labels: bool) -> Source:
    """The chunked reader of a CSV, TSV, JSONL or Parquet file (registered with them)."""
    require_tabular(owner.format)
    if owner.format == "parquet":
        return ParquetSource(owner, with_labels)
    if owner.format == "jsonl":
        return JsonlSource(owner, with_labels)
    return DelimitedSource(owner, with_labels, "," if owner.format == "csv" else "\t")

