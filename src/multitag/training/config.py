"""Training configuration: a frozen dataclass, validated once, stored with every model."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from multitag.exceptions import ConfigError
from multitag.models.losses import LossSpec

OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "plateau")
MONITORS = ("loss", "score")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, batches, optimizer, early stopping, seed, threads and the loss."""

    epochs: int = 50
    batch_size: int = 250
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    early_stopping_patience: int | None = None
    restore_best: bool = True
    monitor: str = "loss"
    shuffle: bool = True
    seed: int = 0
    threads: int | None = None
    loss: LossSpec = field(default_factory=LossSpec)
    device: str = "auto"
    mixed_precision: bool = False

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if not self.learning_rate > 0:
            raise ConfigError(f"`learning_rate` must be > 0; got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"`optimizer` must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"`lr_schedule` must be one of {LR_SCHEDULES}; got {self.lr_schedule!r}")
        if not isinstance(self.device, str) or not re.fullmatch(
                r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise ConfigError("`device` must be auto, cpu, cuda, cuda:N or mps; got "
                              f"{self.device!r}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"`monitor` must be one of {MONITORS}; got {self.monitor!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"`weight_decay` must be >= 0; got {self.weight_decay!r}")
        if self.early_stopping_patience is not None:
            _positive_int("early_stopping_patience", self.early_stopping_patience)
        if self.threads is not None:
            _positive_int("threads", self.threads)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys are an error that lists the valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; valid: {sorted(valid)}")
        values = dict(values)
        if isinstance(values.get("loss"), dict):
            loss = dict(values["loss"])
            if isinstance(loss.get("pos_weight"), list):
                loss["pos_weight"] = tuple(loss["pos_weight"])
            values["loss"] = LossSpec(**loss)
        return cls(**values)


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"`{name}` must be a positive integer; got {value!r}")
