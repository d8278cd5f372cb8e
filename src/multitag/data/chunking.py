"""The pieces every chunked reader is made of: where a chunk starts (`Piece`), the lines of one
(`TextChunk`), and the reading of one format (`Source`, `TextSource` for line-based formats).
`multitag.data.chunks.ChunkedFile` drives a source; each format family's `chunks` module
defines its own, registered with its format (`multitag.data.registry`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from multitag.data.dataset import Dataset
from multitag.data.reading import open_binary
from multitag.exceptions import DataFormatError


class ChunkOwner(Protocol):
    """What a source needs of the file being read (a `ChunkedFile`)."""

    path: Path
    options: Any
    chunk_rows: int
    format: str
    label_names: list[str] | None


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

    def __init__(self, owner: ChunkOwner) -> None:
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
            seek_to(handle, start.offset)
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


def seek_to(handle: Any, offset: int) -> None:
    if offset:
        handle.seek(offset)
