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
