"""ONNX export of a saved model (optional extra `multitag[onnx]`).

The graph takes one float32 matrix `features` (batch, n_inputs) and returns `probabilities`
(batch, n_labels), the sigmoid of the network's logits. The numeric part of the preprocessor
is inside the graph: missing values (NaN) are filled with the training median/mean, columns are
standardised (or max-abs / idf scaled, with the row normalisation of sparse TF-IDF input).
Only a text model needs work from the consumer: its TF-IDF columns (vocabulary and idf in the
metadata) come after the numeric columns. Label names, the feature layout, the decision rule and
these instructions are stored in the model's `metadata_props`. The file is written atomically.

Uses torch's TorchScript-based exporter (`dynamo=False`): it needs only the `onnx` package,
while the newer exporter also needs onnxscript.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from multitag import __version__
from multitag.bundle.directory import ModelBundle
from multitag.exceptions import ConfigError
from multitag.fileio import atomic_write_bytes

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
OPSET = 17
CONSUMER_DENSE = ("Pass a float32 matrix (batch, {n}) with the columns in `input_columns` "
                  "order; NaN marks a missing value{fill}. Output: one probability per label in "
                  "`label_names` order; apply `decision_rule` (or a threshold) to get label sets.")
CONSUMER_TEXT = (" Columns {start}..{end} are the document's TF-IDF features, which the consumer "
                 "must compute: scikit-learn's TfidfVectorizer with `text_tfidf` (vocabulary, "
                 "idf, params), L2-normalised rows.")


@dataclass(frozen=True)
class ExportResult:
    """What was written and what a consumer of the file must still do."""

    path: Path
    n_inputs: int
    n_labels: int
    in_graph: str
    consumer_preprocessing: str


class _ExportedNetwork(nn.Module):
    """The network with the numeric preprocessing in front and a sigmoid behind."""

    def __init__(self, network: nn.Module, n_numeric: int, arrays: dict[str, np.ndarray | None],
                 row_normalise: bool) -> None:
        super().__init__()
        self.network = network
        self.n_numeric = n_numeric
        self.row_normalise = row_normalise
        self.steps = [k for k in ("fill", "center", "scale") if arrays.get(k) is not None]
        for key in self.steps:
            self.register_buffer(key, torch.as_tensor(arrays[key], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_numeric:
            numeric = self._numeric(x[:, :self.n_numeric])
            x = numeric if x.shape[1] == self.n_numeric else torch.cat(
                [numeric, x[:, self.n_numeric:]], dim=1)
        return self.network.probabilities(x)

    def _numeric(self, x: torch.Tensor) -> torch.Tensor:
        if "fill" in self.steps:
            x = torch.where(torch.isnan(x), self.fill, x)
        if "center" in self.steps:
            x = x - self.center
        if "scale" in self.steps:
            x = x * self.scale
        if self.row_normalise:
            norm = torch.sqrt((x * x).sum(dim=1, keepdim=True))
            x = x / torch.where(norm > 0, norm, torch.ones_like(norm))
        return x


def export_onnx(bundle: ModelBundle, path: str | Path) -> ExportResult:
    """Write `bundle` as an ONNX file at `path` (atomically) and describe it."""
    onnx = _onnx()
    pre = bundle.preprocessor
    n_numeric = len(bundle.feature_names)
    n_inputs = int(bundle.architecture["n_features"])
    wrapper = _wrap(bundle, n_numeric)
    model = onnx.load_from_string(_trace(wrapper, n_inputs))
    in_graph = _in_graph_text(pre, n_numeric)
    consumer = _consumer_text(pre, n_numeric, n_inputs)
    model.doc_string = f"multitag {__version__} model. In the graph: {in_graph}. {consumer}"
    _set_metadata(model, _metadata(bundle, n_inputs, in_graph, consumer))
    onnx.checker.check_model(model)
    target = Path(path)
    atomic_write_bytes(target, model.SerializeToString())
    return ExportResult(target, n_inputs, len(bundle.label_names), in_graph, consumer)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:
        raise ConfigError("ONNX export needs the `onnx` extra: pip install "
                          "'multitag[onnx]'") from err
    return onnx


def _wrap(bundle: ModelBundle, n_numeric: int) -> _ExportedNetwork:
    pre = bundle.preprocessor
    arrays = {"fill": pre.fill_, "center": pre.center_, "scale": pre.scale_}
    network = bundle.module.float().eval()  # built afresh by each access
    return _ExportedNetwork(network, n_numeric, arrays, pre.mode_ == "tfidf").eval()


def _trace(wrapper: nn.Module, n_inputs: int) -> bytes:
    buffer = io.BytesIO()
    example = torch.zeros((2, n_inputs), dtype=torch.float32)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(wrapper, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return buffer.getvalue()


def _in_graph_text(pre: Any, n_numeric: int) -> str:
    if not n_numeric:
        return "the network and a sigmoid (no numeric preprocessing)"
    steps = []
    if pre.fill_ is not None:
        steps.append(f"NaN filled with the training {pre.impute}")
    steps.append({"standard": "standardisation (x - mean) / std",
                  "maxabs": "scaling by 1 / max|x|",
                  "tfidf": "idf weighting and L2 row normalisation",
                  "none": "no scaling"}[pre.mode_])
    return f"{', '.join(steps)} of the {n_numeric} numeric columns, the network and a sigmoid"


def _consumer_text(pre: Any, n_numeric: int, n_inputs: int) -> str:
    fill = (" (filled in the graph)" if pre.fill_ is not None else
            " (not allowed: the model was trained without imputation)")
    text = CONSUMER_DENSE.format(n=n_inputs, fill=fill if n_numeric else "")
    if pre.text_ is not None:
        text += CONSUMER_TEXT.format(start=n_numeric, end=n_inputs - 1)
    if pre.sparse_input_:
        text += " The model was trained on sparse input: pass it densified."
    return text


def _metadata(bundle: ModelBundle, n_inputs: int, in_graph: str,
              consumer: str) -> dict[str, str]:
    pre = bundle.preprocessor
    columns = list(bundle.feature_names)
    text = None
    if pre.text_ is not None:
        state, arrays = pre.to_state()
        text = {**state["text"], "idf": arrays["text_idf"].tolist()}
        vocab = sorted(text["vocabulary"], key=text["vocabulary"].get)
        columns += [f"text:{word}" for word in vocab]
    meta = {
        "producer": "multitag", "multitag_version": __version__,
        "label_names": json.dumps(list(bundle.label_names)),
        "input_columns": json.dumps(columns), "n_inputs": str(n_inputs),
        "decision_rule": json.dumps(bundle.decision_rule.to_dict()),
        "in_graph_preprocessing": in_graph, "consumer_preprocessing": consumer,
    }
    if text is not None:
        meta["text_tfidf"] = json.dumps(text)
    return meta


def _set_metadata(model: Any, values: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
