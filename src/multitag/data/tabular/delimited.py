"""Delimited text (CSV, TSV) read by pandas, with its errors as one line naming the file line.

`read_csv_frame` is `pandas.read_csv` that never takes a first field for the index and marks a
frame whose rows are longer than the header; `ragged`, `check_ragged` and `check_row_lengths`
find the row of another length than the header, and `delimited_error` turns pandas' parse error
into a `DataFormatError`. Used by the whole-file reader and by the chunked CSV/TSV source.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from multitag.exceptions import DataFormatError

_LINE = re.compile(r"line (\d+)")
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_csv_frame(source: Any, sep: str, **kwargs: Any) -> Any:
    """`pandas.read_csv` that never takes a first field for the index: when rows are longer
    than the header the frame is empty and `ragged` (`check_row_lengths` names the row)."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(source, sep=sep, skipinitialspace=True, index_col=False,
                               **kwargs)
        except pd.errors.ParserWarning:  # pandas would drop the extra fields
            frame = pd.DataFrame()
            frame.attrs["ragged"] = True
            return frame


def ragged(frame: Any) -> bool:
    """Whether some row may have another length than the header: pandas pads short rows with
    missing values; `read_csv_frame` marks rows that are too long."""
    padded = frame.shape[1] and frame.iloc[:, -1].isna().any()
    return bool(padded) or bool(frame.attrs.get("ragged"))


def delimited_error(err: Exception, sep: str, path: Path,
                    line_of: Callable[[int], int] | None = None) -> DataFormatError:
    """pandas' parse error as one line naming the file line (`line_of` maps pandas' line
    number in the text it read to the file's, for text read in chunks)."""
    found = _LINE.search(str(err))
    fields = _FIELDS.search(str(err))
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    problem = (f"row has {fields.group(3)} fields; expected {fields.group(1)} (one per "
               "header column)" if fields else
               f"not a valid {'CSV' if sep == ',' else 'TSV'} file: {first}")
    line = int(found.group(1)) if found else None
    if line is not None and line_of is not None:
        line = line_of(line)
    return DataFormatError(problem, path=path, line=line)


def check_ragged(frame: Any, lines: Iterable[str], sep: str, path: Path,
                 numbers: Sequence[int] | None = None) -> None:
    """For a `ragged` frame: the row of another length than the header is an error."""
    check_row_lengths(lines, sep, path, numbers)
    if frame.attrs.get("ragged"):
        raise DataFormatError("rows have more fields than the header; expected one per header "
                              "column", path=path)


def check_row_lengths(lines: Iterable[str], sep: str, path: Path,
                      numbers: Sequence[int] | None = None) -> None:
    """A row of another length than the header (the first of `lines`) is an error; see
    `ragged`. `numbers`: the file line of each of `lines` (default: they start at line 1)."""
    reader = csv.reader(lines, delimiter=sep)
    width = None
    try:
        for i, record in enumerate(reader):
            if width is None:
                width = len(record)
            elif record and len(record) != width:
                raise DataFormatError(
                    f"row has {len(record)} fields; expected {width} (one per header column)",
                    path=path, line=int(numbers[i]) if numbers is not None else reader.line_num)
    except csv.Error as err:  # e.g. a lone carriage return inside a row
        at = reader.line_num - 1
        line = int(numbers[min(at, len(numbers) - 1)]) if numbers is not None else at + 1
        problem = ("a carriage return inside a row; expected one row a line"
                   if "new-line" in str(err) else f"not a valid row ({err})")
        raise DataFormatError(problem, path=path, line=line) from err
