"""`multitag train --distributed`: the train command under torchrun (one process per rank).

Every rank loads the same file and checks that the others did; the network trains data-parallel
(`multitag.training.distributed`); test predictions are gathered so every row counts once; only
rank 0 prints, writes the model directory and --metrics-json.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from multitag.exceptions import ConfigError


def check_options(options: Any, stream: bool, resume: bool) -> Any:
    """The options for a distributed run: one network, never streamed or resumed."""
    if stream or resume:
        raise ConfigError("--distributed cannot be combined with --stream or --resume")
    if options.model != "mlp":
        raise ConfigError(f"--distributed trains --model mlp; got {options.model!r}")
    if options.ensemble not in ("auto", 1):
        raise ConfigError(f"--distributed trains one network; got --ensemble {options.ensemble}")
    return replace(options, ensemble=1, distributed=True)


def train_distributed(path: Path, test: Path | None, out: Path, options: Any,
                      metrics_json: Path | None, quiet: bool, reader: Any,
                      timeout: float) -> None:
    """Load, check, train, evaluate and (rank 0) save, inside one process group."""
    from multitag.cli.common import write_json_atomic
    from multitag.cli.train import _progress, _render_metrics
    from multitag.data import load
    from multitag.pipeline.fit import evaluate_model, train_model
    from multitag.training import distributed as dd

    with dd.session(timeout) as ctx:
        train_data = load(path, reader)
        test_data = load(test, reader) if test is not None else None
        dd.check_same_data(ctx, train_data, "training data")
        if test_data is not None:
            dd.check_same_data(ctx, test_data, "test data")
        callbacks = [_progress()] if ctx.is_main and not quiet else []
        outcome = train_model(train_data, options, callbacks)
        predict = functools.partial(dd.predict_proba_gathered, ctx, outcome.bundle)
        if not ctx.is_main:
            if test_data is not None:  # take part in gathering the test predictions
                predict(test_data)
            return
        for notice in outcome.notices:
            typer.echo(f"notice: {notice}", err=True)
        payload: dict[str, Any] = {"fit_seconds": outcome.fit_seconds}
        if test_data is not None:
            evaluation = evaluate_model(outcome.bundle, test_data, predict)
            payload = evaluation.metrics_json(outcome.fit_seconds)
            outcome.bundle.metrics = {"test": payload}
            _render_metrics(evaluation.report,
                            f"Test set {test.name}: {test_data.n_samples:,} rows")
        outcome.bundle.save(out)
        if metrics_json is not None:
            write_json_atomic(metrics_json, payload)
        typer.echo(f"model saved to {out} (trained in {outcome.fit_seconds:.1f} s on "
                   f"{ctx.world_size} processes, {outcome.threads} thread(s) each)",
                   err=quiet is False)
