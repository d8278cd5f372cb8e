"""Checkpoint files: `state.safetensors` (tensors) + `checkpoint.json` (everything else), no
pickle; how they are written, read back and verified (see `training.checkpoint`).

checkpoint.json holds the SHA-256 of the tensor file (`state_sha256`) and `sha256`, the SHA-256
of the canonical JSON of all its other fields: an edited learning rate, epoch or history is
refused like a truncated tensor file. Read back, it is data: at most `MAX_META_BYTES`, no
NaN, every field checked for type and range (`META`), plain JSON nested at most `MAX_DEPTH`
levels, counts that agree; a problem is one `CheckpointError` line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from multitag.exceptions import CheckpointError
from multitag.fileio import read_json_bounded, staging_directory

FORMAT = "multitag-checkpoint"
VERSION = 2  # 2: checkpoint.json is covered by `sha256` (version 1's was not: refused)
STATE_FILE = "state.safetensors"
META_FILE = "checkpoint.json"
_NAME = re.compile(r"^epoch-(\d{6})$")
MAX_META_BYTES, MAX_DEPTH, MAX_CHARS, MAX_EPOCHS = 256 << 20, 32, 100_000, 10**7


def _count(low: int) -> Any:
    return lambda v: type(v) is int and low <= v <= MAX_EPOCHS


def _number(v: Any) -> bool:
    return type(v) is int or (type(v) is float and math.isfinite(v))


# checkpoint.json: every field, what it must be, and the check (nesting: `_plain`).
META: dict[str, tuple[str, Any]] = {
    "format": (repr(FORMAT), lambda v: v == FORMAT),
    "version": (str(VERSION), lambda v: type(v) is int and v == VERSION),
    "epoch": (f"an integer in [1, {MAX_EPOCHS}]", _count(1)),
    "best_loss": ("a finite number or null", lambda v: v is None or _number(v)),
    "waited": ("an integer >= 0", _count(0)),
    "elapsed_seconds": ("a finite number >= 0", lambda v: _number(v) and v >= 0),
    "has_best_state": ("true or false", lambda v: type(v) is bool),
    "optimizer": ("an object", lambda v: type(v) is dict),  # against the optimizer: restore
    "history": ("a list of objects", lambda v: type(v) is list and all(
        type(r) is dict for r in v)),
    "best_epoch": ("an integer >= 0", _count(0)),
    "stopped_early": ("true or false", lambda v: type(v) is bool),
    "torch_version": ("a text", lambda v: type(v) is str and len(v) <= 100),
    "config": ("an object", lambda v: type(v) is dict),
    "run": ("an object", lambda v: type(v) is dict),
    "data_fingerprint": ("an object", lambda v: type(v) is dict),
    "parameters": ("an object of shapes", lambda v: type(v) is dict and all(
        type(s) is list and all(type(n) is int and n >= 0 for n in s) for s in v.values())),
    "state_sha256": ("64 hex digits", lambda v: type(v) is str and _HEX.fullmatch(v)),
    "sha256": ("64 hex digits", lambda v: type(v) is str and _HEX.fullmatch(v)),
}
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass
class Snapshot:
    """A checkpoint read back from disk and verified."""

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint directories in `directory`, newest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name) and p.is_dir()]
    return sorted(found, key=lambda p: p.name, reverse=True)


# -- files ------------------------------------------------------------------------------------
def write_checkpoint(directory: Path, name: str, tensors: dict[str, torch.Tensor],
                     meta: dict[str, Any]) -> Path:
    """Build `directory/name` in a hidden temporary directory and rename it into place."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = save_tensors(tensors, metadata={"format": FORMAT})
    meta = json.loads(json.dumps({**meta, "state_sha256": hashlib.sha256(payload).hexdigest()},
                                 allow_nan=False))  # as it will be read back
    meta["sha256"] = meta_digest(meta)
    target = directory / name
    staging = staging_directory(target)  # stale ones of a run killed mid-write go first
    try:
        _write(staging / STATE_FILE, payload)
        _write(staging / META_FILE,
               (json.dumps(meta, indent=1, allow_nan=False) + "\n").encode("utf-8"))
        if target.exists():  # a damaged checkpoint of this epoch from before a fallback
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def meta_digest(meta: dict[str, Any]) -> str:
    """The SHA-256 of the canonical JSON of `meta` without its `sha256` (which covers the state
    file through `state_sha256`)."""
    rest = {k: v for k, v in meta.items() if k != "sha256"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_checkpoint(path: Path) -> Snapshot:
    """Read and verify one checkpoint directory (a `CheckpointError` says what is wrong)."""
    where = path / META_FILE
    if not (where.is_file() and (path / STATE_FILE).is_file()):  # a FIFO would block
        raise CheckpointError(f"{path}: checkpoint is unreadable or damaged ({META_FILE} or "
                              f"{STATE_FILE} is missing or not a file)")
    try:
        meta = read_json_bounded(where, MAX_META_BYTES)
        payload = (path / STATE_FILE).read_bytes()
        signed = type(meta) is dict and meta.get("sha256") == meta_digest(meta)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as err:
        raise CheckpointError(f"{path}: checkpoint is unreadable or damaged "
                              f"({type(err).__name__}: {one_line(err)})") from err
    if type(meta) is not dict or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a multitag checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{where}: checkpoint version {one_line(meta.get('version'))} is not "
                              f"supported (this multitag reads version {VERSION}; remove the "
                              "checkpoint directory to start over)")
    if not signed:
        raise CheckpointError(f"{where}: edited or damaged (its SHA-256 does not match its "
                              "contents); it is not used")
    check_meta(meta, path)
    if hashlib.sha256(payload).hexdigest() != meta["state_sha256"]:
        raise CheckpointError(f"{path / STATE_FILE}: damaged (its SHA-256 does not match "
                              "checkpoint.json; truncated or modified)")
    try:
        tensors = load_tensors(payload)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{path / STATE_FILE}: damaged ({one_line(err)})") from err
    return Snapshot(path=path, meta=meta, tensors=tensors)


