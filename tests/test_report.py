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
    from multitag.report import cooccurrence, plots

    rows = [LabelRow(f"label {j}", support=j + 1, predicted=j, precision=0.5, recall=0.5,
                     f1=j / 99, auc=None) for j in range(100)]
    drawn = plots.f1_bars(rows, tmp_path / "f1.png")
    assert "top 20 and bottom 20 of 100" in drawn.caption
    assert len(drawn.figure.axes[0].patches) == 40
    Y = (np.random.default_rng(0).random((60, 80)) < 0.2).astype(np.uint8)
    Y[:, 3] = 0  # regression: a label that never occurs once took a top-50 place (uint wrap)
    drawn = cooccurrence.cooccurrence(Y, [f"l{j}" for j in range(80)], tmp_path / "co.png")
    assert "50 most frequent of 80" in drawn.caption
    assert "l3" not in [t.get_text() for t in drawn.figure.axes[0].get_yticklabels()]
    assert _png_size(tmp_path / "co.png")[0] > 500


def test_no_history_draws_no_figure(tmp_path) -> None:
    from multitag.report import history

    drawn = history.training_curves([], tmp_path / "curves.png")
    assert not drawn.drawn and "no training history" in drawn.caption
    assert not (tmp_path / "curves.png").exists()  # no blank figure
    odd = [[{"epoch": 1, "train_loss": None}, {"epoch": "x", "train_loss": 1.0}, "junk"], "x"]
    assert "no training history" in history.training_curves(odd, tmp_path / "odd.png").caption
    linear = history.training_curves([], tmp_path / "linear.png", model="br-svm")
    assert "linear model (br-svm)" in linear.caption and "no epochs" in linear.caption
    assert not linear.drawn and not (tmp_path / "linear.png").exists()


def _run(epochs: int, best: int, shift: float = 0.0) -> list[dict[str, float]]:
    return [{"epoch": e, "train_loss": 1 / e + shift, "valid_loss": 0.5 + abs(e - 3) / 10,
             "valid_score": 0.5 + e / 100 - (e > best) * 0.1 + shift} for e in range(1, epochs + 1)]


def _lines(ax, style: str) -> list:
    return [line for line in ax.get_lines() if line.get_linestyle() == style]


def test_curves_mark_the_best_objective_epoch(tmp_path) -> None:
    from multitag.report import history

    drawn = history.training_curves([_run(10, 9)], tmp_path / "c.png")
    assert "best validation objective was at epoch 9" in drawn.caption
    without = [[{k: v for k, v in r.items() if k != "valid_score"} for r in _run(10, 9)]]
    drawn = history.training_curves(without, tmp_path / "d.png")
    assert "lowest validation loss was at epoch 3" in drawn.caption
    assert len(drawn.figure.axes) == 1  # no objective panel without an objective


def test_ensemble_curves_show_every_network(tmp_path) -> None:
    from multitag.report import history

    runs = [_run(12, 9), _run(20, 15, 0.01), _run(8, 4, 0.02)]
    drawn = history.training_curves(runs, tmp_path / "c.png", loss="asymmetric",
                                    objective="micro_f1", max_epochs=20, members=3,
                                    best_kept=True)
    loss_ax, score_ax = drawn.figure.axes[:2]
    assert len(_lines(loss_ax, "--")) == 3  # training loss, one per network
    assert len(_lines(loss_ax, "-")) == 3  # validation loss, one per network
    assert len(_lines(score_ax, "-")) == 3
    stars = [line for line in score_ax.get_lines() if line.get_marker() == "*"]
    assert sorted(line.get_xdata()[0] for line in stars) == [4, 9, 15]
    crosses = [line for line in score_ax.get_lines() if line.get_marker() == "X"]
    assert sorted(line.get_xdata()[0] for line in crosses) == [8, 12]  # network 2 ran to 20
    assert "asymmetric loss" in loss_ax.get_ylabel() and "lower is better" in loss_ax.get_ylabel()
    assert "validation micro-F1\nat its best threshold" in score_ax.get_ylabel()
    assert "epoch" in score_ax.get_xlabel()
    assert "each of the 3 networks" in drawn.caption and "epochs 9, 15, 4" in drawn.caption
    assert "2 of the 3 networks stopped early" in drawn.caption
    assert "(the loss)" not in loss_ax.get_ylabel()
    bce = history.training_curves(runs, tmp_path / "b.png", loss="bce")
    assert "binary cross-entropy" in bce.figure.axes[0].get_ylabel()


