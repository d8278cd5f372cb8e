"""Format registry and `load(path, **options)`: every reader returns the one `Dataset` type.

A format is a name, its file extensions and a reader `f(path, options) -> Dataset`, registered
as "module:function" so that reading one format never imports the others' dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from importlib import import_module
from pathlib import Path
from typing import Any

from multitag.data.dataset import Dataset
from multitag.data.limits import reading_errors
from multitag.data.reading import decompression_errors, format_extension, open_binary
from multitag.exceptions import ConfigError, DataFormatError


@dataclass(frozen=True)
class ReaderOptions:
    """How to read a file; every field is optional (the format and the labels are detected).

    `label_columns`/`label_prefix` name the label columns (CSV, Parquet, also ARFF without XML);
    `tags_column` holds all labels of a row in one cell separated by `tag_sep`; `text_column`
    holds raw text that the preprocessor turns into TF-IDF features. `drop_columns` names
    feature attributes/columns to leave out (as named in the file; svmlight: `f12`).
    `all_target_values`: a multi-valued target attribute (MEKA multi-target) gives a label for
    every value, instead of leaving out its most frequent value as the implicit negative.
    `known_labels`: the label names of a saved model (predict, evaluate): an ARFF file that says
    nothing about its labels has as labels the attributes of those names (multi-target
    `attribute=value` labels name `attribute`), and none when it has none of them.
    """

    format: str | None = None
    labels_xml: Path | None = None
    label_columns: tuple[str, ...] = ()
    label_prefix: str | None = None
    tags_column: str | None = None
    tag_sep: str = "|"
    text_column: str | None = None
    drop_columns: tuple[str, ...] = ()
    all_target_values: bool = False
    known_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("label_columns", "drop_columns", "known_labels"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.labels_xml is not None:
            object.__setattr__(self, "labels_xml", Path(self.labels_xml))
        if self.format is not None:
            object.__setattr__(self, "format", resolve_format_name(self.format))
        if not self.tag_sep:
            raise ConfigError("`tag_sep` must be a non-empty string; got ''")


def _names(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Column names from a comma-separated string or a sequence."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(c.strip() for c in value.split(",") if c.strip())
    return tuple(str(c) for c in value)


Reader = Callable[[Path, ReaderOptions], Dataset]


@dataclass(frozen=True)
class FormatSpec:
    """A registered format: its name, extensions and reader ("package.module:function")."""

    name: str
    extensions: tuple[str, ...]
    reader: str
    description: str = ""
    chunks: str = ""  # "package.module:function" making its chunked reader (a Source)

    def load_reader(self) -> Reader:
        module, func = self.reader.split(":")
        return getattr(import_module(module), func)

    def load_chunks(self) -> Callable[..., Any]:
        module, func = self.chunks.split(":")
        return getattr(import_module(module), func)


_FORMATS: dict[str, FormatSpec] = {}
_ALIASES: dict[str, str] = {}


def register_format(spec: FormatSpec, aliases: tuple[str, ...] = ()) -> None:
    """Add a format (a new module in `data/` calls this for itself or is listed below)."""
    _FORMATS[spec.name] = spec
    for alias in aliases:
        _ALIASES[alias] = spec.name


def format_names() -> list[str]:
    return sorted(_FORMATS)


def format_spec(name: str) -> FormatSpec:
    """The registered format `name` (or an alias)."""
    return _FORMATS[resolve_format_name(name)]


def resolve_format_name(name: str) -> str:
    """The canonical format name for `name` or an alias; an unknown name lists the valid ones."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _FORMATS:
        valid = ", ".join(format_names() + sorted(_ALIASES))
        raise ConfigError(f"unknown format {name!r}; valid formats: {valid}")
    return key


register_format(
    FormatSpec("arff", ("arff",), "multitag.data.arff.reader:read_arff", "Mulan/MEKA ARFF",
               "multitag.data.arff.chunks:arff_source"),
    aliases=("mulan", "meka", "weka"),
)
register_format(
    FormatSpec(
        "svmlight", ("svm", "svmlight", "libsvm", "xc"),
        "multitag.data.svmlight.reader:read_svmlight",
        "svmlight/libsvm multi-label, Extreme Classification Repository",
        "multitag.data.svmlight.chunks:svmlight_source",
    ),
    aliases=("libsvm", "xc", "extreme"),
)
_TABULAR_CHUNKS = "multitag.data.tabular.chunks:tabular_source"
register_format(FormatSpec("csv", ("csv",), "multitag.data.tabular.reader:read_csv", "CSV",
                           _TABULAR_CHUNKS))
register_format(FormatSpec("tsv", ("tsv", "tab"), "multitag.data.tabular.reader:read_tsv", "TSV",
                           _TABULAR_CHUNKS))
register_format(
    FormatSpec("parquet", ("parquet", "pq"), "multitag.data.tabular.reader:read_parquet",
               "Parquet", _TABULAR_CHUNKS)
)
register_format(
    FormatSpec("jsonl", ("jsonl", "ndjson"), "multitag.data.tabular.reader:read_jsonl",
               "JSON lines", _TABULAR_CHUNKS),
    aliases=("json",),
)

_XC_HEADER = re.compile(rb"\s*\d+\s+\d+\s+\d+\s*$")
_SVM_ROW = re.compile(rb"\s*([-+\d.eE]+(\s*,\s*[-+\d.eE]+)*)?(\s+[-\w]+:[-+\w.]+)*\s*(#.*)?$")


def detect_format(path: Path) -> str:
    """The format of `path` from its extension, else from its first line."""
    ext = format_extension(path)
    for spec in _FORMATS.values():
        if ext in spec.extensions:
            return spec.name
    return _sniff(path)


def _sniff(path: Path) -> str:
    with decompression_errors(path), open_binary(path) as handle:
        head = handle.read(65536)
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith((b"%", b"#"))] or [b""]
    first = lines[0]
    if first[:1] == b"@":
        return "arff"
    if first.startswith(b"PAR1") or head.startswith(b"PAR1"):
        return "parquet"
    if first[:1] == b"{":
        return "jsonl"
    if _XC_HEADER.match(first) or (_SVM_ROW.match(first) and b":" in first):
        return "svmlight"
    if b"\t" in first:
        return "tsv"
    if b"," in first:
        return "csv"
    raise DataFormatError(
        f"cannot tell the format from the name or the first line; give --format "
        f"({', '.join(format_names())})",
        path=path,
    )


def make_options(options: ReaderOptions | None = None, **kwargs: Any) -> ReaderOptions:
    """`options` updated with keyword fields; an unknown keyword lists the valid ones."""
    valid = {f.name for f in fields(ReaderOptions)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ConfigError(
            f"unknown reader option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    base = options if options is not None else ReaderOptions()
    return replace(base, **kwargs) if kwargs else base


def load(path: str | Path, options: ReaderOptions | None = None, **kwargs: Any) -> Dataset:
    """Read any supported file into a `Dataset` (format detected unless `format=` is given).

    Every reader keeps the resource limits of `multitag.data.limits`; running out of memory,
    recursion or integer range anyway is a one-line `DataFormatError` naming the file."""
    opts = make_options(options, **kwargs)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise DataFormatError("is a directory; expected a data file", path=path)
    with reading_errors(path):
        name = opts.format or detect_format(path)
        return _FORMATS[name].load_reader()(path, opts)
