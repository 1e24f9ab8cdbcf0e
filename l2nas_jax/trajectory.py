"""What every searcher returns: the sequence of queried architectures and their values.

A searcher only has to produce ``archs[T, *arch_shape]`` and the observed search
metric ``observed[T]``; :func:`make_trajectory` derives everything that is
reported, identically for every method (query accounting is shared, not
re-implemented per method):

* ``report[t]`` -- the reported metric of the architecture queried at ``t``;
* ``is_repeat[t]`` -- whether that architecture had been queried before;
* ``incumbent_*[t]`` -- the architecture with the best *observed search* metric so far
  (ties keep the earlier one) and its reported metric. Curves plot
  ``incumbent_report``: the search never sees the reported metric.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.envs.base import Environment


@struct.dataclass
class Trajectory:
    """Per-query record of one run (a leading seed axis when vmapped)."""

    archs: jax.Array  # int32[T, *arch_shape]
    observed: jax.Array  # float32[T]  search metric as the searcher saw it (maybe noisy)
    report: jax.Array  # float32[T]  reported metric of the queried arch
    is_repeat: jax.Array  # bool[T]
    incumbent_observed: jax.Array  # float32[T]
    incumbent_report: jax.Array  # float32[T]
    incumbent_index: jax.Array  # int32[T]  query index of the incumbent


def make_trajectory(env: Environment, archs: chex.Array, observed: chex.Array) -> Trajectory:
    """Derive reported values, repeats and the incumbent from a run's raw queries (pure, jittable)."""
    chex.assert_rank(observed, 1)
    chex.assert_equal(archs.shape[0], observed.shape[0])
    ids = jax.vmap(env.arch_id)(archs)
    report = jax.vmap(env.report)(archs)
    is_repeat = first_seen_mask(ids, env.num_archs)
    idx = jnp.arange(observed.shape[0], dtype=jnp.int32)

    def step(carry, x):
        best_val, best_i = carry
        val, i = x
        better = val > best_val
        carry = (jnp.where(better, val, best_val), jnp.where(better, i, best_i))
        return carry, carry

    init = (jnp.float32(-jnp.inf), jnp.int32(0))
    _, (inc_obs, inc_idx) = jax.lax.scan(step, init, (observed.astype(jnp.float32), idx))
    return Trajectory(
        archs=archs,
        observed=observed.astype(jnp.float32),
        report=report,
        is_repeat=is_repeat,
        incumbent_observed=inc_obs,
        incumbent_report=report[inc_idx],
        incumbent_index=inc_idx,
    )


def first_seen_mask(ids: chex.Array, num_ids: int) -> chex.Array:
    """``bool[T]``: True where ``ids[t]`` already occurred at some ``s < t``."""

    def step(seen, i):
        return seen.at[i].set(True), seen[i]

    _, rep = jax.lax.scan(step, jnp.zeros((num_ids,), dtype=bool), ids)
    return rep
