"""ARFF data rows -> one raw matrix of attribute values (nominal values as their index, `?` NaN).

Files with only numbers (the usual Mulan/MEKA case) are parsed in bulk with numpy; anything
else (quoted or nominal text values, comments in rows) row by row, which also finds the line of
any error. Sparse rows (`{index value, ...}`) give a CSR matrix, dense rows a dense array.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from multitag.data.arff.header import Attribute, Header, scan_values
from multitag.exceptions import DataFormatError

_NUM = r"(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\?)"
_DENSE_ROW = re.compile(rf"[ \t]*{_NUM}(?:[ \t]*,[ \t]*{_NUM})*[ \t]*")
_VAL = r"[-+.0-9eE?]+"  # checked as a number when converted
_SPARSE_ROW = re.compile(
    rf"[ \t]*\{{[ \t]*(?:\d+[ \t]+{_VAL}(?:[ \t]*,[ \t]*\d+[ \t]+{_VAL})*)?[ \t]*\}}[ \t]*"
)
_SPARSE_CANONICAL = re.compile(rf"\{{(?:\d+ {_VAL}(?:,\d+ {_VAL})*)?\}}")
_NOT_FINITE = re.compile(r"nan|inf", re.IGNORECASE)


@dataclass(frozen=True)
class RawBody:
    """Attribute values row by row, and the file line of every row (for error messages)."""

    values: np.ndarray | sp.csr_matrix
    row_lines: np.ndarray
    texts: list[str] | None = None

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.values)


def no_rows_error(path: Path) -> DataFormatError:
    return DataFormatError("no data rows after @data; expected at least one row", path=path)


def parse_body(
    lines: list[str], header: Header, path: Path, text_attribute: int | None = None,
    line_numbers: np.ndarray | None = None,
) -> RawBody:
    """Parse the rows after `@data`; keep the raw values of `text_attribute` as texts.

    `line_numbers`: the file line of each of `lines` (a chunk of a larger file), else
    `lines` are the file's from line 1."""
    numbers = [i for i in range(header.data_start, len(lines)) if _is_row(lines[i])]
    if not numbers:
        raise no_rows_error(path)
    rows = [lines[i] for i in numbers]
    if line_numbers is None:
        row_lines = np.asarray(numbers, dtype=np.int64) + 1
    else:
        row_lines = np.asarray(line_numbers, dtype=np.int64)[numbers]
    if text_attribute is None:
        fast = _parse_fast(rows, header.attributes, row_lines, path)
        if fast is not None:
            return RawBody(fast, row_lines)
    texts = [""] * len(rows) if text_attribute is not None else None
    values = _parse_slow(rows, header.attributes, row_lines, path, (text_attribute, texts))
    return RawBody(values, row_lines, texts)


def _is_row(line: str) -> bool:
    stripped = line.lstrip()
    return bool(stripped) and not stripped.startswith("%")


# --- bulk path -------------------------------------------------------------------------------

def _numeric_maps(attributes: list[Attribute]) -> list[dict[float, int] | None] | None:
    """For each nominal attribute, value -> index if all its values are numbers, else None."""
    maps: list[dict[float, int] | None] = []
    for attr in attributes:
        if attr.kind != "nominal":
            maps.append(None)
            continue
        try:
            keys = [float(v) for v in attr.values]
        except ValueError:
            return None
        maps.append({k: i for i, k in enumerate(keys)})
    return maps


def _parse_fast(
    rows: list[str], attributes: list[Attribute], row_lines: np.ndarray, path: Path
) -> np.ndarray | sp.csr_matrix | None:
    """Bulk parse of all-number rows; None when the row-by-row path must take over."""
    maps = _numeric_maps(attributes)
    if maps is None:
        return None
    n_attr = len(attributes)
    try:
        if _all_match(_SPARSE_CANONICAL, rows) or _all_match(_SPARSE_ROW, rows):
            values = _fast_sparse(rows, n_attr, row_lines, path)
        elif _all_match(_DENSE_ROW, rows):
            values = _fast_dense(rows, n_attr)
        else:
            return None
    except DataFormatError:
        raise
    except ValueError:  # a token that is no number: the row-by-row path names it
        return None
    if values is not None:
        _apply_nominal_maps(values, maps, attributes, row_lines, path)
    return values


def _fast_dense(rows: list[str], n_attr: int) -> np.ndarray | None:
    counts = np.fromiter((r.count(",") + 1 for r in rows), dtype=np.int64, count=len(rows))
    if (counts != n_attr).any():
        return None  # the row-by-row path names the line
    return _to_floats(",".join(rows).replace(",", " ").split()).reshape(-1, n_attr)


