"""Helpers shared by the CLI commands: option parsing, JSON output, progress display."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from multitag.fileio import atomic_write_json, check_output

if TYPE_CHECKING:  # pragma: no cover
    from multitag.data.registry import ReaderOptions


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename (no half-written file remains)."""
    atomic_write_json(path, payload)


def check_outputs(files: Mapping[str, Path | None] | None = None,
                  directories: Mapping[str, Path | None] | None = None, *,
                  data: Iterable[Path | None] = (), reader: ReaderOptions | None = None,
                  models: Iterable[Path | None] = ()) -> None:
    """Refuse, before any work, outputs that would overwrite an input: `files` ({option: path})
    that are a data file (with its Mulan XML) or lie inside a model directory (`models`, and
    the command's own output `directories`); `directories` ({option: path}, replaced whole)
    that are, or hold, an input or a model directory. One line, exit 2, nothing written."""
    files, directories = dict(files or {}), dict(directories or {})
    inputs = data_inputs(data, reader)
    models = [m for m in models if m is not None]
    for option, path in directories.items():
        check_output(path, inputs=inputs, protected_dirs=models, option=option,
                     replaces_directory=True)
    protected = [*models, *(d for d in directories.values() if d is not None)]
    for option, path in files.items():
        check_output(path, inputs=inputs, protected_dirs=protected, option=option)


def data_inputs(data: Iterable[Path | None], reader: ReaderOptions | None) -> list[Path]:
    """The files a command reads for `data`: each file, the --labels-xml given, and the Mulan
    XML an ARFF file would find beside it."""
    from multitag.data.arff.labels import find_labels_xml

    files = [Path(p) for p in data if p is not None]
    found = [find_labels_xml(p) for p in files if ".arff" in p.name.lower() and p.is_file()]
    given = [reader.labels_xml] if reader is not None and reader.labels_xml else []
    return [*files, *given, *(x for x in found if x is not None)]


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Silence progress output.")
METRICS_JSON_OPTION = typer.Option(
    None, "--metrics-json", help="Write every metric to this JSON file.", dir_okay=False
)
# Where the test rows come from (train, compare, curve): declared once.
TEST_OPTION = typer.Option(None, "--test", help="Test data file (same format and labels).",
                           exists=True, dir_okay=False, readable=True)
TEST_SIZE_OPTION = typer.Option(None, "--test-size", help="Hold out this share of the rows as "
                                "the test set (stratified over the labels, by --seed), in "
                                "(0, 1).")
ALL_ROWS_OPTION = typer.Option(False, "--all-rows", help="Ignore a train/test split the file "
                               "records (MEKA -split-number/-split-percentage).")