def test_history_without_validation(tmp_path) -> None:
    from multitag.report import history

    drawn = history.training_curves([[{"epoch": e, "train_loss": 1 / e} for e in (1, 2, 3)]],
                                    tmp_path / "curves.png")
    assert "3 epoch(s)" in drawn.caption and "without a validation split" in drawn.caption


def test_cooccurrence_scale_fits_the_data(tmp_path) -> None:
    from multitag.report import cooccurrence

    rng = np.random.default_rng(1)
    Y = np.zeros((400, 6), dtype=np.uint8)  # one label per row, like scene: small overlaps
    Y[np.arange(400), rng.integers(0, 6, 400)] = 1
    Y[:40, 1] = 1
    Y[:40, 0] = 1
    drawn = cooccurrence.cooccurrence(Y, [f"l{j}" for j in range(6)], tmp_path / "co.png")
    heat = drawn.figure.axes[0]
    conditional = cooccurrence.conditional_matrix(Y[:, np.argsort(-Y.sum(0), kind="stable")])
    off_diagonal_max = np.nanmax(conditional)
    assert 0.1 < off_diagonal_max < 0.6  # the case a fixed 0-1 scale flattened
    assert heat.images[0].get_clim() == pytest.approx((0, off_diagonal_max))
    shown = heat.images[0].get_array()
    assert np.ma.getmaskarray(shown).diagonal().all()  # the diagonal is masked...
    side = drawn.figure.axes[1]  # ...and shown as its own bars: each label's share of rows
    assert sorted(p.get_width() for p in side.patches) == pytest.approx(sorted(Y.mean(0)))
    colour_bar = next(ax for ax in drawn.figure.axes if ax not in (heat, side))
    label = colour_bar.get_xlabel() + colour_bar.get_ylabel()
    assert "P(column label | row label)" in label and "largest off-diagonal" in label
    assert f"0 to {off_diagonal_max:.2f}" in drawn.caption and "diagonal" in drawn.caption


def test_cooccurrence_clips_a_lone_outlier() -> None:
    from multitag.report import cooccurrence

    values = np.full((20, 20), 0.05)
    values[3, 4] = 0.9
    np.fill_diagonal(values, np.nan)
    assert cooccurrence.colour_limit(values) == (pytest.approx(0.05), True)
    values[:5, :5] = 0.9
    np.fill_diagonal(values, np.nan)
    assert cooccurrence.colour_limit(values) == (pytest.approx(0.9), False)


def test_label_names_wrap_or_get_a_key() -> None:
    from multitag.report.labels import LabelNames, common_prefix, wrap

    assert wrap("a very long label name about something", 16) == [
        "a very long", "label name about", "something"]
    assert wrap("FallFoliage", 8) == ["Fall", "Foliage"]
    assert wrap("projectmanagement", 8) == ["projectm", "anagemen", "t"]
    assert common_prefix(["TAG_web", "TAG_blog"]) == "TAG_"
    assert common_prefix(["Class-0-593_70", "Class-10-V13"]) == "Class-"
    assert common_prefix(["TAG_", "TAG_blog"]) == ""  # would leave a name empty
    assert common_prefix(["_ambient", "_x"]) == ""
    names = LabelNames(["TAG_web", "TAG_" + "x" * 60, "TAG_blog"])
    assert names.show("TAG_web", 10, 1) == ("web", None)
    text, entry = names.show("TAG_" + "x" * 60, 10, 2)
    assert text.endswith("… [2]") and len(text.split("\n")) == 2
    assert entry == ("[2]", "TAG_" + "x" * 60)


LONG = ["a very long label name about respiratory tract infections",
        "another extremely long label naming a rare condition of the kidney",
        "short", "urinary_tract_infection_unspecified_site_and_more_words_here", "none"]


