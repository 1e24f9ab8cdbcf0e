"""Pure schedules of the search loop, functions of the (unbatched) query index."""

from __future__ import annotations

import chex
import jax.numpy as jnp


def cosine_epsilon(t: chex.Array, *, start: chex.Numeric, end: chex.Numeric, decay_steps: int) -> chex.Array:
    """epsilon cosine-annealed from ``start`` at ``t = 0`` to ``end`` at ``t >= decay_steps`` (both may be traced)."""
    frac = jnp.clip(t / max(decay_steps, 1), 0.0, 1.0)
    return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))


def num_updates(buffer_size: chex.Array, *, max_updates: int, per: int, learning_starts: int) -> chex.Array:
    """Minibatch updates for an env step: ``min(max_updates, 1 + size // per)``, 0 before learning starts."""
    n = jnp.minimum(max_updates, 1 + buffer_size // per)
    return jnp.where(buffer_size >= learning_starts, n, 0).astype(jnp.int32)
