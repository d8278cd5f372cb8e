"""Helpers shared by the CLI commands: option parsing, JSON output, progress display."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from multitag.exceptions import ConfigError
from multitag.fileio import atomic_write_json


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'32,16,8' -> (32, 16, 8); every entry a positive integer."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise ConfigError(
            f"`{option}` must be a comma-separated list of positive integers like 32,16,8; "
            f"got {text!r}"
        )
    return values


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename (no half-written file remains)."""
    atomic_write_json(path, payload)


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Silence progress output.")
METRICS_JSON_OPTION = typer.Option(
    None, "--metrics-json", help="Write every metric to this JSON file.", dir_okay=False
)
