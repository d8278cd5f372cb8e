"""ARFF files in chunks: the header is parsed once, the data rows a chunk at a time.

Most columns come from the header (nominal values are declared there). What depends on the
rows (whether a nominal of many values is an identifier; the most frequent value of a
multi-valued label, its implicit negative) is found by a first pass over the file, unless a
model's feature or label names say it. Each chunk goes through the same row parser and
Dataset builder as `read_arff`. Lines are decoded as UTF-8, a line that is not valid UTF-8 as
Latin-1 (with a notice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from multitag.data.arff.body import no_rows_error, parse_body
from multitag.data.arff.encode import ArffPlan, NominalCounts
from multitag.data.arff.header import parse_header
from multitag.data.arff.reader import ColumnChoice, dataset_from_body
from multitag.data.chunking import ChunkOwner, Piece, TextChunk, TextSource
from multitag.data.dataset import Dataset
from multitag.data.limits import lines_of
from multitag.data.reading import check_text_start, open_binary
from multitag.exceptions import DataFormatError


class ArffSource(TextSource):
    comment = b"%"  # a line starting with it

    def __init__(self, owner: ChunkOwner, with_labels: bool,
                 feature_names: Sequence[str] | None = None) -> None:
        super().__init__(owner)
        self.with_labels = with_labels
        lines, self.data_start = self._header_lines()
        self.header = replace(parse_header(lines, self.path), data_start=0)
        self.columns = ColumnChoice(
            self.header, self.path, owner.options, owner.label_names,
            with_labels=with_labels, feature_names=feature_names)
        self.text_idx = self.columns.text_idx
        self.plan: ArffPlan | None = None

    def _header_lines(self) -> tuple[list[str], Piece]:
        """Lines up to and including `@data`, and where the data starts. The checks and the
        header parser are `read_arff`'s, so a file without `@data` gets its message."""
        check_text_start(self.path)
        lines: list[str] = []
        offset = 0
        with open_binary(self.path) as handle:
            for raw in lines_of(handle, self.path):
                offset += len(raw)
                lines.append(_decode(raw, len(lines) == 0)[0])
                if lines[-1].strip().lower().startswith("@data"):
                    break
        return lines, Piece(offset, len(lines) + 1, 0)

    def start_of_data(self) -> Piece:
        return self.data_start

    def no_rows(self) -> DataFormatError:
        return no_rows_error(self.path)

    def is_row(self, line: bytes) -> bool:
        stripped = line.lstrip()
        return bool(stripped.strip()) and not stripped.startswith(b"%")

    def _make_plan(self) -> ArffPlan:
        """The plan; a first pass over the rows when it depends on them."""
        counts = NominalCounts(self.header.attributes, self.columns.counted)
        if counts.counts:
            for _, chunk in self.text_chunks(self.start_of_data(), None):
                counts.add(self._body(chunk)[0].values)
            if counts.n_rows == 0:
                raise self.no_rows()
            self.n_rows = counts.n_rows
        return self.columns.plan(counts)

    def _body(self, chunk: TextChunk) -> tuple:
        decoded = [_decode(raw, False) for raw in chunk.rows()]
        lines = [text for text, _ in decoded]
        body = parse_body(lines, self.header, self.path, self.text_idx,
                          line_numbers=chunk.row_lines())
        bad = [n for n, (_, ok) in zip(chunk.numbers, decoded, strict=True) if not ok]
        return body, bad

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        if self.plan is None:
            self.plan = self._make_plan()
        body, bad = self._body(chunk)
        notices: tuple[str, ...] = ()
        if bad:
            notices += (f"{self.path.name}: line {bad[0]} is not valid UTF-8; read as Latin-1",)
        return dataset_from_body(body, self.header, self.path, self.plan, notices,
                                 with_labels=self.with_labels, first=piece.row == 0)


def _decode(raw: bytes, first: bool) -> tuple[str, bool]:
    """A line as text without its line ending; (text, was valid UTF-8)."""
    raw = raw.rstrip(b"\r\n")
    try:
        return raw.decode("utf-8-sig" if first else "utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("latin-1"), False


def arff_source(owner: ChunkOwner, feature_names: Sequence[str] | None,
                with_labels: bool) -> ArffSource:
    """The chunked reader of an ARFF file (registered with the format)."""
    return ArffSource(owner, with_labels, feature_names)
