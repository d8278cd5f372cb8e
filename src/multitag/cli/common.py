"""Helpers shared by the CLI commands: option parsing, JSON output, progress display."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import typer

from multitag.exceptions import ConfigError


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
    """Write JSON to `path` via a temporary file and a rename, so no half-written file remains."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Silence progress output.")
METRICS_JSON_OPTION = typer.Option(
    None, "--metrics-json", help="Write every metric to this JSON file.", dir_okay=False
)
