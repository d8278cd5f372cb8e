"""`Callback`: the hooks of training, each doing nothing unless overridden. Torch-free, so the
command line's progress displays can subclass it without importing torch."""

from __future__ import annotations

from typing import Any


class Callback:
    """Hooks called by the Trainer; each does nothing unless overridden."""

    def on_train_begin(self, trainer: Any, n_epochs: int) -> None: ...

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Any, result: Any) -> None: ...

    def on_loop_start(self, trainer: Any, state: Any) -> None:
        """Before the first epoch; may restore a saved `state` (see training.checkpoint)."""

    def on_epoch_complete(self, trainer: Any, state: Any) -> None:
        """After an epoch's bookkeeping (learning rate, best weights, early stopping)."""

    def on_networks_begin(self, n_networks: int, n_jobs: int) -> None:
        """Before the networks of a run train (`n_jobs` worker processes; 1: in turn)."""

    def on_networks_end(self, results: list[Any], seconds: float) -> None:
        """After every network of a run has trained."""
