"""`multitag serve`: the HTTP service for a saved model (needs the `serve` extra)."""

from __future__ import annotations

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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
) -> None:
    """Serve MODEL_DIR over HTTP: POST /predict, GET /labels, GET /health, docs at /docs."""
    from multitag.bundle import ModelBundle

    bundle = ModelBundle.load(model_dir)
    _server().serve(bundle, host, port, max_items=max_items, max_body_bytes=max_body_bytes,
                    log_level="warning" if quiet else "info")


def _server():
    """The serving module, or a one-line error naming the extra when FastAPI is missing."""
    from multitag.exceptions import ConfigError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"`multitag serve` needs the `serve` extra ({err.name} is not "
                          "installed): pip install 'multitag[serve]'") from err
    from multitag import serve as server

    return server
