"""Every training option, set on the CLI, reaches the trainer in every mode (in memory, an
ensemble, --stream, --distributed) or is refused with exit 2 naming the mode, or a notice says
it was not used. The trainer is watched in process: `Trainer.fit` records what it was given.

--distributed runs here as a process group of one (gloo), in this process: the same code path
as under torchrun, where gradients are summed over the group.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from multitag.cli import main
from multitag.options import OPTIONS
from multitag.training.trainer import Trainer

N_ROWS = 120
MODES = {
    "memory": ["--ensemble", "1"],
    "ensemble": ["--ensemble", "2", "--jobs", "1"],
    "stream": ["--stream", "--chunk-rows", "40"],
    "distributed": ["--distributed", "--ensemble", "1"],
}
BASE = {"epochs": ["--epochs", "3"], "hidden": ["--hidden", "8"]}


@dataclass
class Run:
    code: int
    err: str
    records: list[Any]
    model: Path
    data: Path

    @property
    def description(self) -> dict[str, Any]:
        return json.loads((self.model / "model.json").read_text())

    @property
    def configs(self) -> list[Any]:
        return [r.config for r in self.records]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, 6))
    Y = (X[:, :3] + rng.normal(scale=0.7, size=(N_ROWS, 3)) > 0).astype(int)
    path = tmp_path_factory.mktemp("data") / "train.csv"
    lines = ["f0,f1,f2,f3,f4,f5,a,b,c"]
    lines += [",".join([*(f"{v:.5f}" for v in x), *(str(v) for v in y)]) for x, y in zip(X, Y)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def train(data_file, tmp_path, monkeypatch, capsys) -> Callable[..., Run]:
    records: list[Any] = []
    original = Trainer.fit

    def recording_fit(self, module, X, Y=None, X_valid=None, Y_valid=None):
        records.append(SimpleNamespace(kind=type(self).__name__, config=self.config,
                                       module=module, X_valid=X_valid))
        return original(self, module, X, Y, X_valid, Y_valid)

    monkeypatch.setattr(Trainer, "fit", recording_fit)

    def run(mode: str, option: str, *flags: str) -> Run:
        if mode == "distributed":
            _single_process_group(monkeypatch)
        out = tmp_path / f"{mode}-{option}"
        base = [a for name, args in BASE.items() if name != option for a in args]
        args = ["train", str(data_file), "--label-columns", "a,b,c", "--out", str(out),
                *base, *MODES[mode], *flags]
        records.clear()
        capsys.readouterr()
        try:
            main(args)
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        return Run(code, capsys.readouterr().err, list(records), out, data_file)

    return run


def _single_process_group(monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
                        "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(name, value)


def refused(run: Run, mode: str) -> None:
    flag = {"stream": "--stream", "distributed": "--distributed",
            "ensemble": "--ensemble 2"}[mode]
    errors = [line for line in run.err.splitlines() if line.startswith("multitag: error:")]
    assert run.code == 2 and len(errors) == 1 and flag in errors[0], run.err
    assert not run.model.exists() and not run.records


def trained(run: Run) -> None:
    assert run.code == 0, run.err
    assert run.records and (run.model / "model.json").is_file()


def every_config(check: Callable[[Any], bool]) -> Callable[[Run, str], None]:
    def verify(run: Run, mode: str) -> None:
        trained(run)
        assert all(check(c) for c in run.configs), [c for c in run.configs]
    return verify


def every_network(check: Callable[[Any], bool]) -> Callable[[Run, str], None]:
    def verify(run: Run, mode: str) -> None:
        trained(run)
        assert all(check(r.module) for r in run.records)
    return verify


def rule(check: Callable[[dict[str, Any]], bool]) -> Callable[[Run, str], None]:
    def verify(run: Run, mode: str) -> None:
        trained(run)
        assert check(run.description["decision_rule"]), run.description["decision_rule"]
    return verify


def check_model(run: Run, mode: str) -> None:
    if mode == "stream":
        return refused(run, mode)
    trained(run)
    training = run.description["training"]
    assert training["model"] == "auto" and training["kept"] in ("mlp", "br-svm", "br-lr")
    assert "--model auto: held-out micro_f1" in run.err


def check_ensemble(run: Run, mode: str) -> None:
    if mode == "stream":
        return refused(run, mode)
    trained(run)
    assert len(run.records) == 2 and run.description["architecture"]["members"] == 2
    kind = "DistributedTrainer" if mode == "distributed" else "Trainer"
    assert {r.kind for r in run.records} == {kind}


def check_blend(run: Run, mode: str) -> None:
    if mode == "stream":
        return refused(run, mode)
    trained(run)
    assert "--blend linear: held-out micro_f1 network" in run.err
    members = run.description["architecture"]["members"]
    assert run.description["architecture"].get("linear_member", False) == (
        members > (2 if mode == "ensemble" else 1))


def check_validation_split(run: Run, mode: str) -> None:
    if mode == "ensemble":
        return refused(run, mode)
    trained(run)
    held = run.records[0].X_valid.shape[0]
    if mode == "stream":  # rows held out by a hash of their position: about a quarter
        assert 18 <= held <= 42 and held == run.description["training"]["stream"]["n_valid_rows"]
    else:
        assert held == int(N_ROWS * 0.25)


def check_validation_strategy(run: Run, mode: str) -> None:
    if mode in ("ensemble", "stream"):
        return refused(run, mode)
    trained(run)
    from multitag.bundle.directory import ModelBundle
    from multitag.data import load
    from multitag.data.registry import ReaderOptions

    data = load(run.data, ReaderOptions(label_columns=("a", "b", "c")))
    X = ModelBundle.load(run.model).transform(data)
    n_valid = int(N_ROWS * 0.1)
    np.testing.assert_allclose(run.records[0].X_valid, X[-n_valid:], rtol=1e-6)


def check_jobs(run: Run, mode: str) -> None:
    assert run.code == 0, run.err
    if mode == "ensemble":  # trained in two forked worker processes
        assert "2 cross-fitted networks in 2 worker processes" in run.err
    else:
        assert "notice: --jobs 2 not used" in run.err


def check_seed(run: Run, mode: str) -> None:
    trained(run)
    assert [c.seed for c in run.configs] == [7 + i for i in range(len(run.configs))]


def check_scale(run: Run, mode: str) -> None:
    trained(run)
    assert run.description["preprocessing"]["mode"] == "none"


PROBES: dict[str, tuple[list[str], Callable[[Run, str], None]]] = {
    "model": (["--model", "auto"], check_model),
    "hidden": (["--hidden", "7"], every_network(lambda m: m.hidden[0].out_features == 7)),
    "dropout": (["--dropout", "0.3"], every_network(lambda m: m.dropout == 0.3)),
    "linear_skip": (["--linear-skip"], every_network(lambda m: m.skip is not None)),
    "epochs": (["--epochs", "2"], every_config(lambda c: c.epochs == 2)),
    "batch_size": (["--batch-size", "17"], every_config(lambda c: c.batch_size == 17)),
    "learning_rate": (["--learning-rate", "0.02"],
                      every_config(lambda c: c.learning_rate == 0.02)),
    "optimizer": (["--optimizer", "adam"], every_config(lambda c: c.optimizer == "adam")),
    "weight_decay": (["--weight-decay", "0.001"],
                     every_config(lambda c: c.weight_decay == 0.001)),
    "lr_schedule": (["--lr-schedule", "cosine"],
                    every_config(lambda c: c.lr_schedule == "cosine")),
    "loss": (["--loss", "focal"], every_config(lambda c: c.loss.name == "focal")),
    "pos_weight": (["--pos-weight", "auto"], every_config(
        lambda c: c.loss.name == "bce" and len(c.loss.pos_weight) == 3)),
    "loss_options": (["--loss-param", "gamma_neg=2"],
                     every_config(lambda c: c.loss.gamma_neg == 2.0)),
    "ensemble": (["--ensemble", "2", "--jobs", "1"], check_ensemble),
    "blend": (["--blend", "linear"], check_blend),
    "validation_split": (["--validation-split", "0.25"], check_validation_split),
    "validation_strategy": (["--validation-strategy", "tail"], check_validation_strategy),
    "early_stopping_monitor": (["--early-stopping", "loss"],
                               every_config(lambda c: c.monitor == "loss")),
    "early_stopping_patience": (["--patience", "3"],
                                every_config(lambda c: c.early_stopping_patience == 3)),
    "decision": (["--decision", "global"], rule(lambda r: r["rule"] == "global")),
    "threshold": (["--threshold", "0.3"],
                  rule(lambda r: r["rule"] == "fixed" and r["params"]["threshold"] == 0.3)),
    "top_k": (["--top-k", "2"], rule(lambda r: r["rule"] == "top_k" and r["params"]["k"] == 2)),
    "objective": (["--objective", "macro_f1"],
                  rule(lambda r: r["params"].get("objective") == "macro_f1")),
    "scale": (["--scale", "none"], check_scale),
    "seed": (["--seed", "7"], check_seed),
    "threads": (["--threads", "1"], every_config(lambda c: c.threads == 1)),
    "n_jobs": (["--jobs", "2"], check_jobs),
    "device": (["--device", "cpu"], every_config(lambda c: c.device == "cpu")),
    "mixed_precision": (["--mixed-precision"], every_config(lambda c: c.mixed_precision)),
}


def test_every_option_has_a_probe() -> None:
    assert set(PROBES) == set(OPTIONS)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("option", list(PROBES))
def test_option_reaches_the_trainer_or_is_refused(train, option, mode) -> None:
    flags, verify = PROBES[option]
    verify(train(mode, option, *flags), mode)
