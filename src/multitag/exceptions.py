"""The project's error types. Each subclasses the matching builtin so callers can catch either.

A message says what is wrong, where (file:line, column, key), what was received and how to fix it.
The CLI turns any `MultitagError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class MultitagError(Exception):
    """Base class of every error multitag raises on purpose (bad input, bad usage)."""


class DataFormatError(MultitagError, ValueError):
    """A data file or in-memory dataset does not have the expected form."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ConfigError(MultitagError, ValueError):
    """An option or configuration value is out of range or unknown."""


class NotFittedError(MultitagError, AttributeError):
    """A model or transform was used before `fit`."""


class ModelFileError(MultitagError, ValueError):
    """A model directory is missing, corrupted or from an incompatible version."""


class TrainingError(MultitagError, RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""


class CheckpointError(MultitagError, ValueError):
    """A training checkpoint is missing, damaged, or belongs to a different run."""


class TrainingInterrupted(MultitagError):
    """Training stopped on request (Ctrl-C) after saving a checkpoint to resume from."""

    def __init__(self, message: str, *, epoch: int | None = None,
                 checkpoint: object = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.checkpoint = checkpoint

    def __reduce__(self) -> tuple[object, ...]:  # crosses from a worker process to its parent
        return (type(self), (str(self),), {"epoch": self.epoch, "checkpoint": self.checkpoint})


@contextmanager
def errors_in(path: object) -> Iterator[None]:
    """A `DataFormatError` raised inside that names no file is raised again naming `path`
    (for checks that see a Dataset, not the file it came from)."""
    try:
        yield
    except DataFormatError as err:
        if path is None or err.path is not None:
            raise
        raise DataFormatError(str(err), path=path) from err


class MissingExtraError(MultitagError, ImportError):
    """An optional dependency of the feature asked for is not installed."""


# Optional extras (pyproject.toml) and the modules each brings.
EXTRAS: dict[str, tuple[str, ...]] = {
    "tabular": ("pandas", "pyarrow"),
    "plots": ("matplotlib",),
    "serve": ("fastapi", "uvicorn"),
    "onnx": ("onnx", "onnxruntime"),
}


def require_extra(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Import the modules `what` needs from extra `extra` now, before any work is done; a
    missing one is a `MissingExtraError` naming the extra to install."""
    from importlib import import_module

    for module in modules or EXTRAS[extra]:
        try:
            import_module(module)
        except ImportError as err:
            raise MissingExtraError(
                f"{what} needs the `{extra}` extra ({module} is not installed): "
                f"pip install 'multitag[{extra}]' (or 'multitag[all]')") from err
