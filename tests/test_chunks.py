"""`multitag.data.chunks`: chunks equal a whole-file load; errors name the line in the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.data import load
from multitag.data.chunks import ChunkedFile, iter_chunks
from multitag.data.registry import make_options
from multitag.exceptions import ConfigError, DataFormatError

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"


def _dense(m) -> np.ndarray:
    out = m.toarray() if sp.issparse(m) else np.asarray(m)
    return np.nan_to_num(out.astype(np.float64), nan=-999.0)


def _assert_same(chunks, full) -> None:
    assert sum(c.n_samples for c in chunks) == full.n_samples
    for chunk in chunks:
        assert chunk.feature_names == full.feature_names
        assert chunk.label_names == full.label_names
        assert chunk.is_sparse == full.is_sparse
    np.testing.assert_array_equal(np.vstack([_dense(c.X) for c in chunks]), _dense(full.X))
    np.testing.assert_array_equal(np.vstack([_dense(c.Y) for c in chunks]), _dense(full.Y))
    if full.texts is not None:
        assert [t for c in chunks for t in c.texts] == full.texts


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Larger files: CSV with a text column that is numeric in early rows, Parquet, XC, gz."""
    import pandas as pd
    from sklearn.datasets import dump_svmlight_file

    root = tmp_path_factory.mktemp("chunks")
    rng = np.random.default_rng(0)
    n = 230
    frame = pd.DataFrame({
        "x": rng.normal(size=n).round(3), "k": rng.integers(0, 4, n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "code": [str(i % 3) for i in range(150)] + ["z"] * (n - 150),
        "lab_a": rng.integers(0, 2, n), "lab_b": rng.integers(0, 2, n),
    })
    frame.loc[7, "x"] = np.nan
    frame.loc[11, "colour"] = None
    frame.to_csv(root / "table.csv", index=False)
    frame.to_parquet(root / "table.parquet", row_group_size=100)
    X = sp.random(n, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    Y = (rng.random((n, 5)) < 0.3).astype(int)
    dump_svmlight_file(X, Y, str(root / "plain.svm"), multilabel=True, zero_based=False)
    with open(root / "plain.svm", "rb") as src, gzip.open(root / "plain.svm.gz", "wb") as dst:
        dst.write(src.read())
    rows = (root / "plain.svm").read_text().splitlines()
    (root / "xc.txt").write_text(f"{n} 31 5\n" + "\n".join(rows) + "\n")
    prefix = {"label_prefix": "lab_"}
    return {name: (root / name, prefix if "table" in name else {})
            for name in ("table.csv", "table.parquet", "plain.svm", "plain.svm.gz", "xc.txt")}


SMALL = [("labels.csv", {"label_prefix": "lab_"}), ("tags.tsv", {"tags_column": "tags"}),
         ("docs.jsonl", {}), ("xc_header.txt", {}), ("multi.svm", {}), ("small.arff", {}),
         ("sparse-train.arff", {}), ("meka_first.arff", {}), ("nominal_values.arff", {})]


@pytest.mark.parametrize("name,options", SMALL)
@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_chunks_equal_a_full_load_small_files(name, options, chunk_rows) -> None:
    path = DATA / name
    chunks = list(iter_chunks(path, make_options(None, **options), chunk_rows))
    assert all(c.n_samples <= chunk_rows for c in chunks)
    _assert_same(chunks, load(path, **options))


@pytest.mark.parametrize("name", ["table.csv", "table.parquet", "plain.svm", "plain.svm.gz",
                                  "xc.txt"])
@pytest.mark.parametrize("chunk_rows", [7, 64])
def test_chunks_equal_a_full_load_generated(generated, name, chunk_rows) -> None:
    path, options = generated[name]
    chunked = ChunkedFile(path, make_options(None, **options), chunk_rows)
    chunks = list(chunked)
    assert len(chunks) > 1 and chunked.n_rows == 230
    _assert_same(chunks, load(path, **options))


@pytest.mark.parametrize("name", ["table.csv", "table.parquet", "xc.txt", "plain.svm.gz"])
def test_chunks_read_in_a_shuffled_order_hold_the_same_rows(generated, name) -> None:
    path, options = generated[name]
    chunked = ChunkedFile(path, make_options(None, **options), 16)
    in_order = list(chunked)
    order = chunked.chunk_order(np.random.default_rng(3))
    assert sorted(order) == list(range(len(in_order)))
    assert (order == list(range(len(in_order)))) == (not chunked.seekable)
    shuffled = dict(chunked.chunks(order))
    starts = np.cumsum([0] + [c.n_samples for c in in_order[:-1]])
    for start, chunk in zip(starts, in_order, strict=True):
        np.testing.assert_array_equal(_dense(shuffled[int(start)].X), _dense(chunk.X))


def _svm_rows(n: int, bad_row: int, bad: str) -> str:
    rows = [f"{i % 3} 0:1 {1 + i % 4}:0.5" for i in range(n)]
    rows[bad_row] = bad
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("bad,expected", [
    ("1 2:1 9:1", "feature index 9 out of range"),
    ("7 2:1", "label id 7 out of range"),
    ("1 2:x", "expected 'label,label index:value"),
])
def test_a_bad_row_in_a_later_chunk_names_its_line(tmp_path, bad, expected) -> None:
    path = tmp_path / "data.txt"
    path.write_text("300 6 3\n" + _svm_rows(300, 250, bad))
    with pytest.raises(DataFormatError, match=rf"data.txt:252: {expected}"):
        list(iter_chunks(path, chunk_rows=50))


def test_svmlight_without_header_takes_its_width_from_model_feature_names(tmp_path) -> None:
    path = tmp_path / "plain.svm"
    path.write_text(_svm_rows(20, 19, "1 3:1 6:2"))
    names = [f"f{i}" for i in range(8)]
    chunks = list(iter_chunks(path, chunk_rows=6, feature_names=names, with_labels=False))
    assert [c.n_samples for c in chunks] == [6, 6, 6, 2]
    assert all(c.feature_names == names and c.n_labels == 0 for c in chunks)
    with pytest.raises(DataFormatError,
                       match=r"plain.svm:20: feature index 6 out of range; expected 5 "):
        list(iter_chunks(path, chunk_rows=6, feature_names=names[:5], with_labels=False))


def test_csv_jsonl_and_arff_errors_in_later_chunks_name_the_line(tmp_path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("a,lab\n" + "".join(f"{i},1\n" for i in range(40)) + "1e400,0\n")
    with pytest.raises(DataFormatError, match=r"t.csv:42: feature 'a' is infinite"):
        list(iter_chunks(csv_path, make_options(None, label_columns="lab"), 10))
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "labels": ["x"]}\n' * 30 + "{oops\n")
    with pytest.raises(DataFormatError, match=r"d.jsonl:31: not valid JSON"):
        list(iter_chunks(jsonl, chunk_rows=8))
    arff = tmp_path / "m.arff"
    rows = "".join("0,1.0\n" for _ in range(30))
    arff.write_text("@relation 'm: -C 1'\n@attribute y {0,1}\n@attribute x numeric\n@data\n"
                    + rows + "0,2.0,7\n")
    with pytest.raises(DataFormatError, match=r"m.arff:35: row has 3 values; expected 2"):
        list(iter_chunks(arff, chunk_rows=8))


def test_bad_chunk_size_and_unknown_order_are_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="`chunk_rows` must be a positive integer; got 0"):
        ChunkedFile(DATA / "multi.svm", chunk_rows=0)
    with pytest.raises(ConfigError, match="iterate the file once"):
        list(ChunkedFile(DATA / "multi.svm", chunk_rows=2).chunks([0]))


@pytest.mark.parametrize("chunk_rows", [1, 2, 10])
def test_csv_quoted_value_over_lines_is_refused_wherever_the_chunk_ends(tmp_path,
                                                                        chunk_rows) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,note,lab\n1,"x",1\n2,"multi\nline",0\n3,"y",1\n')
    assert load(path, label_columns="lab").n_samples == 3  # a whole-file load reads it
    with pytest.raises(DataFormatError, match=r"q.csv:3: a quoted value runs over several"):
        list(iter_chunks(path, make_options(None, label_columns="lab"), chunk_rows))


def _error(read) -> str:
    """The message `read()` fails with (without the directory), or 'no error'."""
    try:
        read()
    except DataFormatError as err:
        return str(err).replace(f"{BAD}/", "")
    return "no error"


def _bad_corpus() -> list[tuple[str, list[str]]]:
    from test_bad_inputs import BAD_DATA

    return [(name, options) for name, (options, _, _) in sorted(BAD_DATA.items())]


@pytest.mark.parametrize(("name", "options"), _bad_corpus())
def test_every_bad_file_fails_streamed_as_it_fails_whole(name, options) -> None:
    """One row a chunk, the error is `load`'s; reading for prediction (labels left out) gives
    it too, except for the files whose only problem is in their labels."""
    from test_bad_inputs import LABELS_ONLY

    reader = make_options(None, label_columns=options[1]) if options else make_options(None)
    whole = _error(lambda: load(BAD / name, reader))
    assert whole != "no error"
    assert _error(lambda: list(ChunkedFile(BAD / name, reader, 1))) == whole
    unlabelled = _error(lambda: list(ChunkedFile(BAD / name, reader, 1, with_labels=False)))
    assert unlabelled == ("no error" if name in LABELS_ONLY else whole)


def test_rows_one_field_longer_than_the_header_are_an_error(tmp_path) -> None:
    """pandas would silently take the first field of such rows for an index."""
    options = make_options(None, label_columns="lab")
    every = tmp_path / "every.csv"
    every.write_text("a,b,lab\n" + "".join(f"{i},2,3,1\n" for i in range(25)))
    later = tmp_path / "later.csv"
    later.write_text("a,b,lab\n" + "".join(f"{i},2,1\n" if i < 10 else f"{i},2,3,1\n"
                                           for i in range(25)))
    for path, line in ((every, 2), (later, 12)):
        message = rf"{path.name}:{line}: row has 4 fields; expected 3 \(one per header column\)"
        with pytest.raises(DataFormatError, match=message):
            load(path, options)
        with pytest.raises(DataFormatError, match=message):
            list(iter_chunks(path, options, 10))


def test_a_stray_word_in_a_later_chunk_is_found_as_in_a_whole_load(tmp_path) -> None:
    """Whether a text column is numbers with a stray word depends on all its values."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,lab\n" + "".join(f"{i},{'four' if i == 33 else i},1\n"
                                           for i in range(40)))
    message = r"t.csv:35: column 'b': expected a number or an empty cell; got 'four'"
    options = make_options(None, label_columns="lab")
    with pytest.raises(DataFormatError, match=message):
        load(path, options)
    for with_labels in (True, False):
        with pytest.raises(DataFormatError, match=message):
            list(iter_chunks(path, options, 10, with_labels=with_labels))


def test_one_based_xc_file_reads_with_the_names_of_a_model_trained_on_it(tmp_path) -> None:
    path = tmp_path / "one.xc"
    path.write_text("3 4 2\n0 1:1 4:2\n1 2:1\n0,1 3:0.5 4:1\n")
    full = load(path)
    assert full.feature_names == ["f1", "f2", "f3", "f4"]
    chunks = list(iter_chunks(path, chunk_rows=2, feature_names=full.feature_names,
                              with_labels=False))
    assert all(c.feature_names == full.feature_names for c in chunks)
    np.testing.assert_array_equal(np.vstack([_dense(c.X) for c in chunks]), _dense(full.X))


def test_labels_of_any_shape_are_left_unread_for_prediction(tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "labels": {"x": 1}}\n{"text": "b", "labels": ["y"]}\n')
    with pytest.raises(DataFormatError, match=r"d.jsonl:1: field 'labels' must be a list"):
        list(iter_chunks(path, chunk_rows=1))
    chunks = list(iter_chunks(path, chunk_rows=1, with_labels=False))
    assert [c.texts for c in chunks] == [["a"], ["b"]] and chunks[0].n_labels == 0


def test_tags_that_are_neither_text_nor_lists_name_the_file(tmp_path) -> None:
    import pandas as pd

    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "tags": [{"x": 1}, {"y": 2}]}).to_parquet(path)
    options = make_options(None, tags_column="tags")
    with pytest.raises(DataFormatError, match=r"t.parquet: tags must be text or a list"):
        load(path, options)
    with pytest.raises(DataFormatError, match=r"t.parquet: tags must be text or a list"):
        list(iter_chunks(path, options, 1))
    assert [c.n_samples for c in iter_chunks(path, options, 1, with_labels=False)] == [1, 1]


# --- the encodings that depend on the whole file ------------------------------------------

def _encoded_file(root: Path, name: str) -> tuple[Path, dict]:
    from encoding_files import write_multitarget, write_protein, write_table

    tables = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl", "parquet": "parquet",
              "csv-drop": "csv"}
    if name in tables:
        options = {"label_prefix": "lab_"}
        if name == "csv-drop":
            options["drop_columns"] = "x,grade"
        return write_table(root, tables[name]), options
    if name.startswith("multi-target"):
        return write_multitarget(root), {"all_target_values": name.endswith("all")}
    options = {"drop_columns": "len,yn2"} if name == "arff-drop" else {}
    return write_protein(root, sparse=name.endswith("sparse")), options


ENCODED = ["protein", "protein-sparse", "multi-target", "multi-target-all", "arff-drop", "csv",
           "tsv", "jsonl", "parquet", "csv-drop"]


@pytest.mark.parametrize("name", ENCODED)
@pytest.mark.parametrize("chunk_rows", [1, 6, 100])
def test_chunks_equal_a_full_load_with_identifiers_two_valued_and_multi_target(
        tmp_path, name, chunk_rows) -> None:
    """Identifiers dropped, two-valued nominals as one column, the implicit negative of a
    multi-target label: decided over the whole file, also in chunks (and for prediction)."""
    path, options = _encoded_file(tmp_path, name)
    full = load(path, **options)
    reader = make_options(None, **options)
    chunks = list(iter_chunks(path, reader, chunk_rows))
    _assert_same(chunks, full)
    assert all(c.n_attributes == full.n_attributes for c in chunks)
    assert all(c.encoding == full.encoding for c in chunks)
    unlabelled = list(iter_chunks(path, reader, chunk_rows, with_labels=False))
    assert all(c.feature_names == full.feature_names for c in unlabelled)
    from_model = list(iter_chunks(path, reader, chunk_rows, with_labels=False,
                                  feature_names=full.feature_names))
    assert all(c.feature_names == full.feature_names for c in from_model)
