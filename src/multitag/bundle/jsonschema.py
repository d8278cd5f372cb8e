"""A small closed-schema language for JSON read from untrusted files, and the bounded reader.

A schema is a tree of the frozen node types below (data, no code from the file): `Whole`,
`Number`, `Flag`, `Null`, `Text`, `OneOf`, `Items`, `Fields`, `Mapping`, `Tagged`, `Either` and
`Plain` (informational JSON of bounded depth and size). `check(value, schema, where)` walks a
value against it and raises one `ModelFileError` naming the file and the JSON path of the first
field that is wrong ("model.json: architecture.hidden[0]: must be an integer in [1, 1000000];
got 'x'"). The walk recurses only as deep as the schema (informational JSON is walked with an
explicit stack), so a hostile file cannot exhaust the stack.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multitag.exceptions import ModelFileError
from multitag.fileio import JsonTooLarge, read_json_bounded

JsonPath = tuple[str | int, ...]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_int(value: Any) -> bool:
    return type(value) is int  # JSON integers; true/false are not numbers here


def is_number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


@dataclass(frozen=True)
class Whole:
    """An integer in [low, high]."""

    low: int
    high: int

    def problem(self, value: Any) -> str | None:
        ok = is_int(value) and self.low <= value <= self.high
        return None if ok else f"must be an integer in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Number:
    """A finite number (integer or float) in [low, high], or (low, high] with `open_low`,
    [low, high) with `open_high`."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def problem(self, value: Any) -> str | None:
        if is_number(value):
            above = value > self.low if self.open_low else value >= self.low
            below = value < self.high if self.open_high else value <= self.high
            if above and below:
                return None
        return (f"must be a finite number in {'(' if self.open_low else '['}{self.low}, "
                f"{self.high}{')' if self.open_high else ']'}")


@dataclass(frozen=True)
class Flag:
    """true or false."""

    def problem(self, value: Any) -> str | None:
        return None if type(value) is bool else "must be true or false"


@dataclass(frozen=True)
class Null:
    def problem(self, value: Any) -> str | None:
        return None if value is None else "must be null"


@dataclass(frozen=True)
class Text:
    """A string of `low` to `high` characters."""

    high: int
    low: int = 0

    def problem(self, value: Any) -> str | None:
        ok = type(value) is str and self.low <= len(value) <= self.high
        return None if ok else f"must be a text of {self.low} to {self.high} characters"


@dataclass(frozen=True)
class OneOf:
    """One of a few literal strings or integers."""

    values: tuple[str | int, ...]

    def problem(self, value: Any) -> str | None:
        if any(type(value) is type(v) and value == v for v in self.values):
            return None
        return "must be one of " + ", ".join(_show(v) for v in self.values)


@dataclass(frozen=True)
class Items:
    """A list of `low` to `high` items, each matching `item`."""

    item: Any
    high: int
    low: int = 0

    def problem(self, value: Any) -> str | None:
        if type(value) is list and self.low <= len(value) <= self.high:
            return None
        return f"must be a list of {self.low} to {self.high} items"


@dataclass(frozen=True)
class Fields:
    """An object with exactly these keys: every `required` one, any of the `optional` ones."""

    required: dict[str, Any] = field(default_factory=dict)
    optional: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # added to the message about an unknown key

    def problem(self, value: Any) -> str | None:
        return None if type(value) is dict else "must be an object"


@dataclass(frozen=True)
class Mapping:
    """An object of `low` to `high` entries with any keys matching `key`, values `value`."""

    key: Text
    value: Any
    high: int
    low: int = 0

    def problem(self, value: Any) -> str | None:
        if type(value) is dict and self.low <= len(value) <= self.high:
            return None
        return f"must be an object of {self.low} to {self.high} entries"


@dataclass(frozen=True)
class Tagged:
    """An object whose `tag` key names which of `variants` (each a `Fields`) it is."""

    tag: str
    variants: dict[str, Fields]

    def problem(self, value: Any) -> str | None:
        return None if type(value) is dict else "must be an object"


@dataclass(frozen=True)
class Either:
    """The first of `options` that takes the value's JSON type (null, a number, an object, ...)."""

    options: tuple[Any, ...]

    def problem(self, value: Any) -> str | None:
        return "must be " + " or ".join(_kind_of(o) for o in self.options)


@dataclass(frozen=True)
class Plain:
    """Informational JSON, never given to code: a `top` ("object" or "list") nesting at most
    `depth` containers, at most `nodes` values in all, strings of at most `chars`."""

    top: str
    depth: int
    nodes: int
    chars: int

    def problem(self, value: Any) -> str | None:
        ok = type(value) is (dict if self.top == "object" else list)
        return None if ok else f"must be {'an object' if self.top == 'object' else 'a list'}"