def check_meta(meta: dict[str, Any], path: Path) -> None:
    """Every field of checkpoint.json as `META` says, plain JSON nested at most `MAX_DEPTH`
    deep, and the counts consistent with one another and with the directory's epoch."""
    where = path / META_FILE
    unknown = sorted(set(meta) - set(META))
    missing = [k for k in META if k not in meta]
    if unknown or missing:
        raise CheckpointError(f"{where}: {(unknown or missing)[0]}: "
                              f"{'unknown key' if unknown else 'missing'}; expected the keys "
                              f"{', '.join(META)}")
    for key, (must, ok) in META.items():
        if not ok(meta[key]):
            raise CheckpointError(f"{where}: {key} must be {must}; got {one_line(meta[key])}")
        _plain(meta[key], f"{where}: {key}")
    epoch = meta["epoch"]
    name = _NAME.match(path.name)
    if (name and int(name.group(1)) != epoch) or len(meta["history"]) != epoch or \
            meta["best_epoch"] > epoch or meta["waited"] > epoch:
        raise CheckpointError(f"{where}: epoch {epoch} disagrees with the directory name, the "
                              "history's length, best_epoch or waited")


def _plain(value: Any, where: str) -> None:
    """Plain JSON (finite numbers, texts of at most MAX_CHARS), nested at most MAX_DEPTH."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if type(item) in (dict, list):
            if depth >= MAX_DEPTH:
                raise CheckpointError(f"{where}: nested deeper than {MAX_DEPTH} levels")
            stack.extend((v, depth + 1) for v in (item.values() if type(item) is dict
                                                  else item))
        elif not (item is None or type(item) is bool or _number(item) or (
                type(item) is str and len(item) <= MAX_CHARS)):
            raise CheckpointError(f"{where}: holds {one_line(item)}; expected plain JSON")


def one_line(value: Any) -> str:
    """A value or error as one short line (for messages)."""
    text = " ".join(str(value).split()) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def prune(directory: Path, keep: int) -> None:
    """Remove all but the newest `keep` checkpoints and leftovers of interrupted writes."""
    for old in list_checkpoints(directory)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in directory.glob(".epoch-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


# -- nested optimizer state <-> JSON + named tensors ----------------------------------------
def flatten(value: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list by a reference to a named tensor."""
    if isinstance(value, torch.Tensor):
        tensors[name] = value
        return {"tensor": name}
    if isinstance(value, dict):
        return {"dict": [[k, flatten(v, f"{name}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return {"list": [flatten(v, f"{name}.{i}", tensors) for i, v in enumerate(value)]}
    return {"value": value}


def unflatten(node: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    if "tensor" in node:
        return tensors[node["tensor"]]
    if "dict" in node:
        return {k: unflatten(v, tensors) for k, v in node["dict"]}
    if "list" in node:
        return [unflatten(v, tensors) for v in node["list"]]
    return node["value"]
