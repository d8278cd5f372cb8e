"""ONNX export: onnxruntime reproduces ModelBundle.predict_proba to 1e-5."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from model_helpers import LABELS, numeric_data, text_data, tfidf_bundle, train

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from multitag.serving.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx  # noqa: E402


def _run(path, X: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    assert [o.name for o in session.get_outputs()] == [OUTPUT_NAME]
    out = session.run(None, {INPUT_NAME: np.asarray(X, dtype=np.float32)})[0]
    return out, session.get_modelmeta().custom_metadata_map


def test_dense_model_matches_predict_proba_with_scaling_and_missing_values(tmp_path) -> None:
    data = numeric_data()
    bundle = train(data)
    X = np.array(data.X[:50], dtype=np.float32)
    X[3, 2] = np.nan  # filled with the training median inside the graph
    result = export_onnx(bundle, tmp_path / "model.onnx")
    probabilities, meta = _run(result.path, X)
    np.testing.assert_allclose(probabilities, bundle.predict_proba(X), atol=1e-5, rtol=0)
    assert probabilities.shape == (50, 4)
    assert json.loads(meta["label_names"]) == LABELS
    assert json.loads(meta["input_columns"]) == data.feature_names
    assert "standardisation" in meta["in_graph_preprocessing"]
    assert json.loads(meta["decision_rule"]) == bundle.decision_rule.to_dict()
    assert result.n_inputs == 6 and result.n_labels == 4


def test_one_row_and_large_batch_shapes(tmp_path) -> None:
    bundle = train(numeric_data())
    path = export_onnx(bundle, tmp_path / "m.onnx").path
    X = np.random.default_rng(0).normal(3.0, 4.0, size=(1000, 6))
    for rows in (X[:1], X):
        out, _ = _run(path, rows)
        np.testing.assert_allclose(out, bundle.predict_proba(rows), atol=1e-5, rtol=0)


def test_text_model_consumer_supplies_tfidf(tmp_path) -> None:
    data = text_data()
    bundle = train(data)
    result = export_onnx(bundle, tmp_path / "text.onnx")
    features = bundle.transform(data).toarray()  # what the consumer must compute
    out, meta = _run(result.path, features)
    np.testing.assert_allclose(out, bundle.predict_proba(data), atol=1e-5, rtol=0)
    assert "TF-IDF" in meta["consumer_preprocessing"]
    tfidf = json.loads(meta["text_tfidf"])
    assert set(tfidf["vocabulary"]) <= {"cat", "dog", "fish", "bird", "tree", "rock", "sun",
                                        "moon"}
    assert len(tfidf["idf"]) == len(tfidf["vocabulary"]) == result.n_inputs


def test_sparse_tfidf_row_normalisation_is_in_the_graph(tmp_path) -> None:
    bundle, X = tfidf_bundle()
    X = sp.vstack([sp.csr_matrix((1, X.shape[1])), X[1:]], format="csr")  # an empty row
    out, meta = _run(export_onnx(bundle, tmp_path / "s.onnx").path, X.toarray())
    np.testing.assert_allclose(out, bundle.predict_proba(X), atol=1e-5, rtol=0)
    assert "row normalisation" in meta["in_graph_preprocessing"]
    assert "densified" in meta["consumer_preprocessing"]


def test_export_replaces_atomically_and_leaves_no_temporary_files(tmp_path) -> None:
    bundle = train(numeric_data())
    target = tmp_path / "out" / "m.onnx"
    target.parent.mkdir()
    target.write_bytes(b"old")
    export_onnx(bundle, target)
    assert target.read_bytes()[:4] != b"old"
    assert [p.name for p in target.parent.iterdir()] == ["m.onnx"]
