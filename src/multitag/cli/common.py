"""Helpers shared by the CLI commands: option parsing, JSON output, progress display."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from multitag.fileio import atomic_write_json


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename (no half-written file remains)."""
    atomic_write_json(path, payload)


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
