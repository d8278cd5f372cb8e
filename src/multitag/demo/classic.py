"""The classic Keras multi-label example, reproduced honestly and measured against Bayes-optimal.

Data: `make_multilabel_classification(10000, 6 features, 3 classes, 2 labels, random_state=42)`,
split by `train_test_split(test_size=0.33, random_state=42)`; network Dense 32-16-8 ReLU, 3
sigmoid outputs, BCE, Adam 1e-3, batch 250, 50 epochs, the last 20% of training rows held out for
validation (as Keras' `validation_split=0.2`). Because the generating distributions are known, the
Bayes-optimal predictions on the same test rows show how much error is irreducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.synthetic import SyntheticSpec, make_synthetic
from multitag.exceptions import ConfigError
from multitag.options import TrainOptions

# The original program's network and training, as training options (multitag.options).
CLASSIC: dict[str, Any] = {
    "hidden": (32, 16, 8), "epochs": 50, "batch_size": 250, "learning_rate": 1e-3,
    "optimizer": "adam", "weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.0,
    "ensemble": 1, "validation_split": 0.2, "validation_strategy": "tail",
    "early_stopping_patience": None, "early_stopping_monitor": "loss", "loss": "bce",
    "decision": "fixed", "threshold": 0.5, "scale": "none",
}
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Chosen by a sweep over 4 seeds (width, depth, rate, schedule, early stopping): inputs
    # standardised, 3x the learning rate decayed by a cosine over 150 epochs.
    "tuned": {"scale": "standard", "learning_rate": 3e-3, "epochs": 150,
              "lr_schedule": "cosine"},
}
DATA_FIELDS = ("samples", "features", "classes", "labels", "test_size", "data_seed")


@dataclass(frozen=True)
class DemoConfig:
    """The synthetic data of the classic example, and how it is trained (`options`, the
    original's by default)."""

    samples: int = 10_000
    features: int = 6
    classes: int = 3
    labels: int = 2
    test_size: float = 0.33
    data_seed: int = 42
    preset: str = "default"
    options: TrainOptions = field(default_factory=lambda: TrainOptions(**CLASSIC))

    def __post_init__(self) -> None:
        if not 0.0 < self.test_size < 1.0:
            raise ConfigError(f"`test_size` must be a number in (0, 1); got {self.test_size}")
        for name in ("samples", "features", "classes", "labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"`--{name.replace('_', '-')}` must be a positive integer; "
                                  f"got {value!r}")
        if not 0.0 < self.options.validation_split < 1.0:
            raise ConfigError("`--validation-split` must be a number in (0, 1) for the demo; "
                              f"got {self.options.validation_split}")

    def as_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in (*DATA_FIELDS, "preset")},
                **self.options.to_dict()}


def demo_config(preset: str = "default", **overrides: Any) -> DemoConfig:
    """The preset's configuration with explicit overrides (None values are ignored): data
    fields, or training options."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid: {sorted(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    data = {k: given.pop(k) for k in DATA_FIELDS if k in given}
    options = given.pop("options", None) or TrainOptions(**{**CLASSIC, **PRESETS[preset],
                                                            **given})
    return DemoConfig(preset=preset, options=options, **data)


@dataclass
class DemoResult:
    """Test metrics, the Bayes-optimal reference, training history and timings."""

    config: DemoConfig
    metrics: dict[str, Any]
    bayes: dict[str, float] | None
    bayes_skipped_reason: str | None
    history: list[dict[str, float]]
    conventions: list[str] = field(default_factory=list)
    n_train: int = 0
    n_valid: int = 0
    n_test: int = 0
    threads: int = 1

    def gaps(self) -> dict[str, float]:
        """Bayes-optimal minus model, for label and subset accuracy (what training could win)."""
        if not self.bayes:
            return {}
        return {name: self.bayes[name] - self.metrics[name]
                for name in ("label_accuracy", "subset_accuracy")}

    def metrics_json(self) -> dict[str, Any]:
        """Every metric (DESIGN names) plus timings and the Bayes-optimal figures."""
        payload = dict(self.metrics)
        if self.bayes:
            payload.update({f"bayes_{k}": v for k, v in self.bayes.items()})
        payload["config"] = self.config.as_dict()
        payload["threads"] = self.threads
        return payload


def split_like_sklearn(n_rows: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices exactly as `train_test_split(test_size, random_state=seed)`.

    Same permutation and sizes as scikit-learn's ShuffleSplit (a test checks equality); written
    out so the demo does not pay for importing `sklearn.model_selection`.
    """
    n_test = int(np.ceil(test_size * n_rows))
    permutation = np.random.RandomState(seed).permutation(n_rows)
    return permutation[n_test:], permutation[:n_test]


def run_demo(config: DemoConfig, callbacks: Sequence[Any] = ()) -> DemoResult:
    """Generate the data, train through the pipeline, evaluate on the test split and compare
    with Bayes-optimal."""
    from multitag.pipeline.evaluate import evaluate_model
    from multitag.pipeline.fit import train as train_model

    spec = SyntheticSpec(n_samples=config.samples, n_features=config.features,
                         n_classes=config.classes, n_labels=config.labels,
                         random_state=config.data_seed)
    data, distributions = make_synthetic(spec)
    train_rows, test_rows = split_like_sklearn(data.n_samples, config.test_size, config.data_seed)
    train, test = data.subset(train_rows, "train"), data.subset(test_rows, "test")
    outcome = train_model(train, config.options, callbacks=callbacks)
    evaluation = evaluate_model(outcome.bundle, test)
    metrics = {**evaluation.report.metrics, "fit_seconds": outcome.fit_seconds,
               "predict_seconds": evaluation.predict_seconds}
    bayes, reason = _bayes_reference(config, test.X, test.Y, distributions)
    n_valid = int(train.n_samples * config.options.validation_split)
    return DemoResult(
        config=config, metrics=metrics, bayes=bayes, bayes_skipped_reason=reason,
        history=outcome.bundle.history, conventions=list(evaluation.report.conventions),
        n_train=train.n_samples - n_valid, n_valid=n_valid, n_test=test.n_samples,
        threads=outcome.threads,
    )


def _bayes_reference(config, X, Y, distributions) -> tuple[dict[str, float] | None, str | None]:
    from multitag.demo import bayes

    if config.classes > bayes.MAX_CLASSES:
        return None, (f"Bayes-optimal reference skipped: exact for up to {bayes.MAX_CLASSES} "
                      f"classes, got {config.classes}")
    post = bayes.posterior(X, distributions.p_c, distributions.p_w_c, config.labels)
    marginals = np.clip(post.marginals(), 1e-12, 1 - 1e-12)
    loss = -np.mean(Y * np.log(marginals) + (1 - Y) * np.log(1 - marginals))
    return {
        "label_accuracy": float((post.best_labelwise() == Y).mean()),
        "subset_accuracy": float((post.best_subset() == Y).all(axis=1).mean()),
        "loss": float(loss),
    }, None
