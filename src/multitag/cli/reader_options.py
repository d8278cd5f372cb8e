"""The reader options every data-reading command shares, declared once.

Use in a command: the decorator adds `--format --labels-xml --label-columns --label-prefix
--tags-column --tag-sep --text-column --drop-columns --all-target-values` and passes them as one
`reader: ReaderOptions`:

    @with_reader_options
    def train(path: Path = DATA_ARGUMENT, ..., reader: ReaderOptions = READER) -> None:
        data = multitag.data.load(path, reader)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from multitag.data.registry import ReaderOptions, format_names

DATA_ARGUMENT = typer.Argument(
    ..., help="Data file: ARFF (+ Mulan XML), svmlight/libsvm, CSV, TSV, Parquet or JSONL.",
    exists=True, dir_okay=False, readable=True,
)
FORMAT_OPTION = typer.Option(
    None, "--format", help=f"File format ({', '.join(format_names())}); else detected.",
)
LABELS_XML_OPTION = typer.Option(
    None, "--labels-xml", help="Mulan XML naming the label attributes (else found beside it).",
    dir_okay=False,
)
LABEL_COLUMNS_OPTION = typer.Option(
    None, "--label-columns", help="Label columns, comma-separated: a,b,c.",
)
LABEL_PREFIX_OPTION = typer.Option(
    None, "--label-prefix", help="Every column whose name starts with this is a label.",
)
TAGS_COLUMN_OPTION = typer.Option(
    None, "--tags-column", help="One column holding all labels of a row, e.g. 'a|b|c'.",
)
TAG_SEP_OPTION = typer.Option("|", "--tag-sep", help="Separator inside --tags-column.")
TEXT_COLUMN_OPTION = typer.Option(
    None, "--text-column", help="Column of raw text, turned into TF-IDF features.",
)
DROP_COLUMNS_OPTION = typer.Option(
    None, "--drop-columns", help="Feature attributes/columns to leave out, comma-separated "
    "(as named in the file; svmlight: f12).",
)
ALL_TARGET_VALUES_OPTION = typer.Option(
    False, "--all-target-values", help="Multi-target ARFF: a label for every value of a "
    "nominal label attribute (else its most frequent value is the implicit negative).",
)


def reader_options(
    fmt: str | None = None, labels_xml: Path | None = None, label_columns: str | None = None,
    label_prefix: str | None = None, tags_column: str | None = None, tag_sep: str = "|",
    text_column: str | None = None, drop_columns: str | None = None,
    all_target_values: bool = False,
) -> ReaderOptions:
    """The parsed option values as ReaderOptions (an unknown --format lists the valid ones)."""
    return ReaderOptions(
        format=fmt, labels_xml=labels_xml, label_columns=label_columns or (),
        label_prefix=label_prefix, tags_column=tags_column, tag_sep=tag_sep,
        text_column=text_column, drop_columns=drop_columns or (),
        all_target_values=all_target_values,
    )


READER: Any = None  # placeholder default of a command's `reader` parameter

_READER_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option,
                      annotation=kind)
    for name, option, kind in (
        ("fmt", FORMAT_OPTION, str), ("labels_xml", LABELS_XML_OPTION, Path),
        ("label_columns", LABEL_COLUMNS_OPTION, str), ("label_prefix", LABEL_PREFIX_OPTION, str),
        ("tags_column", TAGS_COLUMN_OPTION, str), ("tag_sep", TAG_SEP_OPTION, str),
        ("text_column", TEXT_COLUMN_OPTION, str), ("drop_columns", DROP_COLUMNS_OPTION, str),
        ("all_target_values", ALL_TARGET_VALUES_OPTION, bool),
    )
]


def with_reader_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` the reader options; it receives them as `reader: ReaderOptions`."""
    own = inspect.signature(command, eval_str=True)
    kept = [p for p in own.parameters.values() if p.name != "reader"]
    signature = own.replace(parameters=[*kept, *_READER_PARAMETERS])
    names = [p.name for p in _READER_PARAMETERS]

    @functools.wraps(command)
    def wrapper(**values: Any) -> Any:
        reader = reader_options(**{name: values.pop(name) for name in names})
        return command(**values, reader=reader)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return wrapper
