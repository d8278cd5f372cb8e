"""The options table: one declaration per option, from which validation, the CLI flags, the
estimator's parameters and model.json derive."""

from __future__ import annotations

import inspect

import pytest

from multitag.cli.options import parse_flag
from multitag.estimator import MultiLabelMLP
from multitag.exceptions import ConfigError
from multitag.options import (
    AUTO,
    DEFAULTS,
    OPTIONS,
    TrainOptions,
    check_value,
    flag_of,
    param_of,
)
from multitag.pipeline.defaults import DISTRIBUTED, MEMORY, STREAM, DataShape, check_mode, resolve

SMALL = DataShape(n_rows=400, n_features=20, n_labels=5, density=1.0)
LARGE = DataShape(n_rows=30_000, n_features=20, n_labels=5, density=0.01)


def test_every_option_is_a_cli_flag_and_an_estimator_parameter() -> None:
    from click.testing import CliRunner
    from typer.main import get_command

    from multitag.cli import app

    help_text = CliRunner().invoke(get_command(app), ["train", "--help"],
                                   terminal_width=400).output
    parameters = inspect.signature(MultiLabelMLP).parameters
    for name in OPTIONS:
        assert flag_of(name) in help_text, name
        assert parameters[param_of(name)].default == DEFAULTS[name], name


def test_the_estimator_default_is_what_train_does() -> None:
    assert MultiLabelMLP().training_options() == TrainOptions()
    assert MultiLabelMLP(random_state=3).training_options().seed == 3
    assert "ensemble = 'auto'" in MultiLabelMLP.__doc__


@pytest.mark.parametrize(("name", "value", "message"), [
    ("epochs", 0, r"`--epochs` \(epochs\) must be an integer >= 1 or 'auto'; got 0"),
    ("epochs", 2.5, "must be an integer"),
    ("ensemble", True, "must be an integer"),
    ("learning_rate", 0.0, r"must be a number > 0; got 0.0"),
    ("learning_rate", "auto", "must be a number > 0"),
    ("dropout", 1.0, r"must be a number in \[0, 1\)"),
    ("optimizer", "sgd", "must be one of adam, adamw"),
    ("hidden", (16, 0), "positive integers"),
    ("hidden", "16", "positive integers"),
    ("device", "gpu", "cpu, cuda, cuda:N or mps"),
    ("pos_weight", (1.0, -2.0), "positive numbers"),
    ("loss_options", {"gamma": 1.0}, "NAME=VALUE"),
    ("objective", "accuracy", "micro_f1, macro_f1, samples_f1, hamming"),
    ("early_stopping_patience", 0, ">= 1"),
])
def test_bad_values_name_the_option_and_what_it_accepts(name, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainOptions(**{name: value})


@pytest.mark.parametrize(("values", "message"), [
    ({"loss": "focal", "pos_weight": "auto"}, "applies to the bce loss"),
    ({"loss": "bce", "loss_options": {"gamma_neg": 2}}, "does not apply to --loss bce"),
    ({"loss_options": {"gamma_neg": 2, "focal_gamma": 1}}, "mixes the parameters"),
    ({"loss_options": {"clip": 1.0}}, r"clip` must be in \[0, 1\)"),
    ({"decision": "per_label", "threshold": 0.3}, "threshold of --decision fixed"),
    ({"decision": "global", "top_k": 2}, "k of --decision top_k"),
    ({"threshold": 0.3, "top_k": 2}, "two different decision rules"),
])
def test_combinations_that_cannot_hold(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainOptions(**values)


def test_values_are_normalised_and_round_trip() -> None:
    options = TrainOptions(hidden=[32, 16], pos_weight=[1, 2])
    assert options.hidden == (32, 16) and options.pos_weight == (1.0, 2.0)
    assert TrainOptions.from_dict(options.to_dict()) == options
    options = TrainOptions(loss_options={"gamma_neg": 2})
    assert options.loss_options == (("gamma_neg", 2.0),)
    assert TrainOptions.from_dict(options.to_dict()) == options
    with pytest.raises(ConfigError, match="give one of them"):
        TrainOptions(pos_weight="auto", loss_options={"gamma_neg": 2})
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainOptions.from_dict({"epochz": 3})


def test_cli_words_parse_to_values() -> None:
    assert parse_flag("hidden", "none") == () and parse_flag("hidden", "64,32") == (64, 32)
    assert parse_flag("early_stopping_patience", "none") is None
    assert parse_flag("epochs", "auto") == AUTO and parse_flag("epochs", "7") == 7
    assert parse_flag("pos_weight", "auto") == AUTO
    assert parse_flag("loss_options", ["gamma_neg=2"]) == (("gamma_neg", 2.0),)
    with pytest.raises(ConfigError, match="--epochs"):
        parse_flag("epochs", "many")
    assert check_value("threads", AUTO) == AUTO


def test_shaped_defaults_and_what_the_mode_decides() -> None:
    small = resolve(TrainOptions(), SMALL).options
    assert (small.ensemble, small.hidden, small.batch_size, small.loss) == (5, (256,), 64,
                                                                           "asymmetric")
    large = resolve(TrainOptions(), LARGE).options
    assert (large.ensemble, large.hidden, large.batch_size, large.dropout) == (1, (512,), 256,
                                                                               0.5)
    assert large.validation_split == 0.1 and large.validation_strategy == "stratified"
    streamed = resolve(TrainOptions(), SMALL, STREAM).options
    assert streamed.ensemble == 1 and streamed.validation_strategy == "random"
    assert resolve(TrainOptions(threshold=0.3), SMALL).options.decision == "fixed"
    assert resolve(TrainOptions(threshold=0.3), SMALL).options.loss == "bce"
    assert resolve(TrainOptions(top_k=2), SMALL).options.decision == "top_k"


@pytest.mark.parametrize(("values", "mode", "message"), [
    ({"model": "auto"}, STREAM, "--stream: --model auto needs every row in memory"),
    ({"ensemble": 3}, STREAM, "--stream: --ensemble 3"),
    ({"validation_strategy": "tail"}, STREAM, "--stream: --validation-strategy tail"),
    ({"scale": "tfidf"}, STREAM, "--stream: --scale tfidf"),
    ({"model": "br-svm"}, DISTRIBUTED, "--distributed: --model br-svm"),
])
def test_a_mode_refuses_what_it_cannot_honour(values, mode, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check_mode(TrainOptions(**values), mode)


def test_what_a_mode_does_not_use_is_said() -> None:
    notices = resolve(TrainOptions(validation_split=0.3), SMALL).notices
    assert any("--validation-split 0.3 not used" in n for n in notices)
    with pytest.raises(ConfigError, match="applies to one network"):
        resolve(TrainOptions(validation_split=0.3, ensemble=3), SMALL)
    notices = resolve(TrainOptions(model="br-svm", epochs=5), SMALL, MEMORY).notices
    assert any("--model br-svm does not use --epochs" in n for n in notices)
    notices = resolve(TrainOptions(n_jobs=2), LARGE).notices
    assert any("--jobs 2 not used" in n for n in notices)