def _all_match(pattern: re.Pattern, rows: list[str]) -> bool:
    match = pattern.fullmatch
    return all(match(r) for r in rows)


def _to_floats(tokens: list[str]) -> np.ndarray:
    if not tokens:
        return np.zeros(0)
    if tokens.count("1") + tokens.count("0") == len(tokens):
        return (np.frombuffer("".join(tokens).encode(), dtype=np.uint8) == ord("1")).astype(float)
    return np.array([t if t != "?" else "nan" for t in tokens], dtype=np.float64)


def _fast_sparse(
    rows: list[str], n_attr: int, row_lines: np.ndarray, path: Path
) -> sp.csr_matrix:
    inner = [r.strip()[1:-1] for r in rows]
    counts = np.fromiter(
        (s.count(",") + 1 if s.strip() else 0 for s in inner), dtype=np.int64, count=len(inner)
    )
    tokens = " ".join(inner).replace(",", " ").split()
    cols = _whole_numbers(tokens[0::2])
    vals = _to_floats(tokens[1::2])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    _check_sparse_indices(cols, indptr, n_attr, row_lines, path)
    return sp.csr_matrix((vals, cols, indptr), shape=(len(rows), n_attr))


def _whole_numbers(tokens: list[str]) -> np.ndarray:
    """Digit-only tokens as int64, digit by digit with numpy (no per-token conversion)."""
    if not tokens:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    if lengths.max() > 15:
        raise ValueError("an index of more than 15 digits")  # the row-by-row path names it
    digits = np.frombuffer("".join(tokens).encode("ascii"), dtype=np.uint8) - ord("0")
    ends = np.cumsum(lengths)
    power = np.repeat(ends, lengths) - np.arange(ends[-1]) - 1
    return np.add.reduceat(digits.astype(np.int64) * 10**power, ends - lengths)


def _check_sparse_indices(
    cols: np.ndarray, indptr: np.ndarray, n_attr: int, row_lines: np.ndarray, path: Path
) -> None:
    bad = np.flatnonzero(cols >= n_attr)
    if bad.size:
        row = int(np.searchsorted(indptr, bad[0], side="right") - 1)
        raise DataFormatError(
            f"index {int(cols[bad[0]])} out of range; expected 0 to {n_attr - 1} "
            f"(the file declares {n_attr} attributes)", path=path, line=int(row_lines[row]),
        )
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keys = rows * n_attr + cols
    order = np.sort(keys)
    dup = np.flatnonzero(order[1:] == order[:-1])
    if dup.size:
        row, col = divmod(int(order[dup[0]]), n_attr)
        raise DataFormatError(
            f"index {col} appears twice in one sparse row; expected each index at most once",
            path=path, line=int(row_lines[row]),
        )


def _apply_nominal_maps(
    values: np.ndarray | sp.csr_matrix, maps: list, attributes: list[Attribute],
    row_lines: np.ndarray, path: Path,
) -> None:
    """Replace nominal values (numbers) by their index in place; unknown values are errors."""
    identity = [m is not None and all(k == i for k, i in m.items()) for m in maps]
    _check_identity(values, maps, identity, attributes, row_lines, path)
    for j, mapping in enumerate(maps):
        if mapping is not None and not identity[j]:
            _remap_column(values, j, mapping, attributes[j], row_lines, path)


def _check_identity(
    values: np.ndarray | sp.csr_matrix, maps: list, identity: list[bool],
    attributes: list[Attribute], row_lines: np.ndarray, path: Path,
) -> None:
    """Nominal values that are their own index (`{0,1}`) must be whole numbers below the count."""
    limit = np.array([len(m) if ident else np.inf for m, ident in zip(maps, identity, strict=True)])
    if not np.isfinite(limit).any():
        return
    if sp.issparse(values):
        data, cap = values.data, limit[values.indices]
    else:
        data, cap = values, np.broadcast_to(limit, values.shape)
    whole = np.isnan(data) | ((data == np.floor(data)) & (data >= 0))
    bad = ~(whole & ((data < cap) | np.isnan(data)) | np.isinf(cap))
    if bad.any():
        if sp.issparse(values):
            pos = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(values.indptr, pos, side="right") - 1)
            col = int(values.indices[pos])
        else:
            row, col = (int(v[0]) for v in np.nonzero(bad))
        value = values[row, col]
        _unknown_nominal(attributes[col], f"{value:g}", int(row_lines[row]), path)


