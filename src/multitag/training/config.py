"""What the training loop needs to know, as one frozen record.

Built by the pipeline from validated `TrainOptions` (multitag.options), where every user-facing
value is declared and checked; the defaults here are that table's, for code that drives the
loop directly (tests, benchmarks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from multitag.models.losses import LossSpec
from multitag.options import DEFAULTS

MONITORS = ("loss", "score")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, batches, optimizer, early stopping, seed, threads and the loss.
    `monitor` is what early stopping watches: the validation loss, or a score of the
    validation predictions (higher is better) given to the Trainer."""

    epochs: int
    batch_size: int
    learning_rate: float = DEFAULTS["learning_rate"]
    optimizer: str = DEFAULTS["optimizer"]
    weight_decay: float = DEFAULTS["weight_decay"]
    lr_schedule: str = DEFAULTS["lr_schedule"]
    early_stopping_patience: int | None = None
    restore_best: bool = True
    monitor: str = "loss"
    shuffle: bool = True
    seed: int = DEFAULTS["seed"]
    threads: int | None = None  # None: chosen from the network's size and the load
    loss: LossSpec = field(default_factory=LossSpec)
    device: str = DEFAULTS["device"]
    mixed_precision: bool = DEFAULTS["mixed_precision"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
