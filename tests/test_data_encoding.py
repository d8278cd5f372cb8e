"""The one encoding policy (`multitag.data.encoding`) in every reader: two-valued nominals as one
0/1 column, identifiers dropped with a notice, --drop-columns, multi-target (MEKA) labels,
MEKA's recorded splits, and a missing optional dependency."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from data_helpers import DATA, shared_data
from encoding_files import YES_NO, write_multitarget, write_protein, write_table
from multitag.data import load
from multitag.data.chunks import ChunkedFile, iter_chunks
from multitag.data.encoding import (
    FeatureEncoding,
    binary_column,
    is_identifier,
    positive_value,
    text_column,
)
from multitag.data.registry import ReaderOptions, make_options
from multitag.exceptions import DataFormatError, MissingExtraError

# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "positive"), [
    (["NO", "YES"], "YES"), (["YES", "NO"], "YES"), (["0", "1"], "1"), (["1", "0"], "1"),
    (["False", "True"], "True"), (["y", "n"], "y"), (["T", "F"], "T"),
    (["negative", "positive"], "positive"), (["a", "b"], "b"), (["hi", "lo"], "lo"),
])
def test_the_positive_value_of_a_pair(values: list[str], positive: str) -> None:
    assert positive_value(values) == positive


def test_column_names_of_two_valued_nominals() -> None:
    assert binary_column("x", ["NO", "YES"]) == ("x=YES", 1)
    assert binary_column("x", ["1", "0"]) == ("x", 0)  # {0,1} keeps the attribute's name
    assert binary_column("x", ["b", "a"]) == ("x=a", 1)


def test_identifier_rule_needs_90_percent_distinct_and_20_rows() -> None:
    assert is_identifier(18, 20) and is_identifier(655, 662)
    assert not is_identifier(17, 20) and not is_identifier(19, 19)
    assert text_column("id", {f"v{i}" for i in range(19)}, 19).kind == "one_hot"
    assert text_column("id", {f"v{i}" for i in range(20)}, 20).kind == "identifier"
    assert text_column("note", {f"v{i}" for i in range(60)}, 200).kind == "free_text"
    assert text_column("flag", {"yes", "no"}, 200).names == ("flag=yes",)


def test_encoding_description() -> None:
    assert FeatureEncoding(5).describe() == ""
    text = FeatureEncoding(1186, one_hot=3, binary=1185, binary_example="NO/YES",
                           identifiers=1, user_dropped=2).describe()
    assert text == ("3 nominal one-hot; 1,185 two-valued (e.g. NO/YES) -> one column each; "
                    "1 identifier dropped; 2 dropped by --drop-columns")


# --- ARFF: the protein-function-like file ------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_protein_like_file_two_valued_one_column_identifier_dropped(tmp_path: Path,
                                                                    sparse: bool) -> None:
    data = load(write_protein(tmp_path, sparse=sparse))
    assert data.label_names == ["L0", "L1", "L2"]
    assert data.feature_names == [
        *(f"yn{j}=YES" for j in range(YES_NO)), "rev=YES", "len", "mass",
        "kind=enzyme", "kind=receptor", "kind=other"]
    assert "dropped identifier-like attribute 'protein' (28 distinct values in 30 rows)" \
        in data.notices
    assert data.n_attributes == 11 and data.n_features == 12 and data.is_sparse == sparse
    assert data.encoding == FeatureEncoding(11, one_hot=1, binary=7, binary_example="NO/YES",
                                            identifiers=1)
    X = data.X.toarray() if sparse else data.X
    assert set(np.unique(X[:, :7][~np.isnan(X[:, :7])])) <= {0.0, 1.0}
    assert np.isnan(X[4, 0]) and data.has_missing  # `?` stays missing


def test_two_valued_nominal_values_become_0_and_1(tmp_path: Path) -> None:
    path = tmp_path / "t.arff"
    path.write_text("@relation 'r: -C 1'\n@attribute y {0,1}\n@attribute a {YES,NO}\n"
                    "@attribute b {lo,hi}\n@attribute c {1,0}\n@data\n1,YES,lo,0\n0,NO,hi,1\n"
                    "1,?,hi,1\n")
    data = load(path)
    assert data.feature_names == ["a=YES", "b=hi", "c"]
    np.testing.assert_array_equal(data.X[[0, 1]], [[1, 0, 0], [0, 1, 1]])
    assert np.isnan(data.X[2, 0]) and data.X[2, 1] == 1


def test_a_small_nominal_of_distinct_values_is_not_an_identifier() -> None:
    data = load(DATA / "nominal_values.arff")  # 3 rows, 3 distinct sizes: too few rows
    assert data.feature_names[:3] == ["size=small", "size=medium", "size=large"]


def test_string_identifier_gets_the_identifier_notice(tmp_path: Path) -> None:
    path = tmp_path / "s.arff"
    rows = "".join(f"'name {i}',{i % 2},{i}\n" for i in range(25))
    path.write_text("@relation 'r: -C 1'\n@attribute name string\n@attribute y {0,1}\n"
                    "@attribute x numeric\n@data\n" + rows)
    data = load(path, label_columns="y")
    assert data.feature_names == ["x"]
    assert "dropped identifier-like attribute 'name' (25 distinct values in 25 rows)" \
        in data.notices


# --- --drop-columns --------------------------------------------------------------------


def test_drop_columns_in_arff(tmp_path: Path) -> None:
    path = write_protein(tmp_path)
    data = load(path, drop_columns="len,kind")
    assert "len" not in data.feature_names and not any("kind" in n for n in data.feature_names)
    assert data.n_attributes == 11 and data.encoding.user_dropped == 2
    with pytest.raises(DataFormatError,
                       match=r"protein\.arff: --drop-columns: no attribute 'lenght' in the "
                             r"file; expected some of 'protein', 'yn0'"):
        load(path, drop_columns="len,lenght")
    with pytest.raises(DataFormatError, match=r"names 'L1', which is a label"):
        load(path, drop_columns="L1")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_tabular_identifier_two_valued_and_drop_columns(tmp_path: Path, fmt: str) -> None:
    path = write_table(tmp_path, fmt)
    data = load(path, label_prefix="lab_")
    assert data.feature_names == ["x", "smoker=yes", "grade=lo", "colour=blue", "colour=green",
                                  "colour=red"]
    assert any(n.startswith("dropped identifier-like column 'id' (25 distinct values in 25 ")
               for n in data.notices)
    assert data.n_attributes == 5 and data.encoding.binary == 2
    assert np.isnan(data.X[3, 3:]).all()  # a missing cell: NaN in every column of it
    dropped = load(path, label_prefix="lab_", drop_columns=("colour", "x"))
    assert dropped.feature_names == ["smoker=yes", "grade=lo"]
    chunks = list(iter_chunks(path, make_options(None, label_prefix="lab_",
                                                 drop_columns="colour,x"), 4))
    assert all(c.feature_names == dropped.feature_names for c in chunks)
    for bad, message in (("colour,nope", r"no column 'nope' in the file; expected some of "
                                         r"'id', 'x', 'smoker'"),
                         ("lab_b", r"'lab_b', which is a label")):
        with pytest.raises(DataFormatError, match=message):
            load(path, label_prefix="lab_", drop_columns=bad)
        with pytest.raises(DataFormatError, match=message):
            list(iter_chunks(path, make_options(None, label_prefix="lab_", drop_columns=bad), 4))


def test_drop_columns_in_svmlight_whole_and_chunked(tmp_path: Path) -> None:
    path = tmp_path / "d.svm"
    path.write_text("0 1:1 3:2\n1 2:1 4:5\n0,1 1:3 4:1\n")
    data = load(path, drop_columns="f3")
    assert data.feature_names == ["f1", "f2", "f4"] and data.n_attributes == 4
    np.testing.assert_array_equal(data.X.toarray(), [[1, 0, 0], [0, 1, 5], [3, 0, 1]])
    options = make_options(None, drop_columns="f3")
    chunks = list(iter_chunks(path, options, 2))
    assert all(c.feature_names == data.feature_names for c in chunks)
    # prediction with the model's names (which lack the dropped one): no first pass
    model = list(iter_chunks(path, options, 2, feature_names=data.feature_names,
                             with_labels=False))
    np.testing.assert_array_equal(np.vstack([c.X.toarray() for c in model]), data.X.toarray())
    with pytest.raises(DataFormatError, match=r"d\.svm: --drop-columns: no feature 'f9'.*'f1'"):
        load(path, drop_columns="f9")


# --- MEKA multi-target -----------------------------------------------------------------


def test_multi_target_labels_leave_out_the_most_frequent_value(tmp_path: Path) -> None:
    path = write_multitarget(tmp_path)
    data = load(path)
    assert data.label_names == ["class_x=A", "class_x=B", "class_x=C", "class_y=red",
                                "class_y=blue"]
    np.testing.assert_array_equal(data.Y.sum(axis=0), [8, 6, 4, 12, 10])
    assert data.feature_names == ["f1", "f2", "f3"]
    assert ("class_x: 4 values -> 3 labels; the most frequent value 'NEG' is the implicit "
            "negative") in data.notices
    assert any("'green' is the implicit negative" in n for n in data.notices)
    every = load(path, all_target_values=True)
    assert every.label_names == ["class_x=A", "class_x=B", "class_x=C", "class_x=NEG",
                                 "class_y=red", "class_y=green", "class_y=blue"]
    np.testing.assert_array_equal(every.Y.sum(axis=1), np.full(40, 2))  # one value each
    np.testing.assert_array_equal(every.Y[:, [0, 1, 2, 4, 6]], data.Y)


def test_two_valued_labels_not_0_1(tmp_path: Path) -> None:
    """{no,yes} stays one label named as the attribute (as before); another pair is one
    label `attribute=<positive>`."""
    path = tmp_path / "b.arff"
    path.write_text("@relation 'b: -C 2'\n@attribute spam {no,yes}\n@attribute side {L,R}\n"
                    "@attribute x numeric\n@data\nyes,L,1\nno,R,2\n")
    data = load(path)
    assert data.label_names == ["spam", "side=R"]
    np.testing.assert_array_equal(data.Y, [[1, 0], [0, 1]])


def test_a_missing_multi_target_value_is_an_error(tmp_path: Path) -> None:
    path = write_multitarget(tmp_path)
    lines = path.read_text().splitlines()
    lines[9] = "?," + lines[9].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"mt\.arff:10: label 'class_x' has a missing"):
        load(path)


@pytest.mark.parametrize("all_values", [False, True])
def test_multi_target_chunks_equal_the_whole_file(tmp_path: Path, all_values: bool) -> None:
    path = write_multitarget(tmp_path)
    full = load(path, all_target_values=all_values)
    chunked = ChunkedFile(path, make_options(None, all_target_values=all_values), 7)
    chunks = list(chunked)
    assert all(c.label_names == full.label_names for c in chunks)
    np.testing.assert_array_equal(np.vstack([c.Y for c in chunks]), full.Y)


def test_multi_target_chunks_take_the_labels_from_a_model_without_a_first_pass(
        tmp_path: Path) -> None:
    path = write_multitarget(tmp_path)
    full = load(path)
    chunked = ChunkedFile(path, None, 7, label_names=full.label_names)
    first = next(iter(chunked))
    assert chunked.n_rows is None  # nothing was read ahead
    assert first.label_names == full.label_names
    scanned = ChunkedFile(path, None, 7)
    next(iter(scanned))
    assert scanned.n_rows == 40  # without the names: one pass to count the values


# --- MEKA recorded splits ----------------------------------------------------------------


@pytest.mark.parametrize(("option", "rows"), [
    (" -split-number 30", 30), (" -split-percentage 66", 26), (" -split-percentage 50.5", 20),
    ("", None),
])
def test_meka_split_options(tmp_path: Path, option: str, rows: int | None) -> None:
    assert load(write_multitarget(tmp_path, option)).split_rows == rows


def test_meka_split_of_the_small_meka_file() -> None:
    assert load(DATA / "meka_first.arff").split_rows == 2  # 50% of 3 rows, rounded up


@pytest.mark.parametrize(("option", "message"), [
    (" -split-number 0", r"-split-number 0 is out of range; expected a whole number from 1 "
                         r"to 39 \(the file has 40 rows\)"),
    (" -split-number 40", r"-split-number 40 is out of range"),
    (" -split-number 12.5", r"-split-number 12\.5 is out of range"),
    (" -split-number", r"-split-number \(no value\) is out of range"),
    (" -split-percentage 0", r"-split-percentage 0 is out of range; expected a percentage"),
    (" -split-percentage 100", r"-split-percentage 100 is out of range"),
    (" -split-percentage abc", r"-split-percentage abc is out of range"),
    (" -split-percentage 1", r"-split-percentage 1 leaves 0 of the file's 40 rows"),
    (" -split-number 5 -split-percentage 50", r"more than once"),
])
def test_bad_meka_split_options(tmp_path: Path, option: str, message: str) -> None:
    path = write_multitarget(tmp_path, option)
    with pytest.raises(DataFormatError, match=rf"mt\.arff:1: @relation.*{message}"):
        load(path)


# --- missing optional dependencies -----------------------------------------------------


@pytest.mark.parametrize(("fmt", "hidden", "what"), [
    ("csv", "pandas", "reading CSV files"), ("tsv", "pandas", "reading TSV files"),
    ("jsonl", "pandas", "reading JSON lines files"),
    ("parquet", "pandas", "reading Parquet files"),
    ("parquet", "pyarrow", "reading Parquet files"),
])
def test_a_missing_tabular_dependency_is_one_line_naming_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, hidden: str,
        what: str) -> None:
    path = write_table(tmp_path, fmt)
    monkeypatch.setitem(sys.modules, hidden, None)
    message = rf"{what} needs the `tabular` extra \({hidden} is not installed\)"
    with pytest.raises(MissingExtraError, match=message):
        load(path, label_prefix="lab_")
    with pytest.raises(MissingExtraError, match=message):
        ChunkedFile(path, ReaderOptions(label_prefix="lab_"), 10)


# --- real files ------------------------------------------------------------------------


def test_real_meka_file_is_read_as_before() -> None:
    data = load(shared_data() / "meka" / "Music.arff")
    assert data.n_attributes == 71 == data.n_features and data.encoding.describe() == ""
    assert data.split_rows is None


@pytest.mark.slow
def test_real_sparse_mulan_file_keeps_its_0_1_attributes_as_they_are() -> None:
    data = load(shared_data() / "mulan" / "medical" / "medical-train.arff")
    assert data.n_attributes == data.n_features == 1449
    assert "=" not in data.feature_names[0] and data.encoding.describe() == ""


def test_arff_chunks_find_identifiers_in_a_first_pass_or_from_a_models_names(
        tmp_path: Path) -> None:
    path = write_protein(tmp_path)
    full = load(path)
    scanned = ChunkedFile(path, None, 8)
    assert next(iter(scanned)).feature_names == full.feature_names
    assert scanned.n_rows == 30  # the protein attribute's values were counted first
    predicting = ChunkedFile(path, None, 8, feature_names=full.feature_names,
                             with_labels=False)
    assert next(iter(predicting)).feature_names == full.feature_names
    assert predicting.n_rows is None  # the model's names said it: nothing read ahead
