"""Training checkpoints in process: exact resume, damaged files, refused resumes, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from multitag.exceptions import CheckpointError, TrainingInterrupted
from multitag.models.mlp import MLP
from multitag.training.checkpoint import (
    META_FILE,
    STATE_FILE,
    Checkpointer,
    list_checkpoints,
)
from multitag.training.config import TrainConfig
from multitag.training.trainer import Callback, Trainer


class _Crash(Exception):
    pass


class _CrashAfter(Callback):
    """Stands in for a killed process: stops the loop after `epoch` completed epochs (of the
    network trained with `seed`, if given)."""

    def __init__(self, epoch: int, seed: int | None = None) -> None:
        self.epoch, self.seed = epoch, seed

    def on_epoch_complete(self, trainer, state) -> None:
        if state.epoch == self.epoch and self.seed in (None, trainer.config.seed):
            raise _Crash


class _Counter(Callback):
    """Counts the epochs each network (by seed) trains in this run."""

    def __init__(self) -> None:
        self.epochs: dict[int, int] = {}

    def on_epoch_complete(self, trainer, state) -> None:
        seed = trainer.config.seed
        self.epochs[seed] = self.epochs.get(seed, 0) + 1


def _data(rows: int = 240) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=rows, n_features=8, n_classes=4,
                                          random_state=3)
    return X.astype(np.float32), Y.astype(np.float32)


def _fit(callbacks=(), dropout: float = 0.2, data=None, **config):
    X, Y = data if data is not None else _data()
    torch.manual_seed(0)
    module = MLP(8, 4, (16,), dropout)
    settings = {"epochs": 8, "batch_size": 32, "early_stopping_patience": 3,
                "lr_schedule": "plateau", "seed": 1, **config}
    result = Trainer(TrainConfig(**settings), list(callbacks)).fit(
        module, X[:200], Y[:200], X[200:], Y[200:])
    return module, result


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


@pytest.mark.parametrize("dropout", [0.2, 0.0])  # autograd with dropout RNG / fast backprop
def test_resume_is_bit_identical(tmp_path: Path, dropout: float) -> None:
    reference, ref_result = _fit(dropout=dropout)
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path), _CrashAfter(3)], dropout=dropout)
    assert [p.name for p in list_checkpoints(tmp_path / "seed-1")] == [
        "epoch-000003", "epoch-000002"]
    checkpointer, counter = Checkpointer(tmp_path, resume=True), _Counter()
    resumed, result = _fit([checkpointer, counter], dropout=dropout)
    assert checkpointer.resumed_from == 3
    assert counter.epochs[1] == len(ref_result.history) - 3  # only the epochs after the 3rd
    assert _same_weights(reference, resumed)
    assert [r["train_loss"] for r in result.history] == [
        r["train_loss"] for r in ref_result.history]
    assert result.best_epoch == ref_result.best_epoch
    assert not _same_weights(reference, _fit(dropout=dropout, seed=2)[0])


def test_checkpoint_files_are_safetensors_and_json(tmp_path: Path) -> None:
    _fit([Checkpointer(tmp_path, every=4)], epochs=8, early_stopping_patience=None)
    newest = list_checkpoints(tmp_path / "seed-1")[0]
    assert newest.name == "epoch-000008"
    assert sorted(p.name for p in newest.iterdir()) == [META_FILE, STATE_FILE]
    meta = json.loads((newest / META_FILE).read_text())
    assert meta["epoch"] == 8 and len(meta["history"]) == 8
    assert meta["config"]["seed"] == 1
    assert not list(tmp_path.glob("*/.*")), "no staging leftovers"
    assert b"\x80\x04" not in (newest / STATE_FILE).read_bytes()[:8]  # not a pickle


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path) -> None:
    reference, _ = _fit()
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path), _CrashAfter(4)])
    state = tmp_path / "seed-1" / "epoch-000004" / STATE_FILE
    state.write_bytes(state.read_bytes()[:-7])  # truncated
    checkpointer = Checkpointer(tmp_path, resume=True)
    resumed, _ = _fit([checkpointer])
    assert checkpointer.resumed_from == 3
    assert "SHA-256 does not match" in checkpointer.notices[0]
    assert "resuming from epoch 3 instead" in checkpointer.notices[0]
    assert _same_weights(reference, resumed)


def test_every_checkpoint_damaged_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path), _CrashAfter(2)])
    (tmp_path / "seed-1" / "epoch-000002" / META_FILE).write_text("{not json")
    (tmp_path / "seed-1" / "epoch-000001" / STATE_FILE).write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match=r"every checkpoint is damaged.*unreadable or "
                       r"damaged.*SHA-256 does not match"):
        _fit([Checkpointer(tmp_path, resume=True)])


def test_resume_refuses_other_data_options_or_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path, run_info={"hidden": [16]}), _CrashAfter(2)])
    X, Y = _data()
    X[0, 0] += 1
    with pytest.raises(CheckpointError, match="training data differ"):
        _fit([Checkpointer(tmp_path, resume=True, run_info={"hidden": [16]})], data=(X, Y))
    with pytest.raises(CheckpointError, match=r"training configuration differ.*batch_size: 32 "
                       "-> 16"):
        _fit([Checkpointer(tmp_path, resume=True, run_info={"hidden": [16]})], batch_size=16)
    with pytest.raises(CheckpointError, match=r"options differ.*hidden: \[16\] -> \[8\]"):
        _fit([Checkpointer(tmp_path, resume=True, run_info={"hidden": [8]})])
    with pytest.raises(CheckpointError, match="unfinished run; resume it"):
        _fit([Checkpointer(tmp_path)])
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        _fit([Checkpointer(tmp_path / "empty", resume=True)])


def test_stop_request_saves_and_interrupts(tmp_path: Path) -> None:
    checkpointer = Checkpointer(tmp_path, every=0)

    class StopIn(Callback):
        def on_epoch_end(self, trainer, record) -> None:
            if record["epoch"] == 2:
                checkpointer.request_stop()

    with pytest.raises(TrainingInterrupted, match="after epoch 2") as caught:
        _fit([StopIn(), checkpointer])
    assert caught.value.epoch == 2
    assert [p.name for p in list_checkpoints(tmp_path / "seed-1")] == ["epoch-000002"]


def test_same_seed_same_estimator_weights_and_thresholds() -> None:
    from multitag.estimator import MultiLabelMLP

    X, Y = _data()
    fits = [MultiLabelMLP(hidden=(16,), epochs=6, dropout=0.3, decision="per_label",
                          random_state=seed).fit(X, Y) for seed in (5, 5, 6)]
    assert _same_weights(fits[0].module_, fits[1].module_)
    assert np.array_equal(fits[0].thresholds_, fits[1].thresholds_)
    assert fits[0].history_[-1]["valid_loss"] == fits[1].history_[-1]["valid_loss"]
    assert not _same_weights(fits[0].module_, fits[2].module_)



def test_ensemble_trained_in_turn_resumes_each_network(tmp_path: Path) -> None:
    from multitag.estimator import MultiLabelMLP

    X, Y = _data()

    def fit(*callbacks):
        return MultiLabelMLP(hidden=(8,), epochs=5, ensemble=3, n_jobs=1, dropout=0.1,
                             random_state=4, callbacks=list(callbacks)).fit(X, Y)

    reference = fit()
    with pytest.raises(_Crash):  # the second network (seed 5) dies after its 2nd epoch
        fit(Checkpointer(tmp_path), _CrashAfter(2, seed=5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed-4", "seed-5"]
    counter = _Counter()
    resumed = fit(Checkpointer(tmp_path, resume=True), counter)
    done = [len(r.history) for r in reference.member_results_]
    assert counter.epochs == {5: done[1] - 2, 6: done[2]}  # seed 4 had finished
    assert _same_weights(reference.module_, resumed.module_)
    assert np.array_equal(reference.predict_proba(X), resumed.predict_proba(X))


# -- checkpoint.json is covered by the digest and checked as data ----------------------------
def _crashed(tmp_path: Path, epoch: int = 2) -> Path:
    """Checkpoints of epochs `epoch` and `epoch - 1` left by a run killed after `epoch`."""
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path), _CrashAfter(epoch)])
    return tmp_path / "seed-1"


def _edit(directory: Path, change, resign: bool) -> None:
    from multitag.training.checkpoint_files import meta_digest

    meta = json.loads((directory / META_FILE).read_text())
    change(meta)
    if resign:
        meta["sha256"] = meta_digest(meta)
    (directory / META_FILE).write_text(json.dumps(meta))


def _set_lr(meta, value) -> None:
    pairs = meta["optimizer"]["dict"]
    next(node for key, node in pairs if key == "lr")["value"] = value


def test_an_edited_learning_rate_is_refused_as_tampered_and_falls_back(tmp_path: Path) -> None:
    reference, _ = _fit()
    network = _crashed(tmp_path, 4)
    _edit(network / "epoch-000004", lambda m: _set_lr(m, 0.5), resign=False)
    checkpointer = Checkpointer(tmp_path, resume=True)
    resumed, _ = _fit([checkpointer])
    assert checkpointer.resumed_from == 3
    assert "checkpoint.json: edited or damaged (its SHA-256 does not match its contents)" in \
        checkpointer.notices[0]
    assert _same_weights(reference, resumed)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_a_re_signed_learning_rate_the_options_cannot_give_is_refused(
        tmp_path: Path, schedule: str) -> None:
    """Whoever edits checkpoint.json can recompute its digest; the learning rate is still
    checked against what --learning-rate and --lr-schedule give at that epoch."""
    reference, _ = _fit(lr_schedule=schedule)
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path), _CrashAfter(4)], lr_schedule=schedule)
    checkpointer = Checkpointer(tmp_path, resume=True)
    resumed, _ = _fit([checkpointer], lr_schedule=schedule)  # the untouched one resumes
    assert checkpointer.resumed_from == 4 and _same_weights(reference, resumed)
    with pytest.raises(_Crash):
        _fit([Checkpointer(tmp_path / "again"), _CrashAfter(4)], lr_schedule=schedule)
    network = tmp_path / "again" / "seed-1"
    for name in ("epoch-000004", "epoch-000003"):
        _edit(network / name, lambda m: _set_lr(m, 0.5), resign=True)
    with pytest.raises(CheckpointError, match=r"learning rate 0\.5 is not one --learning-rate"):
        _fit([Checkpointer(tmp_path / "again", resume=True)], lr_schedule=schedule)


def test_an_edited_epoch_in_every_checkpoint_is_one_error(tmp_path: Path) -> None:
    network = _crashed(tmp_path)
    for name in ("epoch-000002", "epoch-000001"):
        _edit(network / name, lambda m: m.update(epoch=m["epoch"] + 10), resign=False)
    with pytest.raises(CheckpointError, match=r"every checkpoint is damaged.*edited or damaged") \
            as caught:
        _fit([Checkpointer(tmp_path, resume=True)])
    assert "\n" not in str(caught.value)


def _deep(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(epoch="2"), r"epoch must be an integer in \[1, 10000000\]; got '2'"),
    (lambda m: m.update(epoch=2.0), "epoch must be an integer"),
    (lambda m: m.update(epoch=True), "epoch must be an integer"),
    (lambda m: m.update(epoch=7), "disagrees with the directory name"),
    (lambda m: m.update(history="x"), "history must be a list of objects"),
    (lambda m: m.update(history=[1, 2]), "history must be a list of objects"),
    (lambda m: m.update(waited=-1), "waited must be an integer >= 0"),
    (lambda m: m.update(best_loss="low"), "best_loss must be a finite number or null"),
    (lambda m: m.update(has_best_state="yes"), "has_best_state must be true or false"),
    (lambda m: m.update(config={"a": _deep(40)}), "config: nested deeper than 32 levels"),
    (lambda m: m.update(run=[]), "run must be an object"),
    (lambda m: m.update(parameters={"w": ["8"]}), "parameters must be an object of shapes"),
    (lambda m: m.update(extra=1), "extra: unknown key"),
    (lambda m: m.pop("best_epoch"), "best_epoch: missing"),
    (lambda m: m.update(version=1), "version 1 is not supported"),
    (lambda m: m.update(torch_version="x" * 1000), "torch_version must be a text"),
])
def test_wrong_types_in_checkpoint_json_are_one_line(tmp_path: Path, change, message) -> None:
    network = _crashed(tmp_path)
    for name in ("epoch-000002", "epoch-000001"):
        _edit(network / name, change, resign=True)  # signed again: only the checks stop it
    with pytest.raises(CheckpointError, match=message) as caught:
        _fit([Checkpointer(tmp_path, resume=True)])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"epoch": NaN}',
                                  '{"epoch": ' + "9" * 5000 + "}", "\xff\xfe"])
def test_unparseable_checkpoint_json_is_one_line(tmp_path: Path, text: str) -> None:
    network = _crashed(tmp_path)
    for name in ("epoch-000002", "epoch-000001"):
        (network / name / META_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match="unreadable or damaged") as caught:
        _fit([Checkpointer(tmp_path, resume=True)])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("change", [
    lambda m: _set_lr(m, "fast"),
    lambda m: m["optimizer"]["dict"][1][1]["list"].pop(),
    lambda m: m["optimizer"]["dict"][1][1]["list"].__setitem__(0, {"tensor": "module.output.bias"}),
    lambda m: m["optimizer"]["dict"][1][1]["list"].__setitem__(0, {"tensor": "nowhere"}),
    lambda m: m["optimizer"].update({"dict": [["lr", 1]]}),
    lambda m: m.update(optimizer={"list": _deep(20)}),
])
def test_an_optimizer_state_that_does_not_fit_is_one_line(tmp_path: Path, change) -> None:
    network = _crashed(tmp_path)
    _edit(network / "epoch-000002", change, resign=True)
    with pytest.raises(CheckpointError, match="does not fit this network") as caught:
        _fit([Checkpointer(tmp_path, resume=True)])
    assert "\n" not in str(caught.value)


def test_checkpoint_json_carries_both_digests(tmp_path: Path) -> None:
    from multitag.training.checkpoint_files import meta_digest

    network = _crashed(tmp_path)
    meta = json.loads((network / "epoch-000002" / META_FILE).read_text())
    assert meta["version"] == 2 and len(meta["state_sha256"]) == 64
    assert meta["sha256"] == meta_digest(meta)
    assert meta_digest({**meta, "elapsed_seconds": meta["elapsed_seconds"] + 1}) != meta["sha256"]


def test_cli_resume_from_a_tampered_checkpoint_is_exit_2_one_line(tmp_path: Path, monkeypatch,
                                                                   capsys) -> None:
    """`multitag train --resume`: an edited checkpoint.json (learning rate), or one signed
    again with a wrong type in it, is one line on stderr and exit code 2."""
    from multitag.cli import main
    from multitag.training.optim import FusedAdam

    X, Y = _data(200)
    data = tmp_path / "train.csv"
    header = ",".join([f"f{i}" for i in range(8)] + [f"y{j}" for j in range(4)])
    np.savetxt(data, np.hstack([X, Y]), fmt="%g", delimiter=",", header=header, comments="")
    out = tmp_path / "model"
    args = ["train", str(data), "--label-prefix", "y", "--out", str(out), "--epochs", "6",
            "--hidden", "8", "--ensemble", "1", "--batch-size", "100", "--quiet"]
    step, calls = FusedAdam.step, []

    def poisoned_step(self) -> None:  # diverges in epoch 3: the checkpoints of 1 and 2 stay
        step(self)
        calls.append(1)
        if len(calls) >= 6:
            for p in self.params:
                p.data.fill_(float("nan"))

    def run(*extra: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as done:
            main([*args, *extra])
        return done.value.code, capsys.readouterr().err

    monkeypatch.setattr(FusedAdam, "step", poisoned_step)
    assert run()[0] == 2
    monkeypatch.setattr(FusedAdam, "step", step)
    saved = sorted((out / "checkpoint").glob("seed-*/epoch-*"))
    assert len(saved) == 2
    for change, resign, message in [
        (lambda m: _set_lr(m, 0.5), False, "edited or damaged (its SHA-256 does not match"),
        (lambda m: m.update(waited="x"), True, "waited must be an integer >= 0"),
        # signed again: refused before the resume is announced (no "resuming after" line)
        (lambda m: _set_lr(m, 0.5), True, "learning rate 0.5 is not one --learning-rate"),
    ]:
        originals = {d: (d / META_FILE).read_text() for d in saved}
        for directory in saved:
            _edit(directory, change, resign)
        code, err = run("--resume")
        errors = [line for line in err.strip().splitlines() if not line.startswith("notice")]
        assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
        assert message in err
        for directory, text in originals.items():
            (directory / META_FILE).write_text(text)
    code, err = run("--resume")
    assert code == 0, err
