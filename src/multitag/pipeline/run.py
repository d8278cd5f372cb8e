"""`train_files`: what `multitag train` does, as one library call: read the files, train through
the pipeline (in memory, streamed or distributed), score the test file. The caller saves the
model and renders the result; under `--distributed` every process takes part and only the
main one (`is_main`) should write anything."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multitag.options import TrainOptions


@dataclass
class TrainRun:
    """The trained model with what training measured, the test evaluation, and this process's
    place in a distributed run."""

    outcome: Any
    evaluation: Any = None
    test_rows: int = 0
    is_main: bool = True
    world_size: int = 1


def train_files(path: str | Path, options: TrainOptions, *, reader: Any = None,
                test: str | Path | None = None, stream: bool = False,
                chunk_rows: int | None = None, distributed: bool = False,
                dist_timeout: float | None = None, callbacks: Sequence[Any] = (),
                notify: Callable[[str], None] | None = None) -> TrainRun:
    """Train on the file `path` (read whole, or chunk by chunk every epoch with `stream`),
    evaluate on `test` if given; `distributed` joins the torchrun process group first."""
    from multitag.exceptions import ConfigError
    from multitag.pipeline.defaults import DISTRIBUTED, MEMORY, STREAM
    from multitag.pipeline.fit import check_runnable

    if stream and distributed:
        raise ConfigError("--stream and --distributed cannot be combined: every process would "
                          "read the whole file every epoch; use one of them")
    check_runnable(options, STREAM if stream else DISTRIBUTED if distributed else MEMORY)
    if not distributed:
        return _run(path, options, reader, test, stream, chunk_rows, None, callbacks, notify)
    from multitag.training import distributed as dd

    timeout = dd.DEFAULT_TIMEOUT_SECONDS if dist_timeout is None else dist_timeout
    with dd.session(timeout) as ctx:
        return _run(path, options, reader, test, False, None, ctx, callbacks, notify)


def _run(path: Any, options: TrainOptions, reader: Any, test: Any, stream: bool,
         chunk_rows: int | None, ctx: Any, callbacks: Sequence[Any],
         notify: Callable[[str], None] | None) -> TrainRun:
    from multitag.data import load
    from multitag.data.chunks import DEFAULT_CHUNK_ROWS, ChunkedFile
    from multitag.pipeline.evaluate import evaluate_model
    from multitag.pipeline.fit import train

    if ctx is not None and not ctx.is_main:  # only the main process shows progress and notices
        callbacks, notify = (), None
    test_data = load(test, reader) if test is not None else None
    data = ChunkedFile(path, reader, chunk_rows or DEFAULT_CHUNK_ROWS) if stream \
        else load(path, reader)
    predict = None
    if ctx is not None and test_data is not None:
        from multitag.training import distributed as dd

        dd.check_same_data(ctx, test_data, "test data")
    outcome = train(data, options, distributed=ctx is not None, callbacks=callbacks,
                    notify=notify)
    if ctx is not None:
        from functools import partial

        from multitag.training import distributed as dd

        predict = partial(dd.predict_proba_gathered, ctx, outcome.bundle)
    evaluation = None
    if test_data is not None:
        from multitag.exceptions import errors_in

        with errors_in(test):
            evaluation = evaluate_model(outcome.bundle, test_data, predict)
    return TrainRun(outcome, evaluation, test_data.n_samples if test_data is not None else 0,
                    ctx is None or ctx.is_main, 1 if ctx is None else ctx.world_size)
