"""`multitag export`: a saved model as an ONNX file (needs the `onnx` extra)."""

from __future__ import annotations

from pathlib import Path

import typer

EXPORT_HELP = """Write MODEL_DIR's network as an ONNX file.

The graph's input `features` is a float32 matrix (batch, n_inputs); its output `probabilities`
holds one sigmoid probability per label (label names in the file's metadata_props). Inside the
graph: missing-value filling and the standardisation/scaling of the numeric columns. The consumer
still has to: pass the columns in the metadata's `input_columns` order (sparse-trained models
densified) and, for text models, compute the TF-IDF columns (vocabulary and idf in the metadata's
`text_tfidf`); then apply the metadata's `decision_rule` or a threshold to get label sets.
"""


def register(app: typer.Typer) -> None:
    app.command("export", help=EXPORT_HELP)(export)


def export(
    model_dir: Path = typer.Argument(..., help="Model directory written by `multitag train`."),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write (replaced atomically; "
                              "never inside MODEL_DIR).", dir_okay=False),
) -> None:
    from multitag.bundle.directory import ModelBundle
    from multitag.exceptions import require_extra
    from multitag.fileio import check_output

    check_output(onnx, protected_dirs=[model_dir], option="--onnx")

    require_extra("onnx", "`multitag export --onnx`", ("onnx",))
    from multitag.serving.onnx import export_onnx

    result = export_onnx(ModelBundle.load(model_dir), onnx)
    typer.echo(f"wrote {result.path}: {result.n_inputs} inputs -> {result.n_labels} label "
               f"probabilities")
    typer.echo(f"in the graph: {result.in_graph}", err=True)
    typer.echo(f"consumer: {result.consumer_preprocessing}", err=True)
