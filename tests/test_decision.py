"""multitag.decision.rules: rules, exact tuning, never worse than 0.5 on the tuning data, JSON
state."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from multitag.decision import (
    OBJECTIVES,
    RULES,
    AtLeastOne,
    FixedThreshold,
    GlobalThreshold,
    PerLabelThreshold,
    TopK,
    candidates,
    check_threshold,
    make_rule,
    objective_value,
    rule_from_dict,
)
from multitag.exceptions import ConfigError, DataFormatError, NotFittedError
from multitag.metrics.evaluation import evaluate

METRIC_OF = {"micro_f1": "micro_f1", "macro_f1": "macro_f1", "samples_f1": "samples_f1",
             "hamming": "hamming_loss"}


def _case(seed: int, n: int = 80, n_labels: int = 5, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < 0.25).astype(np.uint8)
    S = np.clip(0.3 * Y + 0.55 * rng.random((n, n_labels)), 0, 1)
    return Y, (S if decimals is None else np.round(S, decimals))


def _better_or_equal(objective: str, tuned: float, fixed: float) -> bool:
    if objective == "hamming":
        return tuned <= fixed + 1e-12
    return tuned >= fixed - 1e-12


# ---- the objective matches the metrics module ---------------------------------------------------

@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objective_value_matches_evaluate(objective: str) -> None:
    Y, S = _case(0)
    Y[:, 1] = 0  # an absent label: macro F1 is over the others, as in evaluate
    P = (S >= 0.4).astype(np.uint8)
    expected = evaluate(Y, S, P).metrics[METRIC_OF[objective]]
    assert objective_value(objective, Y, P) == pytest.approx(expected, abs=1e-12)


# ---- tuning is exact and never worse than 0.5 ---------------------------------------------------

def _brute_force_global(objective: str, Y: np.ndarray, S: np.ndarray) -> float:
    """The best objective over every distinct cut of the scores (computed with scikit-learn)."""
    cuts = np.concatenate([np.unique(S), [np.inf]])
    values = []
    for t in cuts:
        P = np.greater_equal(S, t).astype(np.uint8)
        if Y.shape[1] == 1 and objective != "hamming":  # scikit-learn reads one column as binary
            values.append(skm.f1_score(Y[:, 0], P[:, 0], zero_division=0))
        elif objective == "hamming":
            values.append(-skm.hamming_loss(Y, P))
        elif objective == "macro_f1":
            present = np.flatnonzero(Y.any(axis=0))
            values.append(skm.f1_score(Y, P, average="macro", labels=present, zero_division=0))
        else:
            values.append(skm.f1_score(Y, P, average=objective[:-3], zero_division=0))
    return max(values)


@pytest.mark.parametrize("objective", ["micro_f1", "macro_f1", "hamming"])
@pytest.mark.parametrize("seed", range(3))
def test_global_tuning_is_exact(objective: str, seed: int) -> None:
    Y, S = _case(seed, n=40, n_labels=4, decimals=2)
    rule = GlobalThreshold(objective=objective).fit(Y, S)
    got = objective_value(objective, Y, rule.predict(S))
    best = _brute_force_global(objective, Y, S)
    assert (-got if objective == "hamming" else got) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("objective", ["macro_f1", "hamming"])
@pytest.mark.parametrize("seed", range(3))
def test_per_label_tuning_is_exact_for_separable_objectives(objective: str, seed: int) -> None:
    Y, S = _case(seed, n=50, n_labels=4, decimals=2)
    rule = PerLabelThreshold(objective=objective, shrinkage=0).fit(Y, S)  # each label's own
    P = rule.predict(S)
    for j in range(Y.shape[1]):
        best = _brute_force_global(objective, Y[:, [j]], S[:, [j]])
        got = objective_value(objective, Y[:, [j]], P[:, [j]])
        assert (-got if objective == "hamming" else got) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("rule_cls", [GlobalThreshold, PerLabelThreshold])
def test_tuning_improves_on_skewed_scores(objective: str, rule_cls: type) -> None:
    Y, S = _case(5, n=200, n_labels=6)
    S = S * 0.6  # every score below ~0.5: the fixed rule predicts almost nothing
    fixed = objective_value(objective, Y, (S >= 0.5).astype(np.uint8))
    tuned = objective_value(objective, Y, rule_cls(objective=objective).fit(Y, S).predict(S))
    assert _better_or_equal(objective, tuned, fixed) and tuned != fixed


@st.composite
def _tuning_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 15))
    n_labels = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Y = (rng.random((n, n_labels)) < draw(st.floats(0, 1))).astype(np.uint8)
    S = np.round(rng.random((n, n_labels)), draw(st.integers(0, 3)))
    return Y, S


@settings(max_examples=30, deadline=None)
@given(_tuning_cases(), st.sampled_from(OBJECTIVES), st.booleans())
def test_tuning_never_worse_than_fixed_half(case, objective: str, per_label: bool) -> None:
    Y, S = case
    rule = (PerLabelThreshold if per_label else GlobalThreshold)(objective=objective).fit(Y, S)
    metric = METRIC_OF[objective]
    tuned = evaluate(Y, S, rule.predict(S)).metrics[metric]
    fixed = evaluate(Y, S).metrics[metric]
    if fixed is None:  # macro F1 with no positive at all
        assert tuned is None
        return
    assert _better_or_equal(objective, tuned, fixed)


@pytest.mark.parametrize("objective", ["micro_f1", "macro_f1"])
def test_per_label_thresholds_shrink_towards_the_global_one(objective: str) -> None:
    Y, S = _case(4, n=80, n_labels=5, decimals=2)
    own = PerLabelThreshold(objective=objective, shrinkage=0).fit(Y, S).thresholds_
    shrunk = PerLabelThreshold(objective=objective, shrinkage=5).fit(Y, S)
    anchor = GlobalThreshold(objective="micro_f1" if objective == "macro_f1"
                             else objective).fit(Y, S).threshold_
    share = Y.sum(axis=0) / (Y.sum(axis=0) + 5.0)
    np.testing.assert_allclose(shrunk.thresholds_, share * own + (1 - share) * anchor)
    assert rule_from_dict(shrunk.to_dict()).to_dict() == shrunk.to_dict()


def test_per_label_falls_back_to_global_for_labels_without_positives() -> None:
    Y, S = _case(1)
    Y[:, 2] = 0
    rule = PerLabelThreshold(objective="macro_f1").fit(Y, S)
    assert rule.fallback_labels_ == [2]
    assert rule.thresholds_[2] == rule.global_threshold_


def test_sparse_labels_tune_like_dense() -> None:
    Y, S = _case(6)
    dense = PerLabelThreshold("micro_f1").fit(Y, S)
    sparse = PerLabelThreshold("micro_f1").fit(sp.csr_matrix(Y), S)
    np.testing.assert_array_equal(dense.thresholds_, sparse.thresholds_)


def test_candidates_cover_every_cut() -> None:
    values = np.array([0.2, 0.2, 0.6, 0.9])
    cands = candidates(values, 100, (0.5,))
    predicted_sets = {tuple(values >= c) for c in cands}
    assert len(predicted_sets) == 4  # all, {0.6, 0.9}, {0.9}, nothing
    assert cands.min() >= 0 and cands.max() <= 1 and 0.5 in cands
    assert len(candidates(np.linspace(0, 1, 5000), 50)) <= 53


def test_large_tuning_is_fast() -> None:
    Y, S = _case(0, n=3000, n_labels=300)
    start = time.perf_counter()
    for objective in OBJECTIVES:
        PerLabelThreshold(objective=objective).fit(Y, S)
    assert time.perf_counter() - start < 20


# ---- fixed rules ----------------------------------------------------------------------------

def test_fixed_top_k_and_at_least_one() -> None:
    S = np.array([[0.9, 0.2, 0.6], [0.1, 0.3, 0.2], [0.4, 0.45, 0.7]])
    assert FixedThreshold().predict(S).tolist() == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]
    assert FixedThreshold(0.3).predict(S).tolist() == [[1, 0, 1], [0, 1, 0], [1, 1, 1]]
    assert TopK(2).predict(S).tolist() == [[1, 0, 1], [0, 1, 1], [0, 1, 1]]
    assert AtLeastOne().predict(S).tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert AtLeastOne(FixedThreshold(0.95)).predict(S).tolist() == [[1, 0, 0], [0, 1, 0],
                                                                    [0, 0, 1]]
    assert FixedThreshold().predict(S).dtype == np.uint8


def test_at_least_one_fits_its_base() -> None:
    Y, S = _case(2)
    rule = AtLeastOne(PerLabelThreshold()).fit(Y, S)
    assert rule.predict(S).any(axis=1).all()
    assert hasattr(rule.base, "thresholds_")


# ---- serialisation --------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    FixedThreshold(0.3), GlobalThreshold("macro_f1"), PerLabelThreshold("hamming", 50), TopK(2),
    AtLeastOne(), AtLeastOne(PerLabelThreshold("samples_f1")),
])
def test_round_trip_through_json(rule) -> None:
    Y, S = _case(3)
    rule.fit(Y, S)
    restored = rule_from_dict(json.loads(json.dumps(rule.to_dict())))
    assert type(restored) is type(rule)
    assert restored.to_dict() == rule.to_dict()
    np.testing.assert_array_equal(restored.predict(S), rule.predict(S))


def test_unfitted_round_trip_and_registry() -> None:
    assert set(RULES) == {"fixed", "global", "per_label", "top_k", "at_least_one"}
    rule = rule_from_dict(PerLabelThreshold().to_dict())
    with pytest.raises(NotFittedError, match="not fitted yet; call fit first"):
        rule.predict(np.zeros((2, 2)))
    assert make_rule("top_k", k=3).k == 3
    assert repr(make_rule("fixed", threshold=0.2)) == "FixedThreshold(threshold=0.2)"


# ---- bad input ------------------------------------------------------------------------------

def test_threshold_validation_message() -> None:
    with pytest.raises(ConfigError, match=r"^`threshold` must be a float in \[0, 1\]; got 1.5.$"):
        FixedThreshold(1.5).predict(np.zeros((1, 1)))
    with pytest.raises(ConfigError, match=r"`threshold` must be a float in \[0, 1\]; got True"):
        make_rule("fixed", threshold=True)
    assert check_threshold(1) == 1.0


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: make_rule("best"), ConfigError,
     "unknown decision rule 'best'; valid rules are: fixed, global, per_label, top_k"),
    (lambda: make_rule("fixed", k=2), ConfigError,
     "unknown key.*'k'.*valid keys are: threshold"),
    (lambda: make_rule("global", objective="accuracy"), ConfigError,
     "`objective` must be one of micro_f1, macro_f1, samples_f1, hamming; got 'accuracy'"),
    (lambda: make_rule("top_k", k=0), ConfigError, "`k` must be an integer >= 1; got 0"),
    (lambda: TopK(4).predict(np.zeros((2, 3))), ConfigError,
     r"`k` must be at most the number of labels \(3\); got 4"),
    (lambda: AtLeastOne(AtLeastOne()).predict(np.zeros((1, 2))), ConfigError,
     "`base` must be a decision rule other than at_least_one"),
    (lambda: rule_from_dict({"rule": "global", "state": {"threshold": 2}}), ConfigError,
     r"`state.threshold` must be a float in \[0, 1\]; got 2"),
    (lambda: rule_from_dict({"rule": "fixed", "extra": 1}), ConfigError,
     "unknown key.*'extra'.*valid keys are: rule, params, state"),
    (lambda: rule_from_dict({"rule": "per_label", "state": {"thresholds": [0.5]}}), ConfigError,
     "a fitted per_label state needs the keys"),
    (lambda: GlobalThreshold().fit(np.ones((2, 2)), np.ones((2, 3))), DataFormatError,
     r"Y_true has shape \(2, 2\) but proba has shape \(2, 3\)"),
    (lambda: GlobalThreshold().fit(np.full((2, 2), 2), np.ones((2, 2))), DataFormatError,
     "Y_true must hold only 0 and 1; got 2"),
    (lambda: FixedThreshold().predict(np.array([[0.1, np.nan]])), DataFormatError,
     "must be finite; got NaN"),
    (lambda: FixedThreshold().predict(np.array([[0.1, 1.2]])), DataFormatError,
     r"proba must hold probabilities in \[0, 1\]"),
    (lambda: FixedThreshold().predict(np.array([0.1, 0.2])), DataFormatError,
     "proba must be 2-D"),
])
def test_errors(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_per_label_predict_checks_label_count() -> None:
    Y, S = _case(4)
    rule = PerLabelThreshold().fit(Y, S)
    with pytest.raises(DataFormatError, match="proba has 3 label columns but the rule was "
                                              "fitted on 5"):
        rule.predict(S[:, :3])


def test_metrics_and_decision_do_not_import_torch() -> None:
    code = ("import sys, multitag.metrics.evaluation, multitag.decision.rules; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


_PER_LABEL = {"rule": "per_label", "params": {},
              "state": {"thresholds": [0.5, 0.4, 0.3], "global_threshold": 0.5,
                        "fallback_labels": [2]}}


@pytest.mark.parametrize(("d", "match"), [
    (_PER_LABEL, r"`state.thresholds` holds 3 thresholds; expected one per label \(4\)"),
    ({**_PER_LABEL, "state": {**_PER_LABEL["state"], "thresholds": [0.5] * 4,
                              "fallback_labels": [7]}}, "label indices below 4; got 7"),
    ({"rule": "top_k", "params": {"k": 5}}, r"at most the number of labels \(4\); got 5"),
    ({"rule": "at_least_one", "params": {"base": _PER_LABEL}}, "holds 3 thresholds"),
    ({"rule": "global", "params": {}, "state": {}}, "'global' rule saved with a model needs"),
    ({"rule": "per_label"}, "'per_label' rule saved with a model needs its tuned `state`"),
])
def test_rule_from_dict_checks_the_label_count(d, match) -> None:
    """A rule read from a file that does not fit the model's labels is refused when read,
    not at predict time."""
    rule_from_dict(d)  # fine on its own
    with pytest.raises(ConfigError, match=match):
        rule_from_dict(d, n_labels=4)


@pytest.mark.parametrize(("d", "match"), [
    ({"rule": ["fixed"]}, "mapping with a 'rule' name"),
    ({"rule": "fixed", "params": "threshold"}, "`params` must be a mapping; got str"),
    ({"rule": "fixed", "params": 5}, "`params` must be a mapping; got int"),
    ({"rule": "global", "state": [0.5]}, "`state` must be a mapping; got list"),
    ({**_PER_LABEL, "state": {**_PER_LABEL["state"], "fallback_labels": 2}},
     "`state.fallback_labels` must be a list; got int"),
    ({**_PER_LABEL, "state": {**_PER_LABEL["state"], "thresholds": "0.5"}},
     "`state.thresholds` must be a list; got str"),
    ({**_PER_LABEL, "state": {**_PER_LABEL["state"], "thresholds": [0.5, "x", 0.3]}},
     r"`state.thresholds\[1\]` must be a float"),
    ({"rule": "at_least_one", "params": {"base": {"rule": "at_least_one", "params": {
        "base": {"rule": "at_least_one"}}}}}, "other than at_least_one"),
])
def test_rule_from_dict_refuses_wrong_types_with_one_error(d, match) -> None:
    with pytest.raises(ConfigError, match=match):
        rule_from_dict(d)
