"""Reading a file in chunks of rows: each chunk is a `Dataset` with the same columns as `load`.

`iter_chunks(path, options, chunk_rows)` yields the rows of a file a chunk at a time, so memory
depends on the chunk size, not on the file. Every chunk has the feature and label columns a
whole-file `load` would give; where those depend on the whole file (svmlight without a header:
its width and label ids; CSV/JSONL/Parquet: one-hot values and tags; ARFF: identifiers and the
implicit negative of multi-valued labels) the file is read once first to find them, unless the
caller gives them (`feature_names`, `label_names` from a model). Errors name the file
and the line in the whole file. `ChunkedFile` also reads chunks in any order (training shuffles
them), seeking to where each chunk starts in uncompressed text files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multitag.data.chunking import Piece, Source
from multitag.data.dataset import Dataset
from multitag.data.limits import CHUNK_BYTES, reading_errors
from multitag.data.reading import compression_of, decompression_errors
from multitag.data.registry import ReaderOptions, detect_format, format_spec, make_options
from multitag.exceptions import ConfigError, DataFormatError

DEFAULT_CHUNK_ROWS = 10_000


class ChunkedFile:
    """A data file read `chunk_rows` data rows at a time; iterate it, or call `chunks(order)`.

    A chunk of a text file is also at most `chunk_bytes` of data rows
    (`multitag.data.limits.CHUNK_BYTES` by default; blank and comment lines are never held),
    so memory is bounded by bytes as well as rows; the readers' resource limits hold for every
    chunk, and running out of memory anyway is a one-line `DataFormatError` naming the file.

    `feature_names` (a model's) fixes the columns of svmlight files without a header, so no
    first pass is needed; `with_labels=False` leaves labels out (prediction: Y has no columns).
    `label_names` (a model's) say which values of a multi-valued ARFF label attribute are
    labels, so no first pass is needed to find its most frequent value.
    """

    def __init__(
        self, path: str | Path, options: ReaderOptions | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS, *, feature_names: Sequence[str] | None = None,
        with_labels: bool = True, label_names: Sequence[str] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ConfigError(f"`chunk_rows` must be a positive integer; got {chunk_rows!r}")
        if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            raise ConfigError(f"`chunk_bytes` must be a positive integer; got {chunk_bytes!r}")
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(self.path))
        if self.path.is_dir():
            raise DataFormatError("is a directory; expected a data file", path=self.path)
        self.options = make_options(options)
        self.chunk_rows = chunk_rows
        self.chunk_bytes = chunk_bytes
        self.label_names = list(label_names) if label_names is not None else None
        with reading_errors(self.path):
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
        with reading_errors(self.path), decompression_errors(self.path):
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
        with reading_errors(self.path), decompression_errors(self.path):
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


def _make_source(owner: ChunkedFile, feature_names: Sequence[str] | None,
                 with_labels: bool) -> Source:
    spec = format_spec(owner.format)
    if not spec.chunks:
        raise ConfigError(f"format {owner.format!r} cannot be read in chunks")
    return spec.load_chunks()(owner, feature_names, with_labels)
