"""ARFF reader: Mulan (+XML) and MEKA files, dense and sparse rows, every malformed case."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_helpers import BAD, DATA, MULAN_SHAPES, copy_with_xml, shared_data
from multitag.data import load
from multitag.data.arff.labels import find_labels_xml
from multitag.data.arff.reader import read_arff
from multitag.exceptions import DataFormatError


def test_small_mulan_file_quoted_names_nominal_missing_and_labels_in_the_middle() -> None:
    data = load(DATA / "small.arff")
    assert data.label_names == ["mood label", "second label"]
    assert data.feature_names == [
        "tempo (bpm)", "colour=red", "colour=green", "colour=sky blue", "flag", "loud"
    ]
    np.testing.assert_array_equal(data.Y, [[1, 0], [0, 1], [1, 1], [0, 0]])
    assert data.has_missing
    X = data.X
    assert X[0, 0] == pytest.approx(120.5) and np.isnan(X[2, 0])
    np.testing.assert_array_equal(X[1, 1:4], [0, 0, 1])  # 'sky blue' one-hot
    assert np.isnan(X[3, 1:4]).all()  # a missing nominal: NaN in all its columns
    assert X[2, 5] == pytest.approx(0.1)
    assert any("dropped string attribute 'id'" in n for n in data.notices)
    assert any("missing values" in n for n in data.notices)


def test_sparse_rows_xml_found_by_stripping_train_and_nested_labels() -> None:
    data = load(DATA / "sparse-train.arff")
    assert data.is_sparse and data.X.shape == (5, 4)
    assert data.label_names == ["lab_a", "lab_b", "lab_c"]
    np.testing.assert_array_equal(data.X.toarray()[0], [1, 0, 3.5, 0])
    np.testing.assert_array_equal(data.Y_dense()[1], [0, 1, 1])
    assert data.X.dtype == np.float32


def test_find_labels_xml_strips_split_words() -> None:
    assert find_labels_xml(DATA / "sparse-train.arff") == DATA / "sparse.xml"
    assert find_labels_xml(DATA / "small.arff") == DATA / "small.xml"


@pytest.mark.parametrize(
    ("name", "labels", "features"),
    [("meka_first.arff", ["y1", "y2"], ["x1", "x2", "x3"]),
     ("meka_last.arff", ["y1", "y2"], ["x1", "x2"])],
)
def test_meka_label_count_in_relation(name: str, labels: list[str], features: list[str]) -> None:
    data = load(DATA / name)
    assert data.label_names == labels and data.feature_names == features


def test_nominal_text_values_yes_no_labels_and_dropped_date() -> None:
    data = load(DATA / "nominal_values.arff")
    assert data.feature_names == ["size=small", "size=medium", "size=large", "weight"]
    np.testing.assert_array_equal(data.Y.ravel(), [0, 1, 1])
    np.testing.assert_array_equal(data.X[1, :3], [0, 0, 1])
    assert any("dropped date attribute 'when'" in n for n in data.notices)


def test_sparse_rows_with_nominal_values_omitted_means_the_first_value(tmp_path: Path) -> None:
    path = tmp_path / "nominal.arff"
    path.write_text(
        "@relation 'x: -C 1'\n@attribute y {0,1}\n@attribute c {a,b,c}\n@attribute v numeric\n"
        "@data\n{0 1,1 b,2 3}\n{1 c}\n{1 ?, 2 1}\n{}\n"
    )
    data = load(path)
    assert data.is_sparse and data.feature_names == ["c=a", "c=b", "c=c", "v"]
    X = data.X.toarray()
    np.testing.assert_array_equal(X[[0, 1, 3]], [[0, 1, 0, 3], [0, 0, 1, 0], [1, 0, 0, 0]])
    assert np.isnan(X[2, :3]).all() and data.has_missing


def test_string_attribute_as_text_column(tmp_path: Path) -> None:
    path = tmp_path / "docs.arff"
    path.write_text(
        "@relation 'docs: -C 2'\n@attribute sports {0,1}\n@attribute news {0,1}\n"
        "@attribute doc string\n@attribute length numeric\n@data\n"
        "1,0,'the match, it was great',4\n0,1,\"budget passed\",2\n0,0,?,0\n"
    )
    data = load(path, text_column="doc")
    assert data.texts == ["the match, it was great", "budget passed", ""]
    assert data.feature_names == ["length"]
    with pytest.raises(DataFormatError, match="no attribute 'body' for --text-column"):
        load(path, text_column="body")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_compressed_files_are_read_transparently(tmp_path: Path, kind: str) -> None:
    raw = (DATA / "meka_first.arff").read_bytes()
    packed = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](raw)
    path = tmp_path / f"meka_first.arff.{kind}"
    path.write_bytes(packed)
    data = load(path)
    assert data.name == "meka_first" and data.label_names == ["y1", "y2"]
    np.testing.assert_array_equal(data.X, load(DATA / "meka_first.arff").X)


def test_explicit_labels_xml_and_label_options(tmp_path: Path) -> None:
    path = tmp_path / "other.arff"
    shutil.copyfile(DATA / "small.arff", path)
    by_xml = load(path, labels_xml=DATA / "small.xml")
    assert by_xml.label_names == ["mood label", "second label"]
    by_name = load(path, label_columns=("flag",))
    assert by_name.label_names == ["flag"] and "mood label" in by_name.feature_names
    with pytest.raises(DataFormatError, match="cannot tell which attributes are labels"):
        load(path)


def test_bulk_and_row_by_row_paths_agree(tmp_path: Path) -> None:
    fast = load(DATA / "sparse-train.arff")
    text = (DATA / "sparse-train.arff").read_text().replace("{1 2, 5 1, 6 1}", "{1 2, 5 1, 6 1} %")
    slow_path = copy_with_xml(DATA / "sparse-train.arff", tmp_path)
    slow_path.write_text(text)
    slow = load(slow_path)
    assert (fast.X != slow.X).nnz == 0
    np.testing.assert_array_equal(fast.Y_dense(), slow.Y_dense())


def test_windows_line_endings(tmp_path: Path) -> None:
    path = copy_with_xml(DATA / "small.arff", tmp_path)
    path.write_bytes((DATA / "small.arff").read_bytes().replace(b"\n", b"\r\n"))
    again = load(path)
    np.testing.assert_array_equal(again.Y, load(DATA / "small.arff").Y)
    assert again.feature_names == load(DATA / "small.arff").feature_names


def test_latin1_file_is_read_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "latin.arff"
    path.write_bytes(
        "@relation 'x: -C 1'\n@attribute y {0,1}\n@attribute caf\xe9 numeric\n@data\n1,2\n"
        .encode("latin-1")
    )
    data = load(path)
    assert data.feature_names == ["café"] and any("Latin-1" in n for n in data.notices)


BAD_CASES = [
    ("unknown_type.arff", r"unknown_type\.arff:4: unknown attribute type 'complex'"),
    ("too_many_values.arff", r"too_many_values\.arff:6: row has 3 values; expected 2"),
    ("label_not_01.arff", r"label_not_01\.arff:7: label 'y1' has 2; expected 0 or 1"),
    ("sparse_index.arff", r"sparse_index\.arff:7: index 7 out of range; expected 0 to 2"),
    ("xml_unknown_label.arff",
     r"xml_unknown_label\.xml:4: label 'not_there' is not an attribute of xml_unknown_label"),
    ("empty.arff", r"empty\.arff: the file is empty"),
    ("inf_feature.arff", r"inf_feature\.arff:6: a feature value is infinite"),
]


@pytest.mark.parametrize(("name", "message"), BAD_CASES)
def test_malformed_files_name_file_line_and_expectation(name: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        load(BAD / name)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("@attribute y {0,1}\n@data\n1\n", r":1: .*-C 5"),
        ("@attribute y {0,1}\n@attribute x numeric\n@data\n1,abc\n", r":5: .*expected a number"),
        ("@attribute y {0,1}\n@attribute x {a,b}\n@data\n1,c\n", r":5: value 'c' of attribute"),
        ("@attribute y {0,1}\n@attribute x numeric\n@data\n{0 1,0 1}\n", r":5: index 0 appears"),
        ("@attribute y {0,1}\n@attribute y numeric\n@data\n1,1\n", r":3: attribute 'y' is"),
        ("@attribute y {0,1}\n@attribute x numeric\n", r"no @data line"),
        ("@attribute y {0,1}\n@attribute x numeric\n@data\n", r"no data rows"),
        ("@attribute y string\n@attribute x numeric\n@data\na,1\n", r":2: label attribute 'y'"),
        ("@attribute y {0,1}\n@attribute x numeric\n@data\n?,1\n", r":5: label 'y' has a missing"),
        ("@attribute y {0,1}\n@attribute x relational\n@data\n1,1\n", r"relational"),
        ("@attribute y {0,1}\n@attribute 'x numeric\n@data\n1,1\n", r":3: unterminated"),
        ("hello\n", r":2: expected @relation"),
    ],
)
def test_more_malformed_headers_and_rows(tmp_path: Path, body: str, message: str) -> None:
    relation = "@relation 'r: -C 5'\n" if "-C 5" in message else "@relation 'r: -C 1'\n"
    path = tmp_path / "case.arff"
    path.write_text(relation + body)
    with pytest.raises(DataFormatError, match=message):
        read_arff(path)


# --- the real benchmark files --------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MULAN_SHAPES))
def test_mulan_datasets_load_with_published_shapes(name: str) -> None:
    stem, n_train, n_test, n_features, n_labels, sparse = MULAN_SHAPES[name]
    folder = shared_data() / "mulan" / name
    for part, rows in (("train", n_train), ("test", n_test)):
        data = load(folder / f"{stem}-{part}.arff")
        assert data.X.shape == (rows, n_features)
        assert data.n_labels == n_labels and data.is_sparse == sparse
        assert data.Y_dense().sum(axis=1).max() >= 1


def test_meka_music_loads_with_labels_first() -> None:
    data = load(shared_data() / "meka" / "Music.arff")
    assert data.X.shape == (592, 71) and data.n_labels == 6
    assert data.label_names[0] == "amazed-suprised"
    assert any("-C in @relation" in n for n in data.notices)


def test_delicious_label_with_backslash_quote_is_matched() -> None:
    data = load(shared_data() / "mulan" / "delicious" / "delicious-test.arff")
    assert "TAG_m\\'usica" in data.label_names or "TAG_m'usica" in data.label_names


# --- fuzzing -------------------------------------------------------------------------------

def _load_or_format_error(path: Path) -> None:
    try:
        data = read_arff(path)
    except DataFormatError:
        return
    assert data.n_samples > 0
    assert isinstance(data.X, np.ndarray) or sp.issparse(data.X)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.arff"
        path.write_bytes(payload)
        _load_or_format_error(path)


_SEEDS = [DATA / "small.arff", DATA / "sparse-train.arff", DATA / "nominal_values.arff",
          DATA / "meka_first.arff"]
_INTERESTING = [*list(",{}'\"%?@\n \t0123456789.-eE"), "nan", "inf", "1e999", "{0,1}", "\\"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(
        st.tuples(st.sampled_from(["insert", "delete", "replace", "dupline"]),
                  st.floats(0, 1), st.sampled_from(_INTERESTING)),
        min_size=1, max_size=4,
    ),
)
def test_fuzz_mutated_valid_files(seed: Path, edits: list[tuple[str, float, str]]) -> None:
    text = seed.read_text()
    for op, where, piece in edits:
        i = int(where * len(text))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + len(piece):]
        elif op == "replace":
            text = text[:i] + piece + text[i + 1:]
        else:
            lines = text.split("\n")
            k = int(where * (len(lines) - 1))
            text = "\n".join([*lines[:k], lines[k], *lines[k:]])
    with tempfile.TemporaryDirectory() as tmp:
        path = copy_with_xml(seed, Path(tmp))
        path.write_text(text)
        _load_or_format_error(path)


def test_meka_header_beats_an_unrelated_lone_xml_but_a_lone_xml_still_serves(
        tmp_path: Path) -> None:
    """The only XML of a folder is a guess; `-C n` in the file's own header is its word."""
    from multitag.data import load

    body = "@attribute a {0,1}\n@attribute b {0,1}\n@attribute x numeric\n@data\n1,0,0.5\n0,1,1.5\n"
    (tmp_path / "other.xml").write_text('<labels><label name="b"/></labels>')
    meka = tmp_path / "meka.arff"
    meka.write_text("@relation 'm: -C 2'\n" + body)
    assert load(meka).label_names == ["a", "b"]
    plain = tmp_path / "plain.arff"
    plain.write_text("@relation plain\n" + body)
    assert load(plain).label_names == ["b"]
