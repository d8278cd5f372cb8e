"""Which ARFF attributes are labels: a Mulan XML file, MEKA's `-C n`, or names given by the user."""

from __future__ import annotations

import re
from pathlib import Path
from xml.parsers import expat

from multitag.data.arff.header import Attribute, Header
from multitag.data.reading import base_name, read_bytes
from multitag.exceptions import DataFormatError

_SPLIT_WORDS = re.compile(
    r"[-_.](train|test|valid|validation|val|dev|trn|tst|sparse|dense|full|all|\d+of\d+)$",
    re.IGNORECASE,
)
_MEKA_C = re.compile(r"(?:^|\s|:)-C\s+(-?\d+)")
_MEKA_SPLIT = re.compile(r"(?:^|\s|:)-split-(number|percentage)(?:\s+(\S+))?")


def find_labels_xml(arff_path: Path, *, lone: bool = True) -> Path | None:
    """The Mulan XML beside `arff_path`: same stem (split words stripped), else (`lone`) the
    only .xml in its folder."""
    stem = base_name(arff_path)
    candidates = [stem]
    while _SPLIT_WORDS.search(stem):
        stem = _SPLIT_WORDS.sub("", stem)
        candidates.append(stem)
    for candidate in candidates:
        path = arff_path.with_name(candidate + ".xml")
        if path.is_file():
            return path
    if not lone:
        return None
    xmls = sorted(arff_path.parent.glob("*.xml"))
    return xmls[0] if len(xmls) == 1 else None


def read_labels_xml(path: Path) -> list[tuple[str, int]]:
    """Label names in a Mulan XML file with the line of each (nested labels included)."""
    labels: list[tuple[str, int]] = []
    parser = expat.ParserCreate()

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag.rsplit(":", 1)[-1].rsplit("}", 1)[-1] == "label" and "name" in attrs:
            labels.append((attrs["name"], parser.CurrentLineNumber))

    parser.StartElementHandler = start
    try:
        parser.Parse(read_bytes(path), True)
    except expat.ExpatError as err:
        raise DataFormatError(
            f"not a valid labels XML file ({expat.errors.messages[err.code]}); expected "
            '<labels><label name="..."/>...</labels>', path=path, line=err.lineno,
        ) from err
    if not labels:
        raise DataFormatError('no <label name="..."> elements; expected at least one', path=path)
    return labels


def labels_from_xml(xml_path: Path, header: Header, arff_path: Path) -> list[int]:
    """Attribute indices of the labels the XML names; a name that is no attribute is an error."""
    index: dict[str, int] = {}
    for i, attr in enumerate(header.attributes):
        index.setdefault(attr.raw_name, i)
        index.setdefault(attr.name, i)
    chosen: dict[int, int] = {}
    for name, line in read_labels_xml(xml_path):
        found = index.get(name, index.get(_xml_unescape(name)))
        if found is None:
            raise DataFormatError(
                f"label {name!r} is not an attribute of {arff_path.name}; expected one of its "
                "@attribute names", path=xml_path, line=line,
            )
        if found in chosen:
            raise DataFormatError(
                f"label {name!r} is listed twice (first on line {chosen[found]}); expected "
                "each label once", path=xml_path, line=line,
            )
        chosen[found] = line
    return sorted(chosen)


def _xml_unescape(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def labels_from_meka(header: Header, path: Path) -> list[int] | None:
    """`-C n` in `@relation`: the first n attributes are labels (`-C -n`: the last n)."""
    match = _MEKA_C.search(header.relation)
    if match is None:
        return None
    n, total = int(match.group(1)), len(header.attributes)
    if n == 0 or abs(n) >= total:
        raise DataFormatError(
            f"@relation says -C {n} but the file has {total} attribute(s); expected a label "
            "count that leaves at least one feature (negative: labels last)",
            path=path, line=header.relation_line or None,
        )
    return list(range(n)) if n > 0 else list(range(total + n, total))


def labels_from_names(
    attributes: list[Attribute], columns: tuple[str, ...], prefix: str | None, path: Path
) -> list[int]:
    """Attribute indices named in `columns` or starting with `prefix`."""
    names = [a.name for a in attributes]
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataFormatError(
            f"label column(s) {', '.join(map(repr, missing))} are not attributes; expected some "
            f"of {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}", path=path,
        )
    chosen = {names.index(c) for c in columns}
    if prefix:
        chosen |= {i for i, n in enumerate(names) if n.startswith(prefix)}
    if not chosen:
        raise DataFormatError(f"no attribute name starts with {prefix!r}", path=path)
    return sorted(chosen)


def labels_by_model(attributes: list[Attribute], known: tuple[str, ...]) -> list[int]:
    """Attribute indices whose name is one of a model's labels `known`, or the attribute of a
    multi-target label `attribute=value` (possibly none: a file of features only)."""
    names = set(known) | {label.split("=", 1)[0] for label in known if "=" in label}
    return [i for i, attr in enumerate(attributes) if attr.name in names]


def meka_split_rows(header: Header, n_rows: int, path: Path) -> int | None:
    """Rows of the training part MEKA's `-split-number N` (the first N rows) or
    `-split-percentage P` (the first P% of the rows, rounded as MEKA does) in `@relation`
    records; None when neither is there. A value out of range is an error."""
    found = _MEKA_SPLIT.findall(header.relation)
    if not found:
        return None
    line = header.relation_line or None
    if len(found) > 1:
        raise DataFormatError(
            "@relation gives -split-number/-split-percentage more than once; expected at "
            "most one of them", path=path, line=line)
    kind, text = found[0]
    option = f"-split-{kind}"
    if kind == "number":
        rows = _whole(text)
        if rows is None or not 1 <= rows <= n_rows - 1:
            raise DataFormatError(
                f"@relation: {option} {text or '(no value)'} is out of range; expected a whole "
                f"number from 1 to {n_rows - 1} (the file has {n_rows} rows)",
                path=path, line=line)
        return rows
    share = _number(text)
    if share is None or not 0 < share < 100:
        raise DataFormatError(
            f"@relation: {option} {text or '(no value)'} is out of range; expected a "
            "percentage between 0 and 100 (exclusive)", path=path, line=line)
    rows = int(n_rows * share / 100 + 0.5)
    if not 1 <= rows <= n_rows - 1:
        raise DataFormatError(
            f"@relation: {option} {text} leaves {rows} of the file's {n_rows} rows for "
            "training; expected at least one row in each part", path=path, line=line)
    return rows


def _whole(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[-+]?\d+", text or "") else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None
