"""Writing files and directories so that nothing is ever half-written, nor written over an input.

Files go to a temporary file beside the target and are renamed into place; directories are
built in a temporary directory beside the target and swapped in, and an existing directory is
replaced only when it holds nothing but files of the kind being written.

Temporaries are named `.<target>.mt-<host>-<pid>-<random>.tmp` (`.old` for the previous
directory kept during a swap). A process killed with SIGKILL cannot remove its own; the next
write into the same directory removes those whose process is gone (`remove_stale_temporaries`),
and only those: another name, another machine or a live process is never touched.
`check_output` refuses an output path that is an input of the same command or lies inside a
model directory in use, before anything is read or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multitag.exceptions import ConfigError

# --------------------------------------------------------------------------- temporaries
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.mt-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-"
                        r"[A-Za-z0-9_]+\.(?P<kind>tmp|old)$", re.DOTALL)


def temporary_prefix(target: Path) -> str:
    """The start of a temporary's name for `target` (this machine, this process)."""
    return f".{target.name}.mt-{_HOST}-{os.getpid()}-"


def _process_gone(pid: int) -> bool:
    """Whether no process `pid` runs here (never guessed on Windows, where os.kill kills)."""
    if os.name == "nt" or pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporaries of our naming in `directory` left by processes of this machine
    that are gone (killed mid-write); returns what was removed. A kept previous directory
    (`.old`) is removed only when its target exists again: otherwise it is the only copy and
    stays. Errors are ignored: cleaning never stops a write."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        found = _TEMPORARY.match(entry.name) if entry.name.startswith(".") else None
        if found is None or found["host"] != _HOST or not _process_gone(int(found["pid"])):
            continue
        path = Path(entry.path)
        if found["kind"] == "old" and not (path.parent / found["target"]).exists():
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _temporary_file(path: Path) -> tuple[int, str]:
    remove_stale_temporaries(path.parent)
    return tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)


def staging_directory(target: Path) -> Path:
    """A new hidden directory beside `target`, named for it (stale ones of killed runs are
    removed first), to be renamed into place when complete."""
    remove_stale_temporaries(target.parent)
    return Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".tmp",
                                 dir=target.parent))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary_file(path)
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
    fd, tmp = _temporary_file(path)
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
    staging = staging_directory(target)
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
    backup = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".old",
                                   dir=target.parent))
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


# --------------------------------------------------------------------------- output paths
def check_output(path: str | Path | None, *, inputs: Iterable[str | Path | None] = (),
                 protected_dirs: Iterable[str | Path | None] = (), option: str = "output",
                 replaces_directory: bool = False) -> None:
    """Refuse (ConfigError: one line, exit 2) an output `path` that is one of `inputs` or lies
    inside one of `protected_dirs` (model directories the command reads or writes), symlinks
    and hard links seen through. With `replaces_directory` (an output directory swapped in
    whole), also one that holds an input or a protected directory. None: nothing to check."""
    if path is None:
        return
    target = Path(os.path.realpath(path))
    for given in (p for p in inputs if p is not None):
        source = Path(os.path.realpath(given))
        if target == source or _same_file(target, source):
            raise ConfigError(f"{option} {path}: is the input file {given} of this command; "
                              "writing there would destroy it; choose another path")
        if replaces_directory and target in source.parents:
            raise ConfigError(f"{option} {path}: holds the input file {given} of this "
                              "command, and would be replaced; choose another directory")
    for given in (d for d in protected_dirs if d is not None):
        model = Path(os.path.realpath(given))
        if target == model or model in target.parents:
            raise ConfigError(f"{option} {path}: lies inside the model directory {given}, "
                              "which this command uses; write outside it")
        if replaces_directory and target in model.parents:
            raise ConfigError(f"{option} {path}: holds the model directory {given}, which "
                              "this command uses, and would be replaced; choose another "
                              "directory")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


class JsonTooLarge(ValueError):
    """A JSON file larger than its reader allows."""


def read_json_bounded(path: Path, max_bytes: int, object_pairs_hook: Any = None) -> Any:
    """The JSON value in `path` read within `max_bytes`, NaN and Infinity refused. Raises
    OSError (unreadable), JsonTooLarge, ValueError (not JSON: also UnicodeDecodeError), and
    RecursionError or MemoryError (nested too deep or too large) for the caller to word."""
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise JsonTooLarge(f"{path.name} is larger than {max_bytes} bytes")
    return json.loads(raw.decode("utf-8"), parse_constant=_no_json_constant,
                      object_pairs_hook=object_pairs_hook)


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


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
