"""Fixed-capacity replay buffer of (action, reward), as preallocated arrays.

The fill level lives in the state (int32 arrays), so the buffer survives ``scan``
and ``vmap``; inserts overwrite the oldest entry once full; minibatches are drawn
uniformly with replacement from the filled part.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
    actions: jax.Array  # float32[capacity, rows, cols]
    rewards: jax.Array  # float32[capacity]
    insert_pos: jax.Array  # int32 scalar
    size: jax.Array  # int32 scalar


def replay_init(capacity: int, action_shape: tuple[int, ...]) -> ReplayState:
    if capacity < 1:
        raise ValueError(f"replay capacity must be >= 1, got {capacity}")
    return ReplayState(
        actions=jnp.zeros((capacity, *action_shape), jnp.float32),
        rewards=jnp.zeros((capacity,), jnp.float32),
        insert_pos=jnp.int32(0),
        size=jnp.int32(0),
    )


def replay_insert(buf: ReplayState, action: chex.Array, reward: chex.Array) -> ReplayState:
    chex.assert_shape(action, buf.actions.shape[1:])
    capacity = buf.rewards.shape[0]
    return buf.replace(
        actions=buf.actions.at[buf.insert_pos].set(action),
        rewards=buf.rewards.at[buf.insert_pos].set(reward),
        insert_pos=(buf.insert_pos + 1) % capacity,
        size=jnp.minimum(buf.size + 1, capacity),
    )


def replay_query_index(buf: ReplayState, inserted: chex.Array) -> tuple[jax.Array, jax.Array]:
    """``(query, valid)``: which of the ``inserted`` inserts so far each row holds (the latest one, once full)."""
    capacity = buf.rewards.shape[0]
    rows = jnp.arange(capacity, dtype=jnp.int32)
    valid = rows < jnp.minimum(inserted, capacity)
    query = rows + capacity * (jnp.maximum(inserted - 1 - rows, 0) // capacity)
    return jnp.where(valid, query, 0).astype(jnp.int32), valid


def replay_sample(buf: ReplayState, key: chex.PRNGKey, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """``batch_size`` (action, reward) pairs uniformly with replacement from the filled part."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return buf.actions[idx], buf.rewards[idx]


def replay_normalize(buf: ReplayState, rewards: chex.Array, mode: str) -> chex.Array:
    """Rewards relative to the buffer's filled part.

    ``"none"``: unchanged; ``"standardize"``: (r - mean) / std; ``"rank"``: empirical
    CDF of r among the buffer's rewards, centred to [-0.5, 0.5] (robust to the long
    low tail and to the narrow band raw acc/max_acc rewards occupy).
    """
    if mode == "none":
        return rewards
    valid = jnp.arange(buf.rewards.shape[0]) < buf.size
    n = jnp.maximum(buf.size, 1).astype(jnp.float32)
    if mode == "standardize":
        mean = jnp.sum(jnp.where(valid, buf.rewards, 0.0)) / n
        var = jnp.sum(jnp.where(valid, (buf.rewards - mean) ** 2, 0.0)) / n
        return (rewards - mean) / jnp.sqrt(var + 1e-8)
    if mode == "rank":
        less = jnp.sum(valid[None, :] & (buf.rewards[None, :] < rewards[:, None]), axis=1)
        eq = jnp.sum(valid[None, :] & (buf.rewards[None, :] == rewards[:, None]), axis=1)
        return (less + 0.5 * eq) / n - 0.5
    raise ValueError(f"unknown reward normalization {mode!r}")
