"""Actor and critic MLPs (Flax linen)."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    """ReLU MLP with an optional output activation."""

    hidden: Sequence[int]
    out_dim: int
    out_act: Callable[[jnp.ndarray], jnp.ndarray] | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
        x = nn.Dense(self.out_dim)(x)
        return x if self.out_act is None else self.out_act(x)


class Actor(nn.Module):
    """State (flattened top-k one-hot mean) -> continuous architecture alpha in [0, 1].

    ``out="sigmoid"`` (paper): independent sigmoids; ``out="softmax"``: a softmax per
    row, so alpha lies on the simplex of the one-hot encodings (no saturated ties).
    """

    alpha_shape: tuple[int, int]
    hidden: Sequence[int] = (128, 128, 128)
    out: str = "sigmoid"

    @nn.compact
    def __call__(self, state: jnp.ndarray) -> jnp.ndarray:
        rows, cols = self.alpha_shape
        logits = MLP(self.hidden, rows * cols)(state).reshape(state.shape[:-1] + (rows, cols))
        return nn.softmax(logits, axis=-1) if self.out == "softmax" else nn.sigmoid(logits)


class Critic(nn.Module):
    """Action-only critic: alpha (or its one-hot) -> predicted reward quantile."""

    hidden: Sequence[int] = (128, 128, 128)

    @nn.compact
    def __call__(self, alpha: jnp.ndarray) -> jnp.ndarray:
        x = alpha.reshape(alpha.shape[:-2] + (-1,))
        return MLP(self.hidden, 1)(x)[..., 0]
