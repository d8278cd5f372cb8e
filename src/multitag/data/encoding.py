"""One encoding policy for every reader, whole-file and chunked.

Which value of a two-valued nominal is the positive one, when a nominal or text column is an
identifier, the labels a multi-valued target attribute becomes, the checks of `--drop-columns`,
and `FeatureEncoding`: what a reader made of the file's feature attributes (shown by
`multitag data info`). ARFF (`multitag.data.arff`), the tabular readers and their chunked
readers all decide through these functions, so a file read whole or in chunks gets one set of
columns.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multitag.exceptions import DataFormatError

# Recognisable (false, true) pairs of a two-valued nominal, compared in lower case.
TRUE_FALSE_PAIRS: tuple[tuple[str, str], ...] = (
    ("0", "1"), ("no", "yes"), ("false", "true"), ("n", "y"), ("f", "t"),
    ("negative", "positive"),
)
IDENTIFIER_MIN_ROWS = 20
IDENTIFIER_SHARE = 0.9
MAX_ONE_HOT_VALUES = 50  # a text column of more distinct values is free text (dropped)


def positive_value(values: Sequence[str]) -> str:
    """The value of a two-valued nominal that becomes 1: the one that reads as true when the
    pair is recognisable ({no,yes}, {0,1}, {false,true}, {n,y}, {f,t}, {negative,positive},
    any case), else the second of `values` (as declared in ARFF, in sorted order for tables)."""
    low = [str(v).strip().lower() for v in values]
    for false, true in TRUE_FALSE_PAIRS:
        if sorted(low) == sorted((false, true)):
            return values[low.index(true)]
    return values[1]


def is_zero_one(values: Sequence[str]) -> bool:
    """The values are 0 and 1 (a nominal {0,1} stays one column named as the attribute)."""
    return sorted(str(v).strip() for v in values) == ["0", "1"]


def binary_column(name: str, values: Sequence[str]) -> tuple[str, int]:
    """(column name, index in `values` of the positive value) of a two-valued nominal:
    `name` itself for {0,1}, else `name=<positive value>`."""
    positive = positive_value(values)
    index = list(values).index(positive)
    return (name if is_zero_one(values) else f"{name}={positive}"), index


def is_identifier(n_distinct: int, n_rows: int) -> bool:
    """Distinct on nearly every row: at least 90% of the rows, in a file of 20 rows or more."""
    return n_rows >= IDENTIFIER_MIN_ROWS and n_distinct >= IDENTIFIER_SHARE * n_rows


def identifier_notice(kind: str, name: str, n_distinct: int, n_rows: int) -> str:
    return (f"dropped identifier-like {kind} {name!r} ({n_distinct:,} distinct values in "
            f"{n_rows:,} rows)")


def distinct_counts(columns: np.ndarray, k: int) -> np.ndarray:
    """How often each of `k` nominal indices occurs in `columns` (NaN: missing, not counted)."""
    values = np.asarray(columns, dtype=np.float64).ravel()
    values = values[~np.isnan(values)].astype(np.int64)
    return np.bincount(values, minlength=k)[:k]


@dataclass(frozen=True)
class TextColumn:
    """What a text column of a table becomes: 'one_hot' (a column `name=value` per value),
    'binary' (one 0/1 column `name=<positive>`), or left out: 'identifier', 'free_text'."""

    kind: str
    names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the value of each column
    notice: str = ""
    example: str = ""  # binary: 'negative/positive'

    @property
    def kept(self) -> bool:
        return self.kind in ("one_hot", "binary")


def text_column(name: str, values: Collection[str], n_rows: int) -> TextColumn:
    """The encoding of a text column with distinct `values` in `n_rows` rows. A chunked
    reader stops collecting values just over MAX_ONE_HOT_VALUES: the column is dropped then
    either way, only its notice may say free text for an identifier."""
    distinct = sorted(values)
    if is_identifier(len(distinct), n_rows):
        return TextColumn("identifier", notice=identifier_notice(
            "column", name, len(distinct), n_rows) + "; use --text-column if it is text")
    if len(distinct) > MAX_ONE_HOT_VALUES:
        return TextColumn("free_text", notice=(
            f"dropped column {name!r} (over {MAX_ONE_HOT_VALUES} distinct text values): an "
            "identifier or free text; use --text-column for text"))
    if len(distinct) == 2:
        column, positive = binary_column(name, distinct)
        return TextColumn("binary", (column,), (distinct[positive],),
                          example=binary_example(distinct))
    return TextColumn("one_hot", tuple(f"{name}={v}" for v in distinct), tuple(distinct))


def target_values(name: str, values: Sequence[str], counts: np.ndarray | None,
                  all_values: bool) -> tuple[list[int], str]:
    """The values of a target attribute of k > 2 values that become labels `name=value`, and
    a notice. By default every value but the most frequent in the file (`counts`; the first
    declared of equals), which is the implicit negative; `all_values`: every value."""
    k = len(values)
    if all_values or counts is None:
        return list(range(k)), f"{name}: {k} values -> {k} labels (--all-target-values)"
    negative = int(np.argmax(counts))
    return ([i for i in range(k) if i != negative],
            f"{name}: {k} values -> {k - 1} labels; the most frequent value "
            f"{values[negative]!r} is the implicit negative")


def target_values_from_names(name: str, values: Sequence[str],
                             label_names: Collection[str]) -> list[int] | None:
    """The values of a target attribute a model's `label_names` keep (`name=value`), or None
    when those names do not say (none of them is of this attribute)."""
    kept = [i for i, v in enumerate(values) if f"{name}={v}" in label_names]
    return kept if len(kept) >= len(values) - 1 and kept else None


def check_drop_columns(drop: Sequence[str], names: Sequence[str], protected: dict[str, str],
                       path: Path, kind: str = "column") -> set[str]:
    """The names of `--drop-columns` (all of them `names` of the file, none `protected`:
    name -> what it is, e.g. 'a label'); an unknown or protected name is an error."""
    if not drop:
        return set()
    known = {str(n) for n in names}
    unknown = [d for d in drop if d not in known]
    if unknown:
        valid = [str(n) for n in names if str(n) not in protected]
        shown = ", ".join(repr(n) for n in valid[:8])
        more = f", ... ({len(valid):,} in all)" if len(valid) > 8 else ""
        raise DataFormatError(
            f"--drop-columns: no {kind} {', '.join(map(repr, unknown))} in the file; "
            f"expected some of {shown}{more}", path=path)
    clash = [d for d in drop if d in protected]
    if clash:
        raise DataFormatError(
            f"--drop-columns names {clash[0]!r}, which is {protected[clash[0]]}; only feature "
            f"{kind}s can be dropped (leave it out of --drop-columns)", path=path)
    return set(drop)


@dataclass(frozen=True)
class FeatureEncoding:
    """What a reader made of the file's feature attributes (labels and text left out)."""

    attributes: int  # in the file, before encoding
    one_hot: int = 0  # nominals of 3+ values (or 1): one column per value
    binary: int = 0  # two-valued nominals other than {0,1}: one 0/1 column each
    binary_example: str = ""  # e.g. 'NO/YES' (negative/positive)
    identifiers: int = 0  # dropped as identifiers
    unusable: int = 0  # dropped: string/date attributes, free-text columns
    user_dropped: int = 0  # dropped by --drop-columns

    def describe(self) -> str:
        """E.g. '3 nominal one-hot; 1,185 two-valued (e.g. NO/YES) -> one column each; 1
        identifier dropped' ('' when every attribute is one column as it is)."""
        parts = []
        if self.one_hot:
            parts.append(f"{self.one_hot:,} nominal one-hot")
        if self.binary:
            example = ""
            if self.binary_example:
                example = f" ({'' if self.binary == 1 else 'e.g. '}{self.binary_example})"
            parts.append(f"{self.binary:,} two-valued{example} -> one column each")
        if self.identifiers:
            parts.append(f"{self.identifiers:,} identifier{_s(self.identifiers)} dropped")
        if self.unusable:
            parts.append(f"{self.unusable:,} text/date attribute{_s(self.unusable)} dropped")
        if self.user_dropped:
            parts.append(f"{self.user_dropped:,} dropped by --drop-columns")
        return "; ".join(parts)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def binary_example(values: Sequence[str]) -> str:
    """'negative/positive' of a two-valued nominal, for `FeatureEncoding.binary_example`."""
    positive = positive_value(values)
    negative = next(v for v in values if v != positive)
    return f"{negative}/{positive}"
