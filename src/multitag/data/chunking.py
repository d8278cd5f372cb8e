"""The pieces every chunked reader is made of: where a chunk starts (`Piece`), the lines of one
(`TextChunk`), and the reading of one format (`Source`, `TextSource` for line-based formats).
`multitag.data.chunks.ChunkedFile` drives a source; each format family's `chunks` module
defines its own, registered with its format (`multitag.data.registry`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from multitag.data.dataset import Dataset
from multitag.data.limits import LINE_COST, line_limit, long_line_error
from multitag.data.reading import open_binary
from multitag.exceptions import DataFormatError

BLOCK_BYTES = 2**18  # read at a time; the lines of a block are split at once


class ChunkOwner(Protocol):
    """What a source needs of the file being read (a `ChunkedFile`)."""

    path: Path
    options: Any
    chunk_rows: int
    chunk_bytes: int
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
    """The data rows of one chunk (lines without their line break) and their file lines;
    blank and comment lines between them are not kept."""

    lines: list[bytes]
    numbers: list[int]

    def row_lines(self) -> np.ndarray:
        """File line number of every data row."""
        return np.asarray(self.numbers, dtype=np.int64)

    def rows(self) -> list[bytes]:
        return self.lines


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
    """A line-based format: data rows found by `is_row`, starting after `start_of_data`.

    `comment`: the byte that starts a comment in this format; a block of the file without it
    has its rows found by a fast test (not blank), else line by line with `is_row`."""

    comment: bytes | None = None

    def __init__(self, owner: ChunkOwner) -> None:
        self.path = owner.path
        self.chunk_rows = owner.chunk_rows
        self.chunk_bytes = owner.chunk_bytes

    def start_of_data(self) -> Piece:
        return Piece(0, 1, 0)

    def is_row(self, line: bytes) -> bool:
        return bool(line.strip())

    def row_indices(self, lines: list[bytes], block: bytes) -> list[int]:
        """Positions of the data rows among `lines` (a `block` of the file split at line
        breaks)."""
        if self.comment is None or self.comment not in block:
            return [i for i, ln in enumerate(lines) if ln and not ln.isspace()]
        is_row = self.is_row
        return [i for i, ln in enumerate(lines) if ln and is_row(ln)]

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        raise NotImplementedError

    def read(self, start: Piece | None, limit: int | None = None) -> Iterator[tuple[Piece, Any]]:
        start = start or self.start_of_data()
        for piece, chunk in self.text_chunks(start, limit):
            yield piece, self.parse(chunk, piece)

    def text_chunks(self, start: Piece, limit: int | None) -> Iterator[tuple[Piece, TextChunk]]:
        """Chunks of `chunk_rows` data rows from `start` (at most `limit` chunks), each also
        of at most `chunk_bytes` (a row costs its bytes and `LINE_COST`; a longer row is a
        chunk of its own). The file is read in blocks of whole lines; blank and comment lines
        are never held, and a chunk starts at its first data row."""
        chunk, piece, held, row, done = TextChunk([], []), start, 0, start.row, 0
        with open_binary(self.path) as handle:
            seek_to(handle, start.offset)
            for block, offset, line in line_blocks(handle, self.path, start.offset, start.line):
                lines = block.split(b"\n")
                if block.endswith(b"\n"):
                    lines.pop()
                at = _Offsets(lines, offset)
                for i in self.row_indices(lines, block):
                    cost = len(lines[i]) + LINE_COST
                    if chunk.lines and (row - piece.row == self.chunk_rows
                                        or held + cost > self.chunk_bytes):
                        yield piece, chunk
                        chunk, done = TextChunk([], []), done + 1
                        if limit is not None and done >= limit:
                            return
                    if not chunk.lines:
                        piece, held = Piece(at.of(i), line + i, row), 0
                    chunk.lines.append(lines[i])
                    chunk.numbers.append(line + i)
                    row, held = row + 1, held + cost
                del lines, at
        if chunk.lines:
            yield piece, chunk


class _Offsets:
    """Byte offsets of lines of a block (split at line breaks), found going forward."""

    def __init__(self, lines: list[bytes], offset: int) -> None:
        self.lines, self.index, self.offset = lines, 0, offset

    def of(self, i: int) -> int:
        self.offset += sum(map(len, islice(self.lines, self.index, i))) + i - self.index
        self.index = i
        return self.offset


def line_blocks(handle: Any, path: Path, offset: int = 0, line: int = 1,
                size: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(block, its byte offset, its first line) for blocks of whole lines of `handle` read
    `size` bytes (`BLOCK_BYTES`) at a time from `offset`, line `line`. A line longer than
    `line_limit()` is an error naming it; a long line is gathered in pieces and joined once
    (linear time: the pending bytes are not copied again on every read)."""
    limit, size = line_limit(), size or BLOCK_BYTES
    pending: list[bytes] = []  # the start of a line that goes on in the next read
    waiting = 0
    while True:
        data = handle.read(size)
        if not data:
            break
        cut = data.rfind(b"\n") + 1
        if waiting + (data.find(b"\n") + 1 or len(data)) > limit:
            raise long_line_error(limit, path, line)
        if not cut:
            pending.append(data)
            waiting += len(data)
            continue
        block = b"".join([*pending, data[:cut]]) if pending else data[:cut]
        rest = data[cut:]
        pending, waiting = ([rest], len(rest)) if rest else ([], 0)
        yield block, offset, line
        offset, line = offset + len(block), line + block.count(b"\n")
    if pending:
        yield b"".join(pending), offset, line


def seek_to(handle: Any, offset: int) -> None:
    if offset:
        handle.seek(offset)
