"""Reports: every file written, valid PNGs, self-contained HTML, atomic replacement, the CLI."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError
from multitag.options import TrainOptions
from multitag.pipeline.fit import train as train_model
from multitag.report import FIGURES, HTML, MARKDOWN, build_report
from multitag.report.document import md_escape

LABELS = ["rock", "jazz|fusion", "_ambient", "pop", "never"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _synthetic(n: int, seed: int) -> Dataset:
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=n, n_features=10, n_classes=len(LABELS),
                                          n_labels=2, random_state=seed)
    Y[:, -1] = 0  # one label never occurs: the report must say so, not crash
    return Dataset(X=X.astype(np.float32), Y=Y.astype(np.uint8),
                   feature_names=[f"f{j}" for j in range(10)], label_names=LABELS,
                   name=f"synthetic-{seed}")


@pytest.fixture(scope="module")
def bundle():
    return train_model(_synthetic(200, 1), TrainOptions(hidden=(8,), epochs=3)).bundle


@pytest.fixture(scope="module")
def built(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "report"
    return build_report(bundle, _synthetic(120, 2), out)


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_every_file_is_written(built) -> None:
    names = {p.name for p in built.out_dir.iterdir()}
    assert names == {MARKDOWN, HTML, *FIGURES}
    assert all(p.is_file() for p in built.paths)
    assert not [p for p in built.out_dir.parent.iterdir() if p.name.startswith(".")]


def test_pngs_are_valid_and_sensibly_sized(built) -> None:
    assert len(built.images) == len(FIGURES)
    for path in built.images:
        width, height = _png_size(path)
        assert 300 <= width <= 2500 and 200 <= height <= 2500, (path.name, width, height)
        assert path.stat().st_size > 5_000


def test_html_is_self_contained(built) -> None:
    text = built.html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.IGNORECASE)
    assert "<link" not in text and "<script" not in text
    assert text.count('src="data:image/png;base64,') == len(FIGURES)
    assert "jazz|fusion" in text


def test_markdown_mentions_every_label_and_metric(built) -> None:
    text = built.markdown.read_text(encoding="utf-8")
    for name in LABELS:
        assert md_escape(name) in text
    for figure in FIGURES:
        assert f"]({figure})" in text
    assert "micro_f1" in text and "Conventions" in text
    assert "No positive row (1" in text  # the label that never occurs is named


def test_many_labels_show_top_and_bottom(tmp_path) -> None:
    from multitag.metrics.evaluation import LabelRow
    from multitag.report import plots

    rows = [LabelRow(f"label {j}", support=j + 1, predicted=j, precision=0.5, recall=0.5,
                     f1=j / 99, auc=None) for j in range(100)]
    caption = plots.f1_bars(rows, tmp_path / "f1.png")
    assert "top 20 and bottom 20 of 100" in caption
    Y = (np.random.default_rng(0).random((60, 80)) < 0.2).astype(np.uint8)
    Y[:, 3] = 0  # regression: a label that never occurs once took a top-50 place (uint wrap)
    caption = plots.cooccurrence(Y, [f"l{j}" for j in range(80)], tmp_path / "co.png")
    assert "50 most frequent of 80" in caption
    assert _png_size(tmp_path / "co.png")[0] > 500


def test_no_history_is_said(tmp_path) -> None:
    from multitag.report import plots

    caption = plots.training_curves([], tmp_path / "curves.png")
    assert "no training history" in caption
    assert _png_size(tmp_path / "curves.png")[0] > 300
    odd = [{"epoch": 1, "train_loss": None}, {"epoch": "x", "train_loss": 1.0}, "junk"]
    assert "no training history" in plots.training_curves(odd, tmp_path / "odd.png")
    linear = plots.training_curves([], tmp_path / "linear.png", model="br-svm")
    assert "linear model (br-svm)" in linear and "no epochs" in linear


def test_curves_mark_the_best_objective_epoch(tmp_path) -> None:
    from multitag.report import plots

    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 0.5 + abs(e - 3) / 10,
                "valid_score": 0.5 + e / 100 - (e == 10) * 0.1} for e in range(1, 11)]
    caption = plots.training_curves(history, tmp_path / "c.png")
    assert "best validation objective was at epoch 9" in caption
    caption = plots.training_curves([{k: v for k, v in r.items() if k != "valid_score"}
                                     for r in history], tmp_path / "d.png")
    assert "lowest validation loss was at epoch 3" in caption


def test_history_without_validation(tmp_path) -> None:
    from multitag.report import plots

    history = [{"epoch": e, "train_loss": 1 / e} for e in (1, 2, 3)]
    caption = plots.training_curves(history, tmp_path / "curves.png")
    assert "3 epoch(s)" in caption and "without a validation split" in caption


def test_rerun_replaces_a_previous_report(bundle, built) -> None:
    (built.out_dir / "report.md").write_text("stale", encoding="utf-8")
    again = build_report(bundle, _synthetic(80, 3), built.out_dir, title="Second run")
    assert again.markdown.read_text(encoding="utf-8").startswith("# Second run")


def test_refuses_a_directory_with_other_files(bundle, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="not part of a multitag report"):
        build_report(bundle, _synthetic(50, 4), tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_failed_report_keeps_the_previous_one(bundle, built, monkeypatch) -> None:
    from multitag.report import plots

    before = built.markdown.read_text(encoding="utf-8")

    def broken(*args: object) -> str:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(plots, "training_curves", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        build_report(bundle, _synthetic(50, 5), built.out_dir)
    assert built.markdown.read_text(encoding="utf-8") == before
    assert not [p for p in built.out_dir.parent.iterdir() if p.name.startswith(".")]


def test_labels_must_match_the_model(bundle, tmp_path) -> None:
    data = _synthetic(50, 6)
    other = Dataset(X=data.X, Y=data.Y, feature_names=data.feature_names,
                    label_names=[f"x{j}" for j in range(len(LABELS))])
    with pytest.raises(DataFormatError, match="labels differ"):
        build_report(bundle, other, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_report_on_emotions(shared_data, tmp_path, capsys) -> None:
    from multitag.cli import main

    folder = shared_data / "mulan" / "emotions"
    model, out = tmp_path / "model", tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(folder / "emotions-train.arff"), "--out", str(model), "--hidden",
              "16", "--epochs", "5", "--quiet"])
    assert exit_info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(model), str(folder / "emotions-test.arff"), "--out", str(out)])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / name) for name in (MARKDOWN, HTML, *FIGURES)]
    assert "amazed-suprised" in (out / MARKDOWN).read_text(encoding="utf-8")


def test_cli_report_missing_model_is_one_line(shared_data, tmp_path, capsys) -> None:
    from multitag.cli import main

    folder = shared_data / "mulan" / "emotions"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "no-model"), str(folder / "emotions-test.arff"),
              "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
