"""Reading a file in chunks of rows: each chunk is a `Dataset` with the same columns as `load`.

`iter_chunks(path, options, chunk_rows)` yields the rows of a file a chunk at a time, so memory
depends on the chunk size, not on the file. Every chunk has the feature and label columns a
whole-file `load` would give; where those depend on the whole file (svmlight without a header:
its width and label ids; CSV/JSONL/Parquet: one-hot values and tags) the file is read once first
to find them, unless the caller gives them (`feature_names` from a model). Errors name the file
and the line in the whole file. `ChunkedFile` also reads chunks in any order (training shuffles
them), seeking to where each chunk starts in uncompressed text files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.data.reading import compression_of, decompression_errors, open_binary
from multitag.data.registry import ReaderOptions, detect_format, make_options
from multitag.exceptions import ConfigError, DataFormatError

DEFAULT_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class Piece:
    """Where a chunk starts: byte offset and line (text files) or row group (Parquet)."""

    offset: int
    line: int
    row: int


@dataclass
class TextChunk:
    """The physical lines of one chunk (data rows and the comments between them)."""

    lines: list[bytes]
    is_row: list[bool]
    first_line: int

    def row_lines(self) -> np.ndarray:
        """File line number of every data row."""
        numbers = np.arange(len(self.lines), dtype=np.int64) + self.first_line
        return numbers[np.asarray(self.is_row, dtype=bool)]

    def rows(self) -> list[bytes]:
        return [ln for ln, row in zip(self.lines, self.is_row, strict=True) if row]


class ChunkedFile:
    """A data file read `chunk_rows` data rows at a time; iterate it, or call `chunks(order)`.

    `feature_names` (a model's) fixes the columns of svmlight files without a header, so no
    first pass is needed; `with_labels=False` leaves labels out (prediction: Y has no columns).
    """

    def __init__(
        self, path: str | Path, options: ReaderOptions | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS, *, feature_names: Sequence[str] | None = None,
        with_labels: bool = True,
    ) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ConfigError(f"`chunk_rows` must be a positive integer; got {chunk_rows!r}")
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(self.path))
        if self.path.is_dir():
            raise DataFormatError("is a directory; expected a data file", path=self.path)
        self.options = make_options(options)
        self.chunk_rows = chunk_rows
        self.format = self.options.format or detect_format(self.path)
        self.source = _make_source(self, feature_names, with_labels)
        self.pieces: list[Piece] | None = None

    @property
    def n_rows(self) -> int | None:
        """Data rows in the file, when known (a header, a first pass, or one full iteration)."""
        return self.source.n_rows

    @property
    def seekable(self) -> bool:
        """Chunks can be read in any order cheaply (not inside .gz/.bz2/.xz files)."""
        return self.format == "parquet" or compression_of(self.path) is None

    def __iter__(self) -> Iterator[Dataset]:
        pieces: list[Piece] = []
        rows = 0
        with decompression_errors(self.path):
            for piece, chunk in self.source.read(None):
                pieces.append(piece)
                rows += chunk.n_samples
                yield chunk
        if not pieces:
            raise self.source.no_rows()
        self.source.finish(rows)
        self.pieces = pieces
        self.source.n_rows = rows

    def chunk_order(self, generator: np.random.Generator) -> list[int]:
        """A shuffled order of the chunks (known after one full iteration)."""
        if self.pieces is None:
            for _ in self:
                pass
        n = len(self.pieces or [])
        if not self.seekable:
            return list(range(n))
        return self.source.shuffle(list(self.pieces or []), generator)

    def chunks(self, order: Sequence[int]) -> Iterator[tuple[int, Dataset]]:
        """(index of its first row in the file, chunk) for the chunks numbered `order`."""
        if self.pieces is None:
            raise ConfigError("iterate the file once before reading chunks by number")
        with decompression_errors(self.path):
            if list(order) == list(range(len(self.pieces))):
                yield from ((p.row, chunk) for p, chunk in self.source.read(None))
                return
            for index in order:
                yield from ((p.row, chunk) for p, chunk in self.source.read(self.pieces[index], 1))


def iter_chunks(
    path: str | Path, options: ReaderOptions | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS, **kwargs: Any,
) -> Iterator[Dataset]:
    """The rows of `path` as Datasets of at most `chunk_rows` rows, in file order."""
    return iter(ChunkedFile(path, options, chunk_rows, **kwargs))


class Source:
    """Reading of one format: `read(start, limit)` yields (piece, chunk) from `start` on."""

    n_rows: int | None = None
    path: Path

    def read(self, start: Piece | None, limit: int | None = None) -> Iterator[tuple[Piece, Any]]:
        raise NotImplementedError

    def shuffle(self, pieces: list[Piece], generator: np.random.Generator) -> list[int]:
        return [int(i) for i in generator.permutation(len(pieces))]

    def no_rows(self) -> DataFormatError:
        """The error for a file without data rows (the format's whole-file reader's)."""
        return DataFormatError("no data rows; expected at least one row", path=self.path)

    def finish(self, rows: int) -> None:
        """Checks once every chunk was read (`rows` data rows): none by default."""


class TextSource(Source):
    """A line-based format: data rows found by `is_row`, starting after `start_of_data`."""

    def __init__(self, owner: ChunkedFile) -> None:
        self.path = owner.path
        self.chunk_rows = owner.chunk_rows

    def start_of_data(self) -> Piece:
        return Piece(0, 1, 0)

    def is_row(self, line: bytes) -> bool:
        return bool(line.strip())

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        raise NotImplementedError

    def read(self, start: Piece | None, limit: int | None = None) -> Iterator[tuple[Piece, Any]]:
        start = start or self.start_of_data()
        for piece, chunk in self.text_chunks(start, limit):
            yield piece, self.parse(chunk, piece)

    def text_chunks(self, start: Piece, limit: int | None) -> Iterator[tuple[Piece, TextChunk]]:
        """Chunks of `chunk_rows` data rows from `start` (at most `limit` chunks)."""
        with open_binary(self.path) as handle:
            _seek(handle, start.offset)
            offset, line, row, done = start.offset, start.line, start.row, 0
            chunk, piece = TextChunk([], [], line), start
            for raw in handle:
                if not chunk.lines:
                    chunk, piece = TextChunk([], [], line), Piece(offset, line, row)
                is_row = self.is_row(raw)
                chunk.lines.append(raw)
                chunk.is_row.append(is_row)
                offset, line, row = offset + len(raw), line + 1, row + is_row
                if row - piece.row == self.chunk_rows:
                    yield piece, chunk
                    chunk, done = TextChunk([], [], line), done + 1
                    if limit is not None and done >= limit:
                        return
            if row > piece.row and chunk.lines:
                yield piece, chunk


def _seek(handle: Any, offset: int) -> None:
    if offset:
        handle.seek(offset)


def _make_source(owner: ChunkedFile, feature_names: Sequence[str] | None,
                 with_labels: bool) -> Source:
    if owner.format == "svmlight":
        from multitag.data.svmlight.chunks import SvmlightSource

        return SvmlightSource(owner, feature_names, with_labels)
    if owner.format == "arff":
        from multitag.data.arff.chunks import ArffSource

        return ArffSource(owner, with_labels)
    if owner.format in ("csv", "tsv", "jsonl", "parquet"):
        from multitag.data.tabular.chunks import tabular_source

        return tabular_source(owner, with_labels)
    raise ConfigError(f"format {owner.format!r} cannot be read in chunks")
