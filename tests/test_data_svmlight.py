"""svmlight/libsvm multi-label and Extreme Classification Repository files."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_helpers import BAD, DATA
from multitag.data import load
from multitag.data.svmlight.reader import read_header, read_svmlight
from multitag.exceptions import DataFormatError


def test_one_based_spaced_commas_comments_and_rows_without_labels() -> None:
    data = load(DATA / "multi.svm")
    assert data.is_sparse and data.X.shape == (5, 5)
    assert data.feature_names[0] == "f1"  # the file's own (1-based) index
    assert data.label_names == ["1", "2", "3", "5", "7"]
    X = data.X.toarray()
    np.testing.assert_allclose(X[0], [0.5, 0, 0, 1, 0])
    np.testing.assert_allclose(X[2], [2, 0, 1.5, 0, 0])
    Y = data.Y_dense()
    np.testing.assert_array_equal(Y[0], [1, 0, 1, 0, 0])  # "1, 3"
    assert Y[1].sum() == 0  # " 2:1.5" has no labels


def test_extreme_classification_header_zero_based() -> None:
    assert read_header(DATA / "xc_header.txt") == (4, 6, 5)
    data = load(DATA / "xc_header.txt")
    assert data.X.shape == (4, 6) and data.n_labels == 5
    assert data.label_names == ["0", "1", "2", "3", "4"]
    np.testing.assert_array_equal(data.Y_dense()[3], [0, 1, 1, 0, 0])
    assert data.X[0, 0] == pytest.approx(0.5) and data.X[0, 5] == 1


def test_header_with_one_based_indices_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "xc.txt"
    path.write_text("2 3 2\n1,2 1:1 3:2\n2 2:1\n")
    data = load(path)
    assert data.X.shape == (2, 3) and data.label_names == ["1", "2"]
    np.testing.assert_allclose(data.X.toarray()[0], [1, 0, 2])


def test_zero_based_without_header_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "zero.svm.gz"
    path.write_bytes(gzip.compress(b"0 0:1 2:3\n1 1:2\n"))
    data = load(path)
    assert data.name == "zero" and data.X.shape == (2, 3) and data.feature_names[0] == "f0"


def test_format_given_explicitly_for_an_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.dat"
    path.write_text("1,2 1:1\n")
    assert load(path, format="libsvm").n_labels == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_row.svm", r"bad_row\.svm:2: feature indices must be increasing"),
        ("nan_feature.svm", r"nan_feature\.svm:2: a value is NaN"),
    ],
)
def test_malformed_rows_name_the_line(name: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        load(BAD / name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"no data rows"),
        ("# only a comment\n", r"no data rows"),
        ("3 4 2\n0 1:1\n", r":1: the header says 3 rows but the file has 1"),
        ("1 4 2\n5 1:1\n", r":2: label id 5 out of range; the header says 2 labels"),
        ("1 2 2\n0 7:1\n", r":2: feature index 7 out of range; the header says 2"),
        ("1.5 1:1\n", r":1: label 1.5 is not a whole number"),
        ("1 1:1\n2 2:1e999\n", r":2: .*infinite or too large"),
        ("1 a:1\n", r":1: expected 'label,label"),
        ("1 1:1\n2 2000000000:1\n", r":2: feature index 2,000,000,000 is too large"),
        ("4 99999999999 5\n1 1:1\n", r":1: header numbers .* are too large"),
    ],
)
def test_more_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "case.svm"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_svmlight(path)


def _load_or_format_error(path: Path) -> None:
    try:
        data = read_svmlight(path)
    except DataFormatError:
        return
    assert data.n_samples > 0 and data.is_sparse


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.svm"
        path.write_bytes(payload)
        _load_or_format_error(path)


_PIECES = [*list(" ,:#\n\t0123456789.-eE"), "nan", "inf", "qid:1", "99999999999", "\x00"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([DATA / "multi.svm", DATA / "xc_header.txt"]),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from(_PIECES), st.booleans()),
             min_size=1, max_size=4),
)
def test_fuzz_mutated_valid_files(seed: Path, edits: list[tuple[float, str, bool]]) -> None:
    text = seed.read_text()
    for where, piece, insert in edits:
        i = int(where * len(text))
        text = text[:i] + piece + text[i + (0 if insert else 1):]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / seed.name
        path.write_text(text)
        _load_or_format_error(path)


_VALUE = st.one_of(
    st.integers(-999, 999).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.6g}"),
    st.floats(1e-9, 1e-3).map(lambda v: f"{v:.3e}"),
)
_ROW_TEXT = st.tuples(
    st.lists(st.integers(0, 50), max_size=4),
    st.lists(st.tuples(st.integers(0, 300), _VALUE), max_size=6),
    st.sampled_from([" ", "  ", "\t"]),
).map(lambda r: ",".join(map(str, r[0])) + r[2] + " ".join(
    f"{i}:{v}" for i, v in sorted(dict(r[1]).items())))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ROW_TEXT, min_size=1, max_size=30))
def test_bulk_parser_agrees_with_scikit_learn(rows: list[str]) -> None:
    from multitag.data.svmlight.bulk import parse_plain
    from multitag.data.svmlight.reader import _load_sklearn

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.svm"
        path.write_text("\n".join(rows) + "\n")
        bulk = parse_plain(path, skip_header=False)
        try:
            reference = _load_sklearn(path, skip_header=False)
        except DataFormatError:
            assert bulk is None
            return
    assert bulk is not None
    for field in ("data", "indices", "indptr", "label_counts"):
        np.testing.assert_array_equal(getattr(bulk, field), getattr(reference, field))
    np.testing.assert_array_equal(np.sort(bulk.label_ids), np.sort(reference.label_ids))