# -- walking ---------------------------------------------------------------------------------
def check(value: Any, schema: Any, where: object, path: JsonPath = ()) -> None:
    """`value` matches `schema`, or a `ModelFileError` naming `where` and the field's path."""
    if isinstance(schema, Either):
        schema = next((o for o in schema.options if _takes_type(o, value)), schema)
    problem = schema.problem(value)
    if problem is not None:
        fail(where, path, f"{problem}; got {_show(value)}")
    if isinstance(schema, Fields):
        _check_fields(value, schema, where, path)
    elif isinstance(schema, Tagged):
        check(value.get(schema.tag), OneOf(tuple(schema.variants)), where, (*path, schema.tag))
        _check_fields(value, schema.variants[value[schema.tag]], where, path)
    elif isinstance(schema, Items):
        for i, item in enumerate(value):
            check(item, schema.item, where, (*path, i))
    elif isinstance(schema, Mapping):
        for key, item in value.items():
            check(key, schema.key, where, (*path, key))
            check(item, schema.value, where, (*path, key))
    elif isinstance(schema, Plain):
        _check_plain(value, schema, where, path)


def _check_fields(value: dict[str, Any], schema: Fields, where: object, path: JsonPath) -> None:
    known = {**schema.required, **schema.optional}
    unknown = [k for k in value if k not in known]
    if unknown:
        fail(where, (*path, unknown[0]),
             f"unknown key; valid keys are: {', '.join(known)}{schema.note}")
    missing = [k for k in schema.required if k not in value]
    if missing:
        fail(where, (*path, missing[0]), "missing; it is required")
    for key, child in known.items():
        if key in value:
            check(value[key], child, where, (*path, key))


def _check_plain(value: Any, schema: Plain, where: object, path: JsonPath) -> None:
    """Walked with an explicit stack: nesting, count and string sizes bounded."""
    stack: list[tuple[Any, JsonPath, int]] = [(value, path, 0)]
    count = 0
    while stack:
        item, at, depth = stack.pop()
        count += 1
        if count > schema.nodes:
            fail(where, path, f"holds more than {schema.nodes} values; informational "
                              "sections are bounded")
        if type(item) is dict or type(item) is list:
            if depth >= schema.depth:
                fail(where, at, f"nests deeper than {schema.depth} levels")
            pairs = item.items() if type(item) is dict else enumerate(item)
            stack.extend((v, (*at, k), depth + 1) for k, v in pairs)
            if type(item) is dict:
                stack.extend((k, (*at, k), depth + 1) for k in item)  # keys are strings too
        elif type(item) is str:
            if len(item) > schema.chars:
                fail(where, at, f"must be a text of at most {schema.chars} characters; got "
                                f"{len(item)}")
        elif not (item is None or type(item) is bool or is_number(item)):
            fail(where, at, f"must be plain JSON; got {_show(item)}")


def _takes_type(schema: Any, value: Any) -> bool:
    kinds = {Whole: (int,), Number: (int, float), Flag: (bool,), Null: (type(None),),
             Text: (str,), Items: (list,), Fields: (dict,), Mapping: (dict,), Tagged: (dict,),
             Plain: (dict, list)}
    if isinstance(schema, OneOf):
        return any(type(value) is type(v) for v in schema.values)
    return type(value) in kinds.get(type(schema), ())


def _kind_of(schema: Any) -> str:
    return {Whole: "an integer", Number: "a number", Flag: "true or false", Null: "null",
            Text: "a text", Items: "a list", OneOf: "a choice", Plain: "JSON"}.get(
        type(schema), "an object")


def fail(where: object, path: JsonPath, message: str) -> None:
    raise ModelFileError(f"{where}: {path_text(path)}: {message}")


def path_text(path: Sequence[str | int]) -> str:
    """A JSON path as the messages write it: `architecture.hidden[0]`, `vocabulary["a b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part if len(part) <= 40 else part[:40] + '...')}]"
    return out or "(the whole file)"


def _show(value: Any) -> str:
    """A short description of a received value (a hostile one may be huge)."""
    if type(value) is dict:
        return f"an object of {len(value)} entries"
    if type(value) is list:
        return f"a list of {len(value)} items"
    if value is None or type(value) is bool:
        return json.dumps(value)
    if type(value) is int and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- reading -----------------------------------------------------------------------------------
def read_json(path: Path, max_bytes: int) -> Any:
    """The JSON value in `path`: at most `max_bytes`, no NaN/Infinity, no key twice in one
    object, nesting within Python's limits; anything else is one `ModelFileError`
    (a missing file is left to the caller: `FileNotFoundError`)."""
    if not path.is_file():  # a FIFO or device would block or never end
        if path.exists():
            raise ModelFileError(f"{path}: not a regular file")
        raise FileNotFoundError(path)
    try:
        return read_json_bounded(path, max_bytes, object_pairs_hook=_no_repeats)
    except JsonTooLarge as err:
        raise ModelFileError(f"{path}: larger than {max_bytes} bytes, the most this multitag "
                             "reads") from err
    except OSError as err:
        raise ModelFileError(f"{path}: cannot be read ({err})") from err
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFileError(f"{path}: not valid JSON ({err})") from err
    except (RecursionError, MemoryError) as err:
        raise ModelFileError(f"{path}: not valid JSON (nested too deep or too large: "
                             f"{type(err).__name__})") from err


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {_show(key)} appears twice in one object")
            seen.add(key)
    return out
