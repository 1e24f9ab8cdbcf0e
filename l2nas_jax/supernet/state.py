"""The training state of a supernet or fixed network: flax ``TrainState`` plus BatchNorm statistics."""

from __future__ import annotations

from typing import Any

from flax.training import train_state


class TrainState(train_state.TrainState):
    """flax TrainState plus BatchNorm running statistics."""

    batch_stats: Any = None
