"""`multitag serve`: the HTTP service for a saved model (needs the `serve` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("serve", help=SERVE_HELP)(serve)


SERVE_HELP = (
    "Serve MODEL_DIR over HTTP: POST /predict, GET /labels, GET /health, docs at /docs.\n\n"
    "Every feature of an item is required unless --impute is given.\n\n"
    "Limits (each refusal is a JSON {\"detail\": ...} answer, documented in /openapi.json): "
    "at most --max-items items and --max-body-bytes bytes per request (else 422 / 413); fewer "
    "items for a model so wide that items x (dense features + labels) would exceed 4,194,304 "
    "values, the bound on the work of one request (/docs gives the number).\n\n"
    "A request's headers within --read-timeout seconds (408) and 64 KiB (431); its body with "
    "no pause longer than --read-timeout and at 100 kB/s on average beyond that (408); at most "
    "--max-connections open connections and --max-buffered-bytes of bodies held by requests "
    "in progress (else 503 with Retry-After); a client that does not take its answer is "
    "dropped.\n\n"
    "SIGTERM or Ctrl-C: no new connections, requests in progress get --shutdown-timeout "
    "seconds to finish (then 503), exit 0; a second signal stops at once."
)


def serve(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by "
                             "default; 0.0.0.0 exposes the service to the network)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_items: int = typer.Option(1000, "--max-items", help="Most items in one request."),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes",
                                       help="Largest request body accepted (else 413)."),
    max_connections: int = typer.Option(256, "--max-connections", help="Most open "
                                        "connections (one more gets 503)."),
    max_buffered_bytes: int = typer.Option(None, "--max-buffered-bytes", help="Most body "
                                           "bytes held by all requests in progress (else 503; "
                                           "default 4 x --max-body-bytes)."),
    read_timeout: float = typer.Option(10.0, "--read-timeout", help="Seconds for a request's "
                                       "headers, and the longest pause in a body (else 408)."),
    shutdown_timeout: float = typer.Option(5.0, "--shutdown-timeout", help="Seconds requests "
                                           "in progress get to finish on SIGTERM/Ctrl-C."),
    impute: bool = typer.Option(False, "--impute", help="Fill features absent from a "
                                "request with the training median/mean (the model's own "
                                "imputation) and list them in each prediction; without it, a "
                                "row lacking features is refused with 422 naming them. A "
                                "sparse model reads absent features as 0 either way."),
    threads: int = typer.Option(1, "--threads", help="Inference threads (1 serves small "
                                "requests fastest; more helps large batches on many cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
) -> None:
    _limit_openmp(threads)
    from multitag.bundle.directory import ModelBundle
    from multitag.serving.limits import ServiceLimits

    server = _server()  # a missing extra is named before the model is read
    limits = ServiceLimits(
        max_items=max_items, max_body_bytes=max_body_bytes, max_connections=max_connections,
        max_buffered_bytes=max_buffered_bytes, read_timeout=read_timeout,
        shutdown_timeout=shutdown_timeout)
    bundle = ModelBundle.load(model_dir)
    server.serve(bundle, host, port, limits=limits, impute=impute, threads=threads,
                 log_level="warning" if quiet else "info")


def _limit_openmp(threads: int) -> None:
    """BLAS and OpenMP size their thread pools when they load: set them before that, unless the
    user did (serving.serve limits them again once loaded). Idle pool threads that spin cost a
    small server much of its CPU on a few cores (benchmarks/serve.py: p99 latency about 5x
    lower with one thread than with two)."""
    if threads >= 1:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))


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
