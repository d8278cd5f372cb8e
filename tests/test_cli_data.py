"""`multitag data info` / `data split-report`: tables, JSON, and exit code 2 on bad input."""

from __future__ import annotations

import json

import pytest

from data_helpers import BAD, DATA
from multitag.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_info_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "info", str(DATA / "small.arff"))
    assert code == 0
    for word in ("samples", "label cardinality", "distinct label sets", "rarest labels"):
        assert word in out
    assert "dropped string attribute 'id'" in out


def test_info_json_with_reader_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "info", str(DATA / "labels.csv"),
                        "--label-columns", "lab_a,lab_b", "--text-column", "note", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["n_samples"] == 4 and info["n_labels"] == 2 and info["has_text"]


def test_info_tags_column(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "info", str(DATA / "tags.tsv"), "--tags-column", "tags",
                        "--tag-sep", "|", "--json")
    assert code == 0 and json.loads(out)["n_labels"] == 2


def test_split_report_with_the_files_own_test_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "split-report", str(DATA / "sparse-train.arff"),
                        "--test", str(DATA / "sparse-train.arff"), "--valid-size", "0",
                        "--json")
    assert code == 0
    report = json.loads(out)
    assert report["parts"] == ["train", "test"] and report["sizes"] == [5, 5]


def test_split_report_table_and_folds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "split-report", str(DATA / "multi.svm"), "--folds", "2",
                        "--method", "random", "--seed", "1")
    assert code == 0 and "fold1" in out and "fold2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "info", str(BAD / "too_many_values.arff")], "too_many_values.arff:6: row has"),
        (["data", "info", str(BAD / "no_labels.csv"), "--label-columns", "zz"],
         "no_labels.csv:1: no label column"),
        (["data", "info", str(DATA / "labels.csv"), "--format", "xls"], "unknown format 'xls'"),
        (["data", "split-report", str(DATA / "small.arff"), "--method", "magic"],
         "`method` must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "data", "info", str(DATA / "nope.arff"))
    assert code == 2 and "nope.arff" in err


# --- encoded features, --drop-columns, --all-target-values, a missing extra ---------------

def test_info_shows_attributes_and_encoded_features(capsys: pytest.CaptureFixture[str],
                                                    tmp_path) -> None:
    from encoding_files import write_protein

    path = write_protein(tmp_path)
    code, out, _ = _run(capsys, "data", "info", str(path))
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    assert ("11 attributes -> 12 encoded features (1 nominal one-hot; 7 two-valued (e.g. "
            "NO/YES) -> one column each; 1 identifier dropped)") in text
    assert "dropped identifier-like attribute 'protein' (28 distinct values in 30 rows)" in text
    code, out, _ = _run(capsys, "data", "info", str(path), "--drop-columns", "len", "--json")
    info = json.loads(out)
    assert code == 0 and info["n_attributes"] == 11 and info["n_features"] == 11
    assert info["features"].endswith("1 identifier dropped; 1 dropped by --drop-columns)")


def test_info_plain_numeric_file_keeps_the_short_features_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "info", str(DATA / "meka_first.arff"), "--json")
    assert code == 0 and json.loads(out)["features"] == "3"


def test_drop_columns_unknown_name_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "data", "info", str(DATA / "labels.csv"), "--label-prefix",
                        "lab_", "--drop-columns", "note,colur")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "labels.csv: --drop-columns: no column 'colur' in the file; expected some of" in err
    code, out, _ = _run(capsys, "data", "info", str(DATA / "labels.csv"), "--label-prefix",
                        "lab_", "--drop-columns", "note", "--json")
    assert code == 0 and json.loads(out)["n_features"] == 5


def test_all_target_values_flag(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from encoding_files import write_multitarget

    path = write_multitarget(tmp_path, " -split-number 30")
    code, out, _ = _run(capsys, "data", "info", str(path), "--json")
    assert code == 0 and json.loads(out)["n_labels"] == 5
    code, out, _ = _run(capsys, "data", "info", str(path), "--all-target-values", "--json")
    assert code == 0 and json.loads(out)["n_labels"] == 7


def test_a_missing_extra_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    code, _, err = _run(capsys, "data", "info", str(DATA / "labels.csv"), "--label-prefix",
                        "lab_")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "reading CSV files needs the `tabular` extra (pandas is not installed)" in err
