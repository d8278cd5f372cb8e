"""ARFF files in chunks: the header is parsed once, the data rows a chunk at a time.

The columns come from the header (nominal values are declared there), so no first pass is
needed; each chunk goes through the same row parser and Dataset builder as `read_arff`. Lines
are decoded as UTF-8, a line that is not valid UTF-8 as Latin-1 (with a notice).
"""

from __future__ import annotations

from dataclasses import replace

from multitag.data.arff.body import no_rows_error, parse_body
from multitag.data.arff.header import parse_header
from multitag.data.arff.reader import dataset_from_body, label_indices, text_attribute
from multitag.data.chunking import ChunkOwner, Piece, TextChunk, TextSource
from multitag.data.dataset import Dataset
from multitag.data.reading import check_text_start, open_binary
from multitag.exceptions import DataFormatError


class ArffSource(TextSource):
    def __init__(self, owner: ChunkOwner, with_labels: bool) -> None:
        super().__init__(owner)
        self.with_labels = with_labels
        lines, self.data_start = self._header_lines()
        self.header = replace(parse_header(lines, self.path), data_start=0)
        self.label_idx, source = label_indices(self.header, self.path, owner.options)
        self.text_idx = text_attribute(self.header, owner.options.text_column, self.path)
        self.notices = (f"labels: {len(self.label_idx)} attribute(s) named by {source}",)

    def _header_lines(self) -> tuple[list[str], Piece]:
        """Lines up to and including `@data`, and where the data starts. The checks and the
        header parser are `read_arff`'s, so a file without `@data` gets its message."""
        check_text_start(self.path)
        lines: list[str] = []
        offset = 0
        with open_binary(self.path) as handle:
            for raw in handle:
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

    def parse(self, chunk: TextChunk, piece: Piece) -> Dataset:
        decoded = [_decode(raw, False) for raw in chunk.lines]
        lines = [text for text, _ in decoded]
        body = parse_body(lines, self.header, self.path, self.text_idx,
                          line_offset=chunk.first_line - 1)
        notices = self.notices if piece.row == 0 else ()
        bad = [chunk.first_line + i for i, (_, ok) in enumerate(decoded) if not ok]
        if bad:
            notices += (f"{self.path.name}: line {bad[0]} is not valid UTF-8; read as Latin-1",)
        columns = (self.label_idx, self.text_idx)
        return dataset_from_body(body, self.header, self.path, columns, notices,
                                 with_labels=self.with_labels)


def _decode(raw: bytes, first: bool) -> tuple[str, bool]:
    """A line as text without its line ending; (text, was valid UTF-8)."""
    raw = raw.rstrip(b"\r\n")
    try:
        return raw.decode("utf-8-sig" if first else "utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("latin-1"), False


def arff_source(owner: ChunkOwner, feature_names: object, with_labels: bool) -> ArffSource:
    """The chunked reader of an ARFF file (registered with the format)."""
    return ArffSource(owner, with_labels)