def test_long_names_are_legible(tmp_path) -> None:
    data = _synthetic(160, 7)
    data = Dataset(X=data.X, Y=data.Y, feature_names=data.feature_names, label_names=LONG,
                   name="long names")
    bundle = train_model(data, TrainOptions(hidden=(8,), epochs=2)).bundle
    result = build_report(bundle, data, tmp_path / "report")
    figures = {f.filename: f.drawn for f in result.figures}
    bars = figures["f1_per_label.png"]
    ticks = [t.get_text() for t in bars.figure.axes[0].get_yticklabels()]
    assert "a very long label\nname about" not in ticks  # wrapped at word breaks, 2 lines
    assert all(len(line) <= 26 for t in ticks for line in t.split("\n"))
    for tick in ticks:  # each is a whole name, or cut with a code the key spells out
        whole = tick.replace("\n", " ") in LONG or tick.replace("\n", "") in LONG
        assert whole or re.search(r"… \[\d\]$", tick), tick
    assert bars.key and all(name in LONG for _, name in bars.key)
    heat = figures["cooccurrence.png"].figure.axes[0]
    assert all(len(line) <= 14 for t in heat.get_xticklabels() for line in t.get_text().split("\n"))
    markdown = result.markdown.read_text(encoding="utf-8")
    assert "Label key" in markdown
    for code, name in bars.key:
        assert f"| {md_escape(code)} | {md_escape(name)} |" in markdown


def test_every_axis_says_what_it_shows(built) -> None:
    for figure in built.figures:
        for ax in figure.drawn.figure.axes:
            text = ax.get_xlabel() + ax.get_ylabel()
            assert text.strip(), (figure.filename, ax)
        assert figure.drawn.figure.axes[0].get_ylabel(), figure.filename


def test_linear_model_has_no_training_figure(tmp_path) -> None:
    data = _synthetic(150, 8)
    bundle = train_model(data, TrainOptions(model="br-lr")).bundle
    assert bundle.architecture["model"] == "br-lr" and not bundle.history
    result = build_report(bundle, _synthetic(80, 9), tmp_path / "report")
    assert "training_curves.png" not in {p.name for p in result.out_dir.iterdir()}
    assert [p.name for p in result.images] == [n for n in FIGURES if n != "training_curves.png"]
    markdown = result.markdown.read_text(encoding="utf-8")
    assert "No training-curve figure: this is a linear model (br-lr)" in markdown
    assert "](training_curves.png)" not in markdown
    html_text = result.html.read_text(encoding="utf-8")
    assert html_text.count('src="data:image/png;base64,') == len(FIGURES) - 1


def test_ensemble_report_and_an_older_directory(tmp_path) -> None:
    import dataclasses

    from multitag.report.build import network_histories

    data = _synthetic(200, 10)
    bundle = train_model(data, TrainOptions(hidden=(8,), epochs=4, ensemble=3)).bundle
    assert len(network_histories(bundle)) == 3
    result = build_report(bundle, data, tmp_path / "new")
    curves = result.figures[0].drawn
    assert result.figures[0].filename == "training_curves.png"
    assert len(_lines(curves.figure.axes[0], "--")) == 3
    assert "show every network" in result.markdown.read_text(encoding="utf-8")
    old = dataclasses.replace(bundle, member_histories=[])  # saved before member_histories
    result = build_report(old, data, tmp_path / "old")
    curves = result.figures[0].drawn
    assert len(_lines(curves.figure.axes[0], "--")) == 1
    assert "stores only the first of its 3" in curves.caption
    assert (result.out_dir / "training_curves.png").is_file()


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
    from multitag.report import history

    before = built.markdown.read_text(encoding="utf-8")

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(history, "training_curves", broken)
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


def test_markdown_cells_never_break_a_table_row() -> None:
    """Names from an old model directory may hold a line break or a `|`: one cell still."""
    cell = md_escape("jazz\nfusion|x\r\t")
    assert "\n" not in cell and "\r" not in cell and "\\|" in cell
    assert cell.count("|") == 1
