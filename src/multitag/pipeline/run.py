"""`train_files`: what `multitag train` does, as one library call: read the files, hold out
the test rows (a test file, `--test-size`, or the split the file records), train through the
pipeline (in memory, streamed or distributed), score the test rows, or, without any, estimate
the scores on the held-out training rows. The caller saves the model and renders the result;
under `--distributed` every process takes part and only the main one (`is_main`) should write
anything."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multitag.options import TrainOptions


@dataclass
class TrainRun:
    """The trained model with what training measured, the test evaluation (or the held-out
    estimate), and this process's place in a distributed run."""

    outcome: Any
    evaluation: Any = None
    test_rows: int = 0
    test_name: str = ""
    estimate: Any = None
    is_main: bool = True
    world_size: int = 1
    notices: list[str] = field(default_factory=list)


def train_files(path: str | Path, options: TrainOptions, *, reader: Any = None,
                test: str | Path | None = None, test_size: float | None = None,
                all_rows: bool = False, stream: bool = False, chunk_rows: int | None = None,
                distributed: bool = False, dist_timeout: float | None = None,
                callbacks: Sequence[Any] = (),
                notify: Callable[[str], None] | None = None) -> TrainRun:
    """Train on the file `path` (read whole, or chunk by chunk every epoch with `stream`),
    evaluate on `test` or the held-out share; `distributed` joins the torchrun process group
    first."""
    from multitag.exceptions import ConfigError
    from multitag.pipeline.defaults import DISTRIBUTED, MEMORY, STREAM
    from multitag.pipeline.fit import check_runnable
    from multitag.pipeline.holdout import check_test_size

    if stream and distributed:
        raise ConfigError("--stream and --distributed cannot be combined: every process would "
                          "read the whole file every epoch; use one of them")
    if stream and test_size is not None:
        raise ConfigError("--stream reads the file chunk by chunk: give the test rows as a "
                          "file (--test), not --test-size")
    check_test_size(test_size, test is not None)
    check_runnable(options, STREAM if stream else DISTRIBUTED if distributed else MEMORY)
    settings = _Settings(reader, test, test_size, all_rows, stream, chunk_rows)
    if not distributed:
        return _run(path, options, settings, None, callbacks, notify)
    from multitag.training import distributed as dd

    timeout = dd.DEFAULT_TIMEOUT_SECONDS if dist_timeout is None else dist_timeout
    with dd.session(timeout) as ctx:
        return _run(path, options, settings, ctx, callbacks, notify)


@dataclass
class _Settings:
    reader: Any
    test: Any
    test_size: float | None
    all_rows: bool
    stream: bool
    chunk_rows: int | None


def _run(path: Any, options: TrainOptions, settings: _Settings, ctx: Any,
         callbacks: Sequence[Any], notify: Callable[[str], None] | None) -> TrainRun:
    from multitag.exceptions import errors_in
    from multitag.pipeline.evaluate import evaluate_model, held_out_estimate
    from multitag.pipeline.fit import train

    if ctx is not None and not ctx.is_main:  # only the main process shows progress and notices
        callbacks, notify = (), None
    data, test_data, notices = _read(path, options, settings)
    for text in notices:
        if notify is not None:
            notify(text)
    if ctx is not None:
        from multitag.training import distributed as dd

        if test_data is not None:
            dd.check_same_data(ctx, test_data, "test data")
    with errors_in(path):  # checks of the prepared data name the training file
        outcome = train(data, options, distributed=ctx is not None, callbacks=callbacks,
                        notify=notify)
    run = TrainRun(outcome, is_main=ctx is None or ctx.is_main,
                   world_size=1 if ctx is None else ctx.world_size, notices=notices)
    if test_data is None:
        run.estimate = held_out_estimate(outcome)
        return run
    predict = None
    if ctx is not None:
        from functools import partial

        from multitag.training import distributed as dd

        predict = partial(dd.predict_proba_gathered, ctx, outcome.bundle)
    from multitag.exceptions import errors_in

    with errors_in(settings.test):
        run.evaluation = evaluate_model(outcome.bundle, test_data, predict)
    run.test_rows, run.test_name = test_data.n_samples, test_data.name
    return run


def _read(path: Any, options: TrainOptions, settings: _Settings) -> tuple[Any, Any, list[str]]:
    """The training data (a Dataset, or a ChunkedFile when streaming), the test rows and the
    notices about where they came from."""
    from multitag.data import load
    from multitag.data.chunks import DEFAULT_CHUNK_ROWS, ChunkedFile
    from multitag.pipeline.holdout import load_split

    if settings.stream:
        chunks = ChunkedFile(path, settings.reader, settings.chunk_rows or DEFAULT_CHUNK_ROWS)
        test_data = load(settings.test, settings.reader) if settings.test is not None else None
        return chunks, test_data, []
    split = load_split(path, settings.reader, test=settings.test, test_size=settings.test_size,
                       all_rows=settings.all_rows, seed=options.seed)
    return split.train, split.test, split.notices
