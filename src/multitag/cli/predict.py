"""`multitag predict MODEL_DIR INPUT`: label sets for new rows, chunk by chunk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from multitag.cli import reader_options as ro
from multitag.cli.common import QUIET_OPTION, check_outputs
from multitag.cli.evaluate import MODEL_DIR_ARGUMENT
from multitag.data.registry import ReaderOptions


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


@ro.with_reader_options
def predict(
    model_dir: Path = MODEL_DIR_ARGUMENT,
    path: Path = ro.DATA_ARGUMENT,
    output: Path = typer.Option(None, "--output", "-o", help="CSV or JSONL file (by its "
                                "extension); default: CSV on standard output. Never INPUT nor "
                                "a file in MODEL_DIR. CSV cells that a spreadsheet could read "
                                "as a formula (=, +, -, @ first) get a leading quote."),
    top_k: int = typer.Option(None, "--top-k", help="Predict the K most probable labels."),
    threshold: float = typer.Option(None, "--threshold", help="One threshold for all labels."),
    proba: bool = typer.Option(False, "--proba", help="Also write every label's probability."),
    chunk_rows: int = typer.Option(10_000, "--chunk-rows", min=1, help="Rows read, predicted "
                                   "and written at a time (memory does not grow with INPUT)."),
    quiet: bool = QUIET_OPTION,
    reader: ReaderOptions = ro.READER,
) -> None:
    """Predict label sets for the rows of INPUT with a saved model, chunk by chunk."""
    from multitag.bundle.directory import ModelBundle
    from multitag.cli.row_progress import RowProgress
    from multitag.data.chunks import ChunkedFile
    from multitag.pipeline.predict import override_rule, predict_chunks

    check_outputs({"--output": output}, data=[path], reader=reader, models=[model_dir])
    bundle = ModelBundle.load(model_dir)
    rule = override_rule(bundle.decision_rule, top_k=top_k, threshold=threshold)
    chunks = ChunkedFile(path, replace(reader, known_labels=tuple(bundle.label_names)),
                         chunk_rows, feature_names=bundle.feature_names, with_labels=False)
    with RowProgress("predicting", lambda: chunks.n_rows, quiet) as progress:
        predict_chunks(bundle, chunks, output, rule=rule, with_proba=proba,
                       on_chunk=progress.advance)
