"""The reader options every data-reading command shares, and their conversion to ReaderOptions.

Use in a command:

    def train(path: Path = DATA_ARGUMENT, fmt: str = FORMAT_OPTION, ...,
              text_column: str = TEXT_COLUMN_OPTION) -> None:
        options = reader_options(fmt, labels_xml, label_columns, label_prefix,
                                 tags_column, tag_sep, text_column)
        data = multitag.data.load(path, options)
"""

from __future__ import annotations

from pathlib import Path

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


def reader_options(
    fmt: str | None = None, labels_xml: Path | None = None, label_columns: str | None = None,
    label_prefix: str | None = None, tags_column: str | None = None, tag_sep: str = "|",
    text_column: str | None = None,
) -> ReaderOptions:
    """The parsed option values as ReaderOptions (an unknown --format lists the valid ones)."""
    columns = tuple(c.strip() for c in (label_columns or "").split(",") if c.strip())
    return ReaderOptions(
        format=fmt, labels_xml=labels_xml, label_columns=columns, label_prefix=label_prefix,
        tags_column=tags_column, tag_sep=tag_sep, text_column=text_column,
    )
