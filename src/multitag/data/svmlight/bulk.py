"""A bulk numpy parser for well-formed svmlight files, for large files (memory and time).

scikit-learn's `load_svmlight_file` keeps every row's labels as a Python tuple and the indices
as int64 in growing arrays, which for a million short rows peaks at several times the size of
the resulting CSR matrices, at a few microseconds per value. This parser reads the file twice in
blocks: first it counts rows and values to allocate the final arrays once, then it fills them
block by block with numpy. It only accepts plain rows (`labels index:value ...`, digits and
number characters only); anything else (comments, `qid:`, malformed rows) returns None and the
caller falls back to scikit-learn, which also produces the error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multitag.data.chunking import line_blocks
from multitag.data.limits import check_fits, csr_bytes
from multitag.data.reading import open_binary
from multitag.exceptions import DataFormatError

BLOCK_BYTES = 1024 * 1024
PLAIN_BYTES = b"0123456789.-+eE:, \t\r\n"  # all a row of numbers may hold


def is_plain(block: bytes) -> bool:
    """Whether `block` holds only PLAIN_BYTES (deleting them leaves nothing: one C pass)."""
    return not block.translate(None, PLAIN_BYTES)
_SPACED_COMMA = re.compile(rb" *, *")
_SEPARATOR = np.zeros(256, dtype=bool)  # inside a normalised block
_SEPARATOR[[ord(" "), ord("\n")]] = True


@dataclass
class BulkRows:
    """Raw parse: CSR parts of the features (indices as in the file) and label ids per row."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    label_ids: np.ndarray
    label_counts: np.ndarray


class NotPlain(Exception):
    """The block needs the general parser."""


def _blocks(path: Path, skip_header: bool, normalise: bool = True) -> Iterator[bytes]:
    """The file in blocks of whole lines (`normalise`: tabs and CRs turned into spaces); a
    long line is read in linear time, and one longer than the limit is an error."""
    with open_binary(path) as handle:
        if skip_header:
            handle.readline()
        for block, _, _ in line_blocks(handle, path, size=BLOCK_BYTES):
            block = block if block.endswith(b"\n") else block + b"\n"
            yield normalise_block(block) if normalise else block


def normalise_block(block: bytes) -> bytes:
    block = block.replace(b"\t", b" ").replace(b"\r", b" ")
    return _SPACED_COMMA.sub(b",", block) if b", " in block or b" ," in block else block


def parse_plain(path: Path, skip_header: bool) -> BulkRows | None:
    """Parse `path` in bulk, or None if it is not made of plain rows only."""
    try:
        n_rows, n_values, n_labels = _count(path, skip_header)
        check_fits(csr_bytes(n_rows, n_values) + 8 * (n_labels + n_rows),
                   f"{n_values:,} feature values and {n_labels:,} label ids", path)
        out = BulkRows(
            data=np.empty(n_values, dtype=np.float32),
            indices=np.empty(n_values, dtype=np.int32),
            indptr=np.zeros(n_rows + 1, dtype=np.int32 if n_values < 2**31 else np.int64),
            label_ids=np.empty(n_labels, dtype=np.int32),
            label_counts=np.zeros(n_rows, dtype=np.int32),
        )
        _fill(path, skip_header, out)
    except DataFormatError:  # a limit, not a row the general parser may read
        raise
    except (NotPlain, ValueError):
        return None
    return out


def _count(path: Path, skip_header: bool) -> tuple[int, int, int]:
    """Upper bounds of rows, values and label ids (exact for plain files)."""
    rows = values = labels = 0
    for block in _blocks(path, skip_header, normalise=False):
        if not is_plain(block):
            raise NotPlain
        lines = block.count(b"\n")
        rows += lines
        values += block.count(b":")
        labels += block.count(b",") + lines
    return rows, values, labels


def _fill(path: Path, skip_header: bool, out: BulkRows) -> None:
    row = value = label = 0
    for block in _blocks(path, skip_header):
        part = parse_block(block)
        if not sorted_within_rows(part.indices, part.row_counts):
            raise NotPlain  # scikit-learn names the row
        n, end = len(part.row_counts), value + len(part.indices)
        out.indices[value:end] = part.indices
        with np.errstate(over="ignore"):  # too large for float32 -> inf, an error later
            out.data[value:end] = part.values
        out.indptr[row + 1:row + n + 1] = value + np.cumsum(part.row_counts)
        out.label_ids[label:label + len(part.label_ids)] = part.label_ids
        out.label_counts[row:row + n] = part.label_counts
        row, value, label = row + n, end, label + len(part.label_ids)
    _trim(out, row, value, label)


@dataclass
class _Block:
    row_counts: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    label_counts: np.ndarray
    label_ids: np.ndarray


