"""`multitag train TRAIN --out MODEL_DIR`: train through the pipeline and save a model directory.

The training options are the flags of `multitag.options` (one per option, see
`multitag.cli.options`); the rest says where the data comes from and how the run behaves
(test file, streaming, distributed, checkpoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import (
    ALL_ROWS_OPTION,
    METRICS_JSON_OPTION,
    QUIET_OPTION,
    TEST_OPTION,
    TEST_SIZE_OPTION,
    check_outputs,
    write_json_atomic,
)
from multitag.cli.options import TRAIN_OPTIONS, with_train_options
from multitag.cli.rendering import notice, render_metrics
from multitag.data.registry import ReaderOptions
from multitag.options import TrainOptions

ESTIMATE = ("out-of-fold: the training rows each network held out (cross-fitting folds or the "
            "validation split), decided by a rule tuned on the other held-out rows")


def register(app: typer.Typer) -> None:
    app.command("train")(train)


@ro.with_reader_options
@with_train_options()
def train(
    path: Path = ro.DATA_ARGUMENT,
    test: Path = TEST_OPTION,
    test_size: float = TEST_SIZE_OPTION,
    all_rows: bool = ALL_ROWS_OPTION,
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run whose "
                                "checkpoint is in OUT/checkpoint (same data and options)."),
    checkpoint_every: int = typer.Option(1, help="Checkpoint every N epochs (0: never)."),
    checkpoint_minutes: float = typer.Option(None, help="Also checkpoint when this many "
                                             "minutes have passed since the last one."),
    stream: bool = typer.Option(False, "--stream", help="Read TRAIN in chunks every epoch "
                                "instead of loading it (files larger than memory)."),
    chunk_rows: int = typer.Option(10_000, "--chunk-rows", min=1,
                                   help="Rows a chunk with --stream."),
    metrics_json: Path = METRICS_JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    distributed: bool = typer.Option(False, "--distributed", help="Data-parallel training "
                                     "over the processes started by torchrun (README)."),
    dist_timeout: float = typer.Option(1800.0, "--dist-timeout", help="Seconds to wait for "
                                       "the other processes before failing (--distributed)."),
    reader: ReaderOptions = ro.READER,
    options: TrainOptions = TRAIN_OPTIONS,
) -> None:
    """Train on TRAIN and save the model directory (settings from the data unless given)."""
    from multitag.cli import checkpoints
    from multitag.exceptions import ConfigError
    from multitag.pipeline.run import train_files

    check_outputs({"--metrics-json": metrics_json}, {"--out": out}, data=[path, test],
                  reader=reader)
    if distributed and resume:
        raise ConfigError("--distributed cannot be combined with --resume")
    checkpointer = None if distributed else checkpoints.prepare(
        out, options, resume, checkpoint_every, checkpoint_minutes)
    callbacks: list[Any] = [] if quiet else _progress(stream)
    with checkpoints.guarded(checkpointer):
        run = train_files(path, options, reader=reader, test=test, test_size=test_size,
                          all_rows=all_rows, stream=stream,
                          chunk_rows=chunk_rows, distributed=distributed,
                          dist_timeout=dist_timeout, notify=notice,
                          callbacks=[*callbacks, *([checkpointer] if checkpointer else [])])
    if not run.is_main:
        return
    _finish(run, out, metrics_json, quiet)


def _progress(stream: bool) -> list[Any]:
    from multitag.cli.progress import ProgressCallback
    from multitag.cli.row_progress import PassProgress

    return [ProgressCallback(label="training"), *([PassProgress()] if stream else [])]


def _finish(run: Any, out: Path, metrics_json: Path | None, quiet: bool) -> None:
    outcome = run.outcome
    seconds = outcome.total_seconds
    payload: dict[str, Any] = {"fit_seconds": seconds}
    if run.evaluation is not None:
        payload = run.evaluation.metrics_json(seconds)
        outcome.bundle.metrics = {"test": payload}
        render_metrics(run.evaluation.report, f"Test set {run.test_name}: {run.test_rows:,} rows")
    elif run.estimate is not None:
        rows = len(run.estimate.probabilities)
        payload = {**run.estimate.report.metrics, "fit_seconds": seconds,
                   "estimate": ESTIMATE, "estimate_rows": rows}
        outcome.bundle.metrics = {"held_out_estimate": payload}
        render_metrics(run.estimate.report, f"No test set: estimate on {rows:,} held-out "
                       "training rows (out-of-fold; each decided by a rule tuned on the others)")
    outcome.bundle.save(out)
    if metrics_json is not None:
        write_json_atomic(metrics_json, payload)
    where = f" on {run.world_size} processes" if run.world_size > 1 else ""
    resumed = (f": {outcome.fit_seconds:.1f} s in this run after {outcome.resumed_seconds:.1f} "
               "s before the resume" if outcome.resumed_seconds else "")
    typer.echo(f"model saved to {out} (trained in {seconds:.1f} s{where}{resumed}, "
               f"{outcome.threads} thread(s))", err=not quiet)
