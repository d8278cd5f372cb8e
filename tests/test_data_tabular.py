"""CSV, TSV, Parquet and JSON lines; format detection and reader options."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_helpers import BAD, DATA
from multitag.data import ReaderOptions, detect_format, load
from multitag.exceptions import ConfigError, DataFormatError


def test_csv_label_prefix_missing_value_one_hot_and_dropped_column() -> None:
    data = load(DATA / "labels.csv", label_prefix="lab_", drop_columns="note")
    assert data.label_names == ["lab_a", "lab_b"]
    assert data.feature_names == ["id", "size", "colour=blue", "colour=green", "colour=red"]
    assert data.has_missing and np.isnan(data.X[2, 1])
    np.testing.assert_array_equal(data.Y, [[1, 0], [0, 1], [1, 1], [0, 0]])
    assert data.n_attributes == 4 and data.encoding.user_dropped == 1
    # 4 rows are too few to call 'note' an identifier: its 4 values are one-hot
    kept = load(DATA / "labels.csv", label_prefix="lab_")
    assert kept.feature_names[-4:] == ["note=first row", "note=fourth row", "note=second row",
                                       "note=third row"]


def test_csv_label_columns_by_name_and_text_column() -> None:
    data = load(DATA / "labels.csv", label_columns=("lab_b",), text_column="note")
    assert data.label_names == ["lab_b"] and "lab_a" in data.feature_names
    assert data.texts == ["first row", "second row", "third row", "fourth row"]


def test_tsv_tags_column() -> None:
    data = load(DATA / "tags.tsv", tags_column="tags")
    assert data.label_names == ["news", "sports"] and data.feature_names == ["x1", "x2"]
    np.testing.assert_array_equal(data.Y, [[1, 1], [0, 0], [1, 0]])


def test_tag_separator_option(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,tags\n1,a;b\n2,b\n")
    data = load(path, tags_column="tags", tag_sep=";")
    assert data.label_names == ["a", "b"]


def test_jsonl_text_and_label_lists() -> None:
    data = load(DATA / "docs.jsonl")
    assert data.label_names == ["economy", "politics", "sports"]
    assert data.n_features == 0 and data.texts is not None and len(data.texts) == 4
    np.testing.assert_array_equal(data.Y[3], [0, 0, 0])


def test_parquet_round_trip(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0, 1, 0], "lab_x": [1, 0, 1],
                          "lab_y": [True, False, True]})
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    data = load(path, label_prefix="lab_")
    assert data.feature_names == ["a", "b"] and data.label_names == ["lab_x", "lab_y"]
    np.testing.assert_array_equal(data.Y[:, 1], [1, 0, 1])


def test_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv.gz"
    path.write_bytes(gzip.compress((DATA / "labels.csv").read_bytes()))
    assert load(path, label_prefix="lab_").n_samples == 4


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("small.arff", "arff"), ("multi.svm", "svmlight"), ("xc_header.txt", "svmlight"),
     ("labels.csv", "csv"), ("tags.tsv", "tsv"), ("docs.jsonl", "jsonl")],
)
def test_format_detection(name: str, fmt: str) -> None:
    assert detect_format(DATA / name) == fmt


def test_format_sniffed_from_content(tmp_path: Path) -> None:
    for text, fmt in [("@relation r\n", "arff"), ('{"text": "a"}\n', "jsonl"),
                      ("1,2 3:1\n", "svmlight"), ("a,b\n1,2\n", "csv"), ("a\tb\n", "tsv")]:
        path = tmp_path / "noext"
        path.write_text(text)
        assert detect_format(path) == fmt


def test_unknown_format_and_option_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown format 'xls'; valid formats: arff"):
        load(DATA / "labels.csv", format="xls")
    with pytest.raises(ConfigError, match=r"unknown reader option.*labelz"):
        load(DATA / "labels.csv", labelz="a")
    assert ReaderOptions(label_columns="a, b").label_columns == ("a", "b")


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("no_labels.csv", {"label_columns": ("lab",)},
         r"no_labels\.csv:1: no label column\(s\) 'lab'; expected some of the columns a, b, c"),
        ("no_labels.csv", {}, r"which columns are labels"),
        ("no_labels.csv", {"label_prefix": "y_"}, r"no column name starts with 'y_'"),
        ("inf_feature.csv", {"label_columns": ("lab",)},
         r"inf_feature\.csv:3: feature 'b' is infinite"),
        ("bad_json.jsonl", {}, r"bad_json\.jsonl:2: not valid JSON"),
    ],
)
def test_malformed_tabular_files(name: str, options: dict, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        load(BAD / name, **options)


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("a,lab\n1,2\n", {"label_columns": ("lab",)}, r":2: label column 'lab' has 2"),
        ("a,lab\n1,yes\n", {"label_columns": ("lab",)}, r":2: label column 'lab' has 'yes'"),
        ("a,lab\n", {"label_columns": ("lab",)}, r"no data rows"),
        ("", {"label_columns": ("lab",)}, r"the file is empty"),
        ('a,lab\n1,0\n2,"1\n', {"label_columns": ("lab",)}, r"not a valid CSV file"),
    ],
)
def test_more_malformed_csv(tmp_path: Path, text: str, options: dict, message: str) -> None:
    path = tmp_path / "case.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        load(path, **options)


def test_missing_file_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        load(DATA / "does-not-exist.csv")


def test_importing_the_data_package_stays_cheap() -> None:
    import subprocess
    import sys

    heavy = "('torch', 'pandas', 'pyarrow', 'sklearn')"
    code = f"import sys, multitag.data; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
