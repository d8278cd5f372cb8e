"""Decision rules: turn label probabilities into 0/1 label sets.

Each rule has `fit(Y_true, proba) -> self` (a no-op for fixed rules), `predict(proba)` -> uint8
array and a JSON-serialisable `to_dict()` / `from_dict()`. Rules are registered by name:
`fixed`, `global`, `per_label`, `top_k`, `at_least_one` (see `make_rule`, `rule_from_dict`).
Thresholds are tuned by `multitag.decision.tuning`. This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from multitag.decision.tuning import (
    check_int,
    check_objective,
    check_pair,
    check_proba,
    check_threshold,
    tune_global,
    tune_per_label,
)
from multitag.exceptions import ConfigError, NotFittedError

# Pseudo-positives of the global threshold in a label's threshold (PerLabelThreshold).
SHRINKAGE = 5.0


class DecisionRule:
    """Base class: `fit` (no-op by default), `predict`, `to_dict`, `from_dict`."""

    name: ClassVar[str] = ""
    params: ClassVar[tuple[str, ...]] = ()

    def fit(self, Y_true: object, proba: object) -> DecisionRule:
        """Check the inputs and tune the rule on them (fixed rules only check)."""
        self._validate()
        check_pair(Y_true, proba)
        return self

    def predict(self, proba: object) -> np.ndarray:
        """0/1 label sets (uint8, shape of `proba`)."""
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.params}

    def _validate(self) -> None:
        """Check the constructor arguments (raises `ConfigError`)."""

    def _check_labels(self, n_labels: int) -> None:
        """Check that the fitted state applies to `n_labels` labels (raises `ConfigError`)."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ConfigError(f"rule {self.name!r} takes no fitted state; got {sorted(state)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: {"rule": name, "params": {...}, "state": {...}}."""
        return {"rule": self.name, "params": self.get_params(), "state": self._state()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecisionRule:
        """The rule `to_dict` described, validated (unknown keys are a `ConfigError`)."""
        return rule_from_dict(d)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class FixedThreshold(DecisionRule):
    """A label is predicted when its probability is >= `threshold`."""

    name = "fixed"
    params = ("threshold",)

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def _validate(self) -> None:
        check_threshold(self.threshold)

    def predict(self, proba: object) -> np.ndarray:
        self._validate()
        return (check_proba(proba) >= self.threshold).astype(np.uint8)


class _Tuned(DecisionRule):
    """Shared parts of the rules tuned on validation data."""

    params = ("objective", "max_candidates")

    def __init__(self, objective: str = "micro_f1", max_candidates: int = 1000) -> None:
        self.objective = objective
        self.max_candidates = max_candidates

    def _validate(self) -> None:
        check_objective(self.objective)
        check_int(self.max_candidates, "max_candidates", 2)

    def _fitted(self, attr: str) -> Any:
        if not hasattr(self, attr):
            raise NotFittedError(f"this {self.name!r} rule is not fitted yet; call fit first")
        return getattr(self, attr)

    def _check_labels(self, n_labels: int) -> None:
        if not self._state():  # each tuned rule's state is empty until it is fitted
            raise ConfigError(f"a {self.name!r} rule saved with a model needs its tuned "
                              "`state`; got none")


class GlobalThreshold(_Tuned):
    """One threshold for every label, tuned on validation data (`threshold_`)."""

    name = "global"

    def fit(self, Y_true: object, proba: object) -> GlobalThreshold:
        self._validate()
        Y, S = check_pair(Y_true, proba)
        self.threshold_ = tune_global(Y, S, self.objective, self.max_candidates)
        return self

    def predict(self, proba: object) -> np.ndarray:
        threshold = self._fitted("threshold_")
        return (check_proba(proba) >= threshold).astype(np.uint8)

    def _state(self) -> dict[str, Any]:
        return {"threshold": self.threshold_} if hasattr(self, "threshold_") else {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        _only_keys(state, ("threshold",), "state")
        if "threshold" in state:
            self.threshold_ = check_threshold(state["threshold"], "state.threshold")


class PerLabelThreshold(_Tuned):
    """A threshold per label tuned on validation data (`thresholds_`), shrunk towards the
    tuned global threshold by the label's evidence: label j keeps the share
    n_j / (n_j + `shrinkage`) of its own threshold, n_j its positives in the tuning data. A label
    seen a few times does not get a threshold fitted to those few rows (on medical, per-label
    F1 thresholds of rare labels dropped micro-F1 from 0.79 to 0.19; shrunk, it rose to 0.80).
    The anchor is the global threshold tuned for the objective, or for micro-F1 when the
    objective is macro-F1 (whose global optimum rare labels pull down).

    Labels with no positive in the tuning data fall back to the tuned global threshold
    (`global_threshold_`); their indices are in `fallback_labels_`.
    """

    name = "per_label"
    params = ("objective", "max_candidates", "shrinkage")

    def __init__(self, objective: str = "micro_f1", max_candidates: int = 1000,
                 shrinkage: float = SHRINKAGE) -> None:
        super().__init__(objective, max_candidates)
        self.shrinkage = shrinkage

    def _validate(self) -> None:
        super()._validate()
        if isinstance(self.shrinkage, bool) or not isinstance(
                self.shrinkage, (int, float, np.integer, np.floating)) or self.shrinkage < 0:
            raise ConfigError(f"`shrinkage` must be a number >= 0; got {self.shrinkage!r}.")

    def fit(self, Y_true: object, proba: object) -> PerLabelThreshold:
        self._validate()
        Y, S = check_pair(Y_true, proba)
        own, self.global_threshold_ = tune_per_label(Y, S, self.objective, self.max_candidates)
        anchor = (tune_global(Y, S, "micro_f1", self.max_candidates)
                  if self.objective == "macro_f1" else self.global_threshold_)
        positives = Y.sum(axis=0).astype(np.float64)
        share = positives / (positives + float(self.shrinkage)) if self.shrinkage else 1.0
        self.thresholds_ = share * own + (1 - share) * anchor
        self.fallback_labels_ = [int(j) for j in np.flatnonzero(~Y.any(axis=0))]
        return self

    def predict(self, proba: object) -> np.ndarray:
        thresholds = self._fitted("thresholds_")
        return (check_proba(proba, len(thresholds)) >= thresholds).astype(np.uint8)

    def _state(self) -> dict[str, Any]:
        if not hasattr(self, "thresholds_"):
            return {}
        return {"thresholds": [float(t) for t in self.thresholds_],
                "global_threshold": self.global_threshold_,
                "fallback_labels": list(self.fallback_labels_)}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        keys = ("thresholds", "global_threshold", "fallback_labels")
        _only_keys(state, keys, "state")
        if not state:
            return
        if set(state) != set(keys):
            raise ConfigError(f"a fitted per_label state needs the keys {', '.join(keys)}")
        for key in ("thresholds", "fallback_labels"):
            if not isinstance(state[key], list):
                raise ConfigError(f"`state.{key}` must be a list; got "
                                  f"{type(state[key]).__name__}.")
        values = [check_threshold(t, f"state.thresholds[{i}]")
                  for i, t in enumerate(state["thresholds"])]
        self.thresholds_ = np.asarray(values, dtype=np.float64)
        self.global_threshold_ = check_threshold(state["global_threshold"],
                                                 "state.global_threshold")
        self.fallback_labels_ = [check_int(j, f"state.fallback_labels[{i}]", 0)
                                 for i, j in enumerate(state["fallback_labels"])]

    def _check_labels(self, n_labels: int) -> None:
        super()._check_labels(n_labels)
        if len(self.thresholds_) != n_labels:
            raise ConfigError(f"`state.thresholds` holds {len(self.thresholds_)} thresholds; "
                              f"expected one per label ({n_labels}).")
        if any(j >= n_labels for j in self.fallback_labels_):
            raise ConfigError(f"`state.fallback_labels` must be label indices below "
                              f"{n_labels}; got {max(self.fallback_labels_)}.")


class TopK(DecisionRule):
    """The `k` labels with the highest probabilities (ties broken arbitrarily)."""

    name = "top_k"
    params = ("k",)

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def _validate(self) -> None:
        check_int(self.k, "k", 1)

    def _check_labels(self, n_labels: int) -> None:
        if self.k > n_labels:
            raise ConfigError(f"`k` must be at most the number of labels ({n_labels}); "
                              f"got {self.k}.")

    def predict(self, proba: object) -> np.ndarray:
        self._validate()
        S = check_proba(proba)
        if self.k > S.shape[1]:
            raise ConfigError(
                f"`k` must be at most the number of labels ({S.shape[1]}); got {self.k}.")
        out = np.zeros(S.shape, dtype=np.uint8)
        top = np.argpartition(-S, self.k - 1, axis=1)[:, : self.k]
        np.put_along_axis(out, top, 1, axis=1)
        return out


class AtLeastOne(DecisionRule):
    """Another rule (`base`, default fixed 0.5), plus the best label in rows it leaves empty."""

    name = "at_least_one"
    params = ("base",)

    def __init__(self, base: DecisionRule | None = None) -> None:
        self.base = base

    def _rule(self) -> DecisionRule:
        if self.base is None:
            return FixedThreshold()
        if not isinstance(self.base, DecisionRule) or isinstance(self.base, AtLeastOne):
            raise ConfigError(f"`base` must be a decision rule other than at_least_one; "
                              f"got {self.base!r}.")
        return self.base

    def _validate(self) -> None:
        self._rule()._validate()

    def _check_labels(self, n_labels: int) -> None:
        self._rule()._check_labels(n_labels)

    def fit(self, Y_true: object, proba: object) -> AtLeastOne:
        self._rule().fit(Y_true, proba)
        return self

    def predict(self, proba: object) -> np.ndarray:
        out = self._rule().predict(proba)
        S = check_proba(proba)
        empty = np.flatnonzero(~out.any(axis=1))
        out[empty, S[empty].argmax(axis=1)] = 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.name, "params": {"base": self._rule().to_dict()}, "state": {}}


RULES: dict[str, type[DecisionRule]] = {
    cls.name: cls
    for cls in (FixedThreshold, GlobalThreshold, PerLabelThreshold, TopK, AtLeastOne)
}


def _only_keys(d: Mapping[str, Any], valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                          f"valid keys are: {', '.join(valid) or '(none)'}")


def make_rule(name: str, **params: Any) -> DecisionRule:
    """A new (unfitted) rule by registry name; unknown names or parameters list the valid ones."""
    if name not in RULES:
        raise ConfigError(f"unknown decision rule {name!r}; valid rules are: {', '.join(RULES)}")
    cls = RULES[name]
    _only_keys(params, cls.params, f"the parameters of rule {name!r}")
    rule = cls(**params)
    rule._validate()
    return rule


def rule_from_dict(d: Mapping[str, Any], *, n_labels: int | None = None) -> DecisionRule:
    """Rebuild a rule from `DecisionRule.to_dict()` output (e.g. read from a file), validating
    every value; with `n_labels`, also that its fitted state applies to that many labels (one
    threshold per label, k at most the labels)."""
    if not isinstance(d, Mapping) or not isinstance(d.get("rule"), str):
        raise ConfigError("a decision rule must be a mapping with a 'rule' name; got "
                          f"{repr(d)[:60]}")
    _only_keys(d, ("rule", "params", "state"), "the decision rule")
    params, state = d.get("params") or {}, d.get("state") or {}
    for key, value in (("params", params), ("state", state)):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"the decision rule's `{key}` must be a mapping; got "
                              f"{type(value).__name__}")
    params = dict(params)
    if d["rule"] == AtLeastOne.name and "base" in params:
        base = params["base"]
        if isinstance(base, Mapping) and base.get("rule") == AtLeastOne.name:  # no nesting
            raise ConfigError("`params.base` must be a decision rule other than at_least_one")
        params["base"] = rule_from_dict(base)
    rule = make_rule(d["rule"], **params)
    rule._set_state(state)
    if n_labels is not None:
        rule._check_labels(n_labels)
    return rule


def rule_thresholds(rule: DecisionRule, n_labels: int) -> np.ndarray | None:
    """The per-label thresholds a threshold rule applies (None for top-k style rules)."""
    state = rule.to_dict()
    if state["rule"] == "fixed":
        return np.full(n_labels, float(state["params"]["threshold"]))
    if state["rule"] == "global":
        return np.full(n_labels, float(state["state"]["threshold"]))
    if state["rule"] == "per_label":
        return np.asarray(state["state"]["thresholds"], dtype=np.float64)
    return None
