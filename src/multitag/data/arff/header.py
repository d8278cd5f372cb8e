"""ARFF header: `@relation`, `@attribute` lines, quoted names and the value tokenizer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from multitag.exceptions import DataFormatError

NUMERIC_TYPES = ("numeric", "real", "integer")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
# One value: quoted ('...' or "..." with backslash escapes) or a bare run without separators.
_BARE = r"""[^,'"%{}\t ]*(?:[ \t]+[^,'"%{}\t ]+)*"""
_VALUE = re.compile(
    rf"""[ \t]*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|({_BARE}))[ \t]*"""
)
_SPARSE_INDEX = re.compile(r"[ \t]*(\d+)[ \t]+")


@dataclass(frozen=True)
class Attribute:
    """One `@attribute`: its name, kind ('numeric', 'nominal', 'string', 'date'), values, line."""

    name: str
    kind: str
    values: tuple[str, ...] = ()
    line: int = 0
    raw_name: str = ""


@dataclass(frozen=True)
class Header:
    """The parsed header and where the data rows start (0-based index into the lines)."""

    relation: str
    attributes: list[Attribute]
    data_start: int
    relation_line: int = 0


def unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def scan_values(text: str, pos: int = 0, *, sparse: bool = False) -> tuple[list[str], int]:
    """Comma-separated values of a row from `pos` (quotes unescaped, `?` kept as '?').

    Stops at the end, at a `%` comment or (sparse rows) at `}`. For sparse rows each value is
    "index<TAB>value". Raises ValueError naming the column where reading failed.
    """
    out: list[str] = []
    while True:
        prefix = ""
        if sparse:
            m_idx = _SPARSE_INDEX.match(text, pos)
            if m_idx is None:
                if not out and text[pos:].lstrip(" \t")[:1] in ("}", ""):
                    return out, pos
                raise ValueError(f"expected 'index value' at column {pos + 1}")
            prefix, pos = m_idx.group(1) + "\t", m_idx.end()
        m = _VALUE.match(text, pos)
        if m is None or (m.end() == pos and not sparse and pos < len(text) and text[pos] == ","):
            raise ValueError(f"cannot read a value at column {pos + 1}")
        single, double, bare = m.groups()
        quoted = single if single is not None else double
        value = unescape(quoted) if quoted is not None else bare
        out.append(prefix + value)
        pos = m.end()
        if pos >= len(text) or text[pos] == "%" or (sparse and text[pos] == "}"):
            return out, pos
        if text[pos] != ",":
            raise ValueError(f"unexpected {text[pos]!r} at column {pos + 1}")
        pos += 1


def _take_name(text: str, pos: int) -> tuple[str, str, int]:
    """Name starting at `pos`: (unescaped name, name as written, position after it)."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos < len(text) and text[pos] in "'\"":
        quote = text[pos]
        m = re.compile(rf"{quote}((?:[^{quote}\\]|\\.)*){quote}").match(text, pos)
        if m is None:
            raise ValueError("unterminated quoted name")
        return unescape(m.group(1)), m.group(1), m.end()
    m = re.compile(r"[^\s{]+").match(text, pos)
    if m is None:
        raise ValueError("expected a name")
    return unescape(m.group(0)), m.group(0), m.end()


def _attribute(text: str, line: int, path: Path) -> Attribute:
    try:
        name, raw, pos = _take_name(text, len("@attribute"))
    except ValueError as err:
        raise DataFormatError(f"{err} after @attribute", path=path, line=line) from err
    spec = text[pos:].strip()
    kind = spec.split(None, 1)[0].lower() if spec else ""
    if kind in NUMERIC_TYPES:
        return Attribute(name, "numeric", line=line, raw_name=raw)
    if kind in ("string", "date"):
        return Attribute(name, kind, line=line, raw_name=raw)
    if spec.startswith("{") and spec.rstrip().endswith("}"):
        return Attribute(name, "nominal", _nominal_values(spec, line, path), line, raw)
    if kind == "relational":
        raise DataFormatError(
            f"attribute {name!r}: relational attributes are not supported", path=path, line=line
        )
    raise DataFormatError(
        f"unknown attribute type {spec or '(none)'!r} for attribute {name!r}; expected numeric, "
        "real, integer, string, date or {value1,value2,...}",
        path=path, line=line,
    )


def _nominal_values(spec: str, line: int, path: Path) -> tuple[str, ...]:
    try:
        values, _ = scan_values(spec.rstrip()[1:-1])
    except ValueError as err:
        raise DataFormatError(f"nominal values: {err}", path=path, line=line) from err
    values = [v for v in values if v != ""]
    if not values or len(set(values)) != len(values):
        raise DataFormatError(
            f"nominal attribute needs distinct values like {{a,b,c}}; got {spec!r}",
            path=path, line=line,
        )
    return tuple(values)


def parse_header(lines: list[str], path: Path) -> Header:
    """Read `@relation` and `@attribute` lines up to `@data`."""
    relation, attributes, relation_line = "", [], 0
    for i, raw in enumerate(lines):
        text = raw.strip()
        if not text or text.startswith("%"):
            continue
        keyword = text.split(None, 1)[0].lower()
        if keyword == "@relation":
            relation, relation_line = _relation(text, i + 1, path), i + 1
        elif keyword == "@attribute":
            attributes.append(_attribute(text, i + 1, path))
        elif keyword == "@data":
            _check_attributes(attributes, path, i + 1)
            return Header(relation, attributes, i + 1, relation_line)
        else:
            raise DataFormatError(
                f"expected @relation, @attribute or @data; got {text[:40]!r}", path=path, line=i + 1
            )
    raise DataFormatError("no @data line; expected @attribute lines then @data", path=path)


def _relation(text: str, line: int, path: Path) -> str:
    rest = text[len("@relation"):].strip()
    if not rest:
        return ""
    try:
        return _take_name(rest, 0)[0]
    except ValueError as err:
        raise DataFormatError(f"@relation: {err}", path=path, line=line) from err


def _check_attributes(attributes: list[Attribute], path: Path, line: int) -> None:
    if not attributes:
        raise DataFormatError("no @attribute lines before @data", path=path, line=line)
    seen: dict[str, int] = {}
    for attr in attributes:
        if attr.name in seen:
            raise DataFormatError(
                f"attribute {attr.name!r} is declared twice (first on line {seen[attr.name]}); "
                "names must be unique", path=path, line=attr.line,
            )
        seen[attr.name] = attr.line