def _remap_column(
    values: np.ndarray | sp.csr_matrix, j: int, mapping: dict[float, int], attr: Attribute,
    row_lines: np.ndarray, path: Path,
) -> None:
    if sp.issparse(values):
        where = np.flatnonzero(values.indices == j)
        column = values.data[where]
    else:
        where, column = None, values[:, j]
    keys = np.array(sorted(mapping), dtype=np.float64)
    pos = np.clip(np.searchsorted(keys, column), 0, len(keys) - 1)
    known = (keys[pos] == column) | np.isnan(column)
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        row = first if where is None else int(
            np.searchsorted(values.indptr, where[first], side="right") - 1)
        _unknown_nominal(attr, f"{column[first]:g}", int(row_lines[row]), path)
    index = np.array([mapping[k] for k in keys], dtype=np.float64)[pos]
    mapped = np.where(np.isnan(column), np.nan, index)
    if where is None:
        values[:, j] = mapped
    else:
        values.data[where] = mapped


def _unknown_nominal(attr: Attribute, value: object, line: int, path: Path) -> None:
    shown = ",".join(attr.values[:10]) + (",..." if len(attr.values) > 10 else "")
    raise DataFormatError(
        f"value {value!s} of attribute {attr.name!r} is not one of its values {{{shown}}}",
        path=path, line=line,
    )


# --- row-by-row path -------------------------------------------------------------------------

def _parse_slow(
    rows: list[str], attributes: list[Attribute], row_lines: np.ndarray, path: Path,
    keep: tuple[int | None, list[str] | None] = (None, None),
) -> np.ndarray | sp.csr_matrix:
    """Row by row; `keep` = (attribute, list) collects that attribute's raw text per row."""
    lookups = [{v: i for i, v in enumerate(a.values)} for a in attributes]
    r_idx: list[int] = []
    c_idx: list[int] = []
    vals: list[float] = []
    any_sparse = False
    for r, text in enumerate(rows):
        line = int(row_lines[r])
        try:
            pairs, is_sparse = _row_pairs(text, len(attributes))
        except ValueError as err:
            raise DataFormatError(str(err), path=path, line=line) from err
        any_sparse |= is_sparse
        for j, token in pairs:
            if j == keep[0]:
                keep[1][r] = "" if token == "?" else token  # type: ignore[index]
            r_idx.append(r)
            c_idx.append(j)
            vals.append(_convert(token, attributes[j], lookups[j], line, path))
    shape = (len(rows), len(attributes))
    per_row = np.bincount(np.asarray(r_idx, dtype=np.int64), minlength=shape[0])
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    cols = np.asarray(c_idx, dtype=np.int64)
    if any_sparse:
        _check_sparse_indices(cols, indptr, shape[1], row_lines, path)
    matrix = sp.csr_matrix((np.asarray(vals, dtype=np.float64), cols, indptr), shape=shape)
    return matrix if any_sparse else matrix.toarray()


def _row_pairs(text: str, n_attr: int) -> tuple[list[tuple[int, str]], bool]:
    """(attribute index, token) pairs of one row, and whether it was a sparse row."""
    stripped = text.strip()
    if stripped.startswith("{"):
        start = text.index("{") + 1
        tokens, end = scan_values(text, start, sparse=True)
        tail = text[end:].strip()
        if not tail.startswith("}") or tail[1:].strip()[:1] not in ("", "%"):
            raise ValueError("sparse row must end with '}'")
        pairs = [(_index(t.split("\t", 1)[0], n_attr), t.split("\t", 1)[1]) for t in tokens]
        return pairs, True
    tokens, _ = scan_values(text)
    if len(tokens) != n_attr:
        raise ValueError(
            f"row has {len(tokens)} values; expected {n_attr} (one per @attribute)"
        )
    return list(enumerate(tokens)), False


def _index(digits: str, n_attr: int) -> int:
    """A sparse row's attribute index (digits), below `n_attr`; long ones are not converted."""
    j = int(digits) if len(digits) <= 18 else None
    if j is None or j >= n_attr:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits):,} digits)"
        raise ValueError(f"index {shown} out of range; expected 0 to {n_attr - 1} "
                         f"(the file declares {n_attr} attributes)")
    return j


def _convert(token: str, attr: Attribute, lookup: dict[str, int], line: int, path: Path) -> float:
    if token == "?":
        return math.nan
    if attr.kind == "numeric":
        try:
            value = float(token)
        except ValueError:
            value = math.nan
        if math.isnan(value) or _NOT_FINITE.search(token):
            raise DataFormatError(
                f"attribute {attr.name!r}: expected a number or ?; got {token!r}",
                path=path, line=line,
            )
        return value
    if attr.kind == "nominal":
        if token not in lookup:
            _unknown_nominal(attr, repr(token), line, path)
        return float(lookup[token])
    if attr.kind == "string":  # numbered by first occurrence (to count distinct values)
        return float(lookup.setdefault(token, len(lookup)))
    return 0.0  # date attributes are dropped later
