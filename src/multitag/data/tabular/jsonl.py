"""JSON lines records under the readers' limits (`multitag.data.limits`): a line nests at most
`MAX_JSON_DEPTH` levels, a file has at most `MAX_JSON_KEYS` distinct keys, and the table the
records make (rows x distinct keys, as pandas builds it) must fit before it is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multitag.data.limits import MAX_JSON_DEPTH, MAX_JSON_KEYS, check_fits, table_bytes
from multitag.exceptions import DataFormatError

TABLE_CELL_BYTES = 16  # pandas builds an object array of the records, then the columns


def json_record(line: str | bytes, path: Path, number: int) -> dict[str, Any]:
    """The JSON object on one line; invalid JSON, another type or deep nesting is an error."""
    try:
        record = json.loads(line)
    except RecursionError as err:
        raise _deep_error(path, number) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(f"not valid JSON ({getattr(err, 'msg', err)}); expected one "
                              "object a line", path=path, line=number) from err
    if not isinstance(record, dict):
        raise DataFormatError(f"expected a JSON object; got {type(record).__name__}",
                              path=path, line=number)
    if not _shallow(record):
        raise _deep_error(path, number)
    return record


def _deep_error(path: Path, number: int) -> DataFormatError:
    return DataFormatError(
        f"JSON nested more than {MAX_JSON_DEPTH} levels deep; expected flat records like "
        '{"text": "...", "labels": ["a", "b"]}', path=path, line=number)


def _shallow(record: dict[str, Any]) -> bool:
    """Nesting within `MAX_JSON_DEPTH` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        items = value.values() if isinstance(value, dict) else value
        stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))
    return True


class KeyTally:
    """The distinct keys of the records seen, bounded, and the check of the table they make."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: set[str] = set()

    def add(self, record: dict[str, Any], number: int) -> None:
        if record.keys() <= self.keys:
            return
        self.keys.update(record)
        if len(self.keys) > MAX_JSON_KEYS:
            raise DataFormatError(
                f"more than {MAX_JSON_KEYS:,} distinct keys by this line; expected the same "
                "fields on every line", path=self.path, line=number)

    def check_table(self, rows: int) -> None:
        """The table of `rows` rows and every key seen must fit before pandas builds it."""
        check_fits(table_bytes(rows, len(self.keys), TABLE_CELL_BYTES),
                   f"a table of {rows:,} rows and {len(self.keys):,} distinct keys (a column "
                   "each; keys differ between lines)", self.path)
