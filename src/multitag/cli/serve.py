"""`multitag serve`: the HTTP service for a saved model (needs the `serve` extra)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by "
                             "default; 0.0.0.0 exposes the service to the network)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_items: int = typer.Option(1000, "--max-items", help="Most items in one request."),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes",
                                       help="Largest request body accepted (else 413)."),
    impute: bool = typer.Option(False, "--impute", help="Fill features absent from a "
                                "request with the training median/mean (the model's own "
                                "imputation) and list them in each prediction; without it, a "
                                "row lacking features is refused with 422 naming them. A "
                                "sparse model reads absent features as 0 either way."),
    threads: int = typer.Option(1, "--threads", help="torch intra-op threads (1 serves small "
                                "requests fastest; more helps large batches on many cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
) -> None:
    """Serve MODEL_DIR over HTTP: POST /predict, GET /labels, GET /health, docs at /docs.

    Every feature of an item is required unless --impute is given."""
    _limit_openmp(threads)
    from multitag.bundle.directory import ModelBundle

    bundle = ModelBundle.load(model_dir)
    _server().serve(bundle, host, port, max_items=max_items, max_body_bytes=max_body_bytes,
                    impute=impute, threads=threads, log_level="warning" if quiet else "info")


def _limit_openmp(threads: int) -> None:
    """OpenMP sizes its thread pool once, when torch loads: set it before that, unless the user
    did. Idle pool threads that spin cost a small server much of its CPU on a few cores
    (benchmarks/serve.py: p99 latency about 5x lower with one thread than with two)."""
    if threads >= 1 and "torch" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _server():
    """The serving module, or a one-line error naming the extra when FastAPI is missing."""
    from multitag.exceptions import ConfigError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"`multitag serve` needs the `serve` extra ({err.name} is not "
                          "installed): pip install 'multitag[serve]'") from err
    from multitag.serving import service as server

    return server
