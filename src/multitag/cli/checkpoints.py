"""Checkpoints for `multitag train`: `--resume`, Ctrl-C, and what a divergence leaves behind.

Checkpoints live in `OUT/checkpoint/` (the model directory being trained); the successful save
of the model replaces `OUT` as a whole, which removes them. Ctrl-C asks training to stop after
the current epoch, saves a checkpoint there and exits with code 130; a second Ctrl-C stops at
once (the previous checkpoint is kept). A diverged run exits 2 (a usage problem: the learning
rate) and keeps its last good checkpoint. Networks trained in parallel worker processes (an
ensemble on several cores) are checkpointed each in its own directory and stop together.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from multitag.exceptions import CheckpointError, TrainingError, TrainingInterrupted

INTERRUPTED_EXIT_CODE = 130


def prepare(out: Path, options: Any, resume: bool, every: int,
            minutes: float | None) -> Any:
    """Check `out` before any data is read and return the training's `Checkpointer`."""
    from multitag.bundle.directory import CHECKPOINT_DIR, MODEL_JSON, WEIGHTS
    from multitag.fileio import check_replaceable
    from multitag.training.checkpoint import (
        Checkpointer,
        check_run_info,
        check_stored_learning_rate,
    )

    if every < 0 or (minutes is not None and minutes <= 0):
        raise CheckpointError("`--checkpoint-every` must be >= 0 (0: never) and "
                              f"`--checkpoint-minutes` > 0; got {every} and {minutes}")
    check_replaceable(out, (MODEL_JSON, WEIGHTS), "model directory", (CHECKPOINT_DIR,))
    checkpointer = Checkpointer(out / CHECKPOINT_DIR, every=every, minutes=minutes,
                                resume=resume, run_info=options.to_dict())
    if not resume:
        if checkpointer.exists():
            raise CheckpointError(
                f"{out}: holds the checkpoint of an unfinished run; continue it with "
                f"--resume, or remove {checkpointer.directory} to start over")
        return checkpointer
    if not checkpointer.exists():
        done = " (the model there is complete)" if (out / MODEL_JSON).is_file() else ""
        raise CheckpointError(f"{out}: no checkpoint to resume from{done}")
    snapshots = [checkpointer.latest(d) for d in checkpointer.networks_with_checkpoints()]
    snapshot = snapshots[0]
    check_run_info(snapshot, checkpointer.run_info)
    for each in snapshots:
        check_stored_learning_rate(each)
    for notice in checkpointer.notices:
        typer.echo(f"notice: {notice}", err=True)
    checkpointer.notices.clear()
    typer.echo(f"resuming after epoch {snapshot.epoch} from {snapshot.path}", err=True)
    return checkpointer


@contextmanager
def guarded(checkpointer: Any) -> Iterator[None]:
    """Ctrl-C stops after the epoch with a checkpoint (exit 130); divergence names it.
    Without a checkpointer (distributed runs) Ctrl-C stops at once."""
    if checkpointer is None:
        yield
        return
    parent = os.getpid()

    def on_sigint(signum: int, frame: Any) -> None:
        # At once: a second Ctrl-C, or before any network trains. Forked training workers
        # ignore Ctrl-C: they see the stop request and save at their epoch end.
        if checkpointer.stop_requested or os.getpid() != parent or not checkpointer.active:
            raise KeyboardInterrupt
        checkpointer.request_stop()
        typer.echo("\nstopping after this epoch to save a checkpoint (Ctrl-C again to stop "
                   "now)", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    except (TrainingInterrupted, KeyboardInterrupt):
        _exit_interrupted(checkpointer)
    except TrainingError as err:
        raise TrainingError(f"{err}; {_kept(checkpointer)}") from err
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_interrupted(checkpointer: Any) -> None:
    import multiprocessing

    for worker in multiprocessing.active_children():  # parallel ensemble training workers
        worker.terminate()
    if not checkpointer.exists():
        typer.echo("interrupted before any checkpoint; nothing to resume", err=True)
    else:
        args = [a for a in sys.argv[1:] if a != "--resume"]
        typer.echo(f"interrupted; resume with: multitag {shlex.join(args)} --resume", err=True)
    raise typer.Exit(INTERRUPTED_EXIT_CODE)


def _kept(checkpointer: Any) -> str:
    if checkpointer.last_epoch is None:
        return "no checkpoint had been saved"
    return (f"the last good checkpoint (epoch {checkpointer.last_epoch}) is kept in "
            f"{checkpointer.network}; remove {checkpointer.directory} to start over")