def parse_block(block: bytes) -> _Block:
    """Tokens of a block of whole lines, found and converted with numpy (no per-token objects).

    Every token is `index:value`, except an optional first token of a line: the labels."""
    codes = np.frombuffer(block, dtype=np.uint8)
    inside = (~_SEPARATOR[codes]).view(np.int8)
    edges = np.diff(np.concatenate(([0], inside, [0])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    line = np.cumsum(codes == ord("\n"), dtype=np.int32)[starts]
    first = np.ones(len(starts), dtype=bool)
    first[1:] = line[1:] != line[:-1]
    colons = np.flatnonzero(codes == ord(":"))
    owner = np.searchsorted(starts, colons, side="right") - 1
    _check_colons(colons, owner, starts, ends)
    has_colon = np.zeros(len(starts), dtype=bool)
    has_colon[owner] = True
    if (~has_colon & ~first).any():
        raise NotPlain  # a bare token after the first of its line
    row = np.cumsum(first) - 1
    n_rows = int(first.sum())
    labels = ~has_colon
    label_counts, label_ids = _labels(codes, starts[labels], ends[labels], row[labels], n_rows,
                                      has_colon)
    return _Block(
        row_counts=np.bincount(row[has_colon], minlength=n_rows),
        indices=_parse_uint(codes, starts[has_colon], colons),
        values=_parse_decimal(block, codes, colons + 1, ends[has_colon]),
        label_counts=label_counts, label_ids=label_ids,
    )


def _check_colons(
    colons: np.ndarray, owner: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> None:
    """Every colon inside a token, not at its edge, and at most one per token."""
    if colons.size == 0:
        return
    if (owner < 0).any() or (np.diff(owner) == 0).any():
        raise NotPlain
    if (colons == starts[owner]).any() or (colons + 1 >= ends[owner]).any():
        raise NotPlain


def _labels(
    codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, n_rows: int,
    has_colon: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Label ids of the label tokens (`3,17,42`) and how many each row has."""
    commas = np.flatnonzero(codes == ord(","))
    if commas.size:
        token = np.searchsorted(starts, commas, side="right") - 1
        if (token < 0).any() or (commas >= ends[np.maximum(token, 0)]).any():
            raise NotPlain  # a comma outside the labels
    seg_starts = np.sort(np.concatenate([starts, commas + 1]))
    seg_ends = np.sort(np.concatenate([commas, ends]))
    seg_rows = rows[np.searchsorted(starts, seg_starts, side="right") - 1]
    ids = _parse_uint(codes, seg_starts, seg_ends)
    return np.bincount(seg_rows, minlength=n_rows), ids


def _parse_uint(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whole numbers written with 1 to 9 digits."""
    length = ends - starts
    if length.size == 0:
        return np.zeros(0, dtype=np.int64)
    if length.min() < 1 or length.max() > 9:
        raise NotPlain
    value = np.zeros(len(starts), dtype=np.int64)
    for k in range(int(length.max())):
        active = length > k
        digit = codes[np.where(active, starts + k, 0)].astype(np.int64) - ord("0")
        if ((digit < 0) | (digit > 9))[active].any():
            raise NotPlain
        value = np.where(active, value * 10 + digit, value)
    return value


def _parse_decimal(
    block: bytes, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Numbers like -12.5 or 0.125 with numpy; ones with an exponent (1e-05) with float()."""
    if starts.size == 0:
        return np.zeros(0)
    exp = _with_exponent(codes, starts, ends)
    value = np.zeros(len(starts))
    plain = ~exp
    value[plain] = _decimal(codes, starts[plain], ends[plain])
    for i in np.flatnonzero(exp):
        value[i] = float(block[starts[i]:ends[i]])
    return value


def _with_exponent(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    marks = np.flatnonzero((codes == ord("e")) | (codes == ord("E")))
    out = np.zeros(len(starts), dtype=bool)
    if marks.size:
        token = np.searchsorted(starts, marks, side="right") - 1
        inside = (token >= 0) & (marks < ends[np.maximum(token, 0)])
        out[token[inside]] = True
    return out


def _decimal(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    if starts.size == 0:
        return np.zeros(0)
    lead = codes[starts]
    signed = (lead == ord("-")) | (lead == ord("+"))
    sign = np.where(lead == ord("-"), -1.0, 1.0)
    starts = starts + signed
    length = ends - starts
    if length.min() < 1 or length.max() > 30:
        raise NotPlain
    mantissa, decimals = np.zeros(len(starts)), np.zeros(len(starts), dtype=np.int64)
    dot, digits = np.zeros(len(starts), dtype=bool), np.zeros(len(starts), dtype=np.int64)
    for k in range(int(length.max())):
        active = length > k
        char = codes[np.where(active, starts + k, 0)].astype(np.int64)
        is_digit = active & (char >= ord("0")) & (char <= ord("9"))
        is_dot = active & (char == ord("."))
        if (active & ~is_digit & ~is_dot).any() or (is_dot & dot).any():
            raise NotPlain
        mantissa = np.where(is_digit, mantissa * 10 + (char - ord("0")), mantissa)
        decimals += is_digit & dot
        digits += is_digit
        dot |= is_dot
    if digits.min() < 1:
        raise NotPlain
    return sign * mantissa / 10.0 ** decimals


def _trim(out: BulkRows, rows: int, values: int, labels: int) -> None:
    """Drop the unused tail of the arrays (blank lines counted as rows in the first pass)."""
    out.indptr = out.indptr[:rows + 1]
    out.label_counts = out.label_counts[:rows]
    out.data = out.data[:values]
    out.indices = out.indices[:values]
    out.label_ids = out.label_ids[:labels]


def sorted_within_rows(indices: np.ndarray, row_counts: np.ndarray) -> bool:
    """Indices strictly increase within every row (scikit-learn's rule)."""
    if indices.size < 2:
        return True
    row_start = np.zeros(indices.size, dtype=bool)
    starts = np.cumsum(row_counts)[:-1]
    row_start[starts[starts < indices.size]] = True
    return bool(((np.diff(indices) > 0) | row_start[1:]).all())
