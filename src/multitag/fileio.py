"""Writing files and directories so that nothing is ever half-written.

Files go to a temporary file beside the target and are renamed into place; directories are
built in a temporary directory beside the target and swapped in, and an existing directory is
replaced only when it holds nothing but files of the kind being written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multitag.exceptions import ConfigError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_text_file(path: str | Path) -> Iterator[Any]:
    """A text handle written bit by bit to a temporary file beside `path`, renamed into place
    when the block ends without error (removed otherwise: nothing half-written remains)."""
    path = Path(path)
    created = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _remove_empty(directories: list[Path]) -> None:
    """Remove the directories made for a write that failed (deepest first; only if empty)."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> None:
    """JSON (no NaN: JSON has none) written atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n")


def check_replaceable(target: Path, allowed_names: Collection[str], what: str,
                      allowed_dirs: Collection[str] = ()) -> None:
    """Refuse to replace a file, or a directory holding anything but `allowed_names` files
    (and `allowed_dirs` subdirectories, such as a model directory's training checkpoint)."""
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a directory; give a directory path "
                          f"for the {what}")
    if target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if not (
            (p.name in allowed_names and p.is_file())
            or (p.name in allowed_dirs and p.is_dir() and not p.is_symlink())))
        if foreign:
            raise ConfigError(
                f"{target}: exists and holds files that are not part of a {what} "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); choose a "
                "new directory or empty this one")


@contextmanager
def staged_directory(target: str | Path, allowed_names: Collection[str],
                     what: str, allowed_dirs: Collection[str] = ()) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; on success it replaces `target`.

    An existing `target` is checked first (see `check_replaceable`) and kept until the new
    directory is complete; on any error the staging directory is removed and `target` is
    left as it was.
    """
    target = Path(os.path.abspath(target))
    check_replaceable(target, allowed_names, what, allowed_dirs)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        _make_readable(staging)
        _replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(staging: Path, target: Path) -> None:
    """Move `staging` to `target`, keeping the old target until the new one is in place."""
    if not target.exists():
        os.replace(staging, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _make_readable(directory: Path) -> None:
    """mkdtemp and some writers create owner-only files; apply the user's umask instead."""
    umask = _umask()
    os.chmod(directory, 0o777 & ~umask)
    for child in directory.iterdir():
        os.chmod(child, 0o666 & ~umask)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def plain_json(value: Any) -> Any:
    """JSON types only: tuples become lists, numpy scalars Python numbers, non-finite floats
    None, anything else its text, so what is written equals what is read back."""
    import math

    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
