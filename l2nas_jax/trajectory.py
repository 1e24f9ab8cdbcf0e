"""What every searcher returns: the sequence of queried architectures and their values.

A searcher only has to produce ``archs[T, *arch_shape]`` and the observed search
metric ``observed[T]``; :func:`make_trajectory` derives everything that is
reported, identically for every method (query accounting is shared, not
re-implemented per method):

* ``report[t]`` -- the reported metric of the architecture queried at ``t``;
* ``is_repeat[t]`` -- whether that architecture had been queried before;
* ``incumbent_*[t]`` -- the architecture the search would return after ``t + 1`` queries
  and its reported metric. Curves plot ``incumbent_report``: the search never sees the
  reported metric.

Two incumbent rules (:data:`INCUMBENT_RULES`), the same for every method:

* ``"observed"`` -- the best single observation (ties keep the earlier one). Under noise
  this is the winner's curse: the incumbent is usually a lucky draw.
* ``"denoised"`` (default) -- the best *estimated* value: each architecture's mean over its
  observations, shrunk toward the mean of all queried architectures by the noise level
  estimated from repeated observations (empirical Bayes, below). The noise level comes
  from the data only. Where no repeat differs from the first observation (every
  noise-free table, or no repeats at all) the estimate is the observation itself and the
  rule picks exactly what ``"observed"`` picks, bit for bit.

Shrinkage: with ``m_a`` the mean of ``n_a`` observations of architecture ``a``, the noise
variance ``s2`` is the pooled within-architecture variance of the repeats, ``mu`` and
``v`` the mean and variance of the ``m_a``, and ``tau2 = max(v - s2 * mean(1/n_a), eps)``
the spread of the true values; the estimate is ``mu + tau2 / (tau2 + s2 / n_a) * (m_a - mu)``.
"""

from __future__ import annotations

from typing import Literal

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.envs.base import Environment

#: Incumbent rules of :func:`make_trajectory` (the first is the default).
INCUMBENT_RULES: tuple[str, ...] = ("denoised", "observed")
IncumbentRule = Literal["denoised", "observed"]


@struct.dataclass
class Trajectory:
    """Per-query record of one run (a leading seed axis when vmapped)."""

    archs: jax.Array  # int32[T, *arch_shape]
    observed: jax.Array  # float32[T]  search metric as the searcher saw it (maybe noisy)
    report: jax.Array  # float32[T]  reported metric of the queried arch
    is_repeat: jax.Array  # bool[T]
    incumbent_observed: jax.Array  # float32[T]  the incumbent's (estimated) search metric
    incumbent_report: jax.Array  # float32[T]
    incumbent_index: jax.Array  # int32[T]  query index of the incumbent (its first query)


def make_trajectory(env: Environment, archs: chex.Array, observed: chex.Array,
                    incumbent: IncumbentRule = "denoised") -> Trajectory:
    """Derive reported values, repeats and the incumbent from a run's raw queries (pure, jittable)."""
    chex.assert_rank(observed, 1)
    chex.assert_equal(archs.shape[0], observed.shape[0])
    if incumbent not in INCUMBENT_RULES:
        raise ValueError(f"unknown incumbent rule {incumbent!r}; valid: {', '.join(INCUMBENT_RULES)}")
    ids = jax.vmap(env.arch_id)(archs)
    report = jax.vmap(env.report)(archs)
    is_repeat = first_seen_mask(ids, env.num_archs)
    observed = observed.astype(jnp.float32)
    if incumbent == "observed":
        inc_obs, inc_idx = best_observed(observed)
    else:
        inc_obs, inc_idx = best_estimated(observed, first_occurrence(ids))
    return Trajectory(
        archs=archs,
        observed=observed,
        report=report,
        is_repeat=is_repeat,
        incumbent_observed=inc_obs,
        incumbent_report=report[inc_idx],
        incumbent_index=inc_idx,
    )


def best_observed(observed: chex.Array) -> tuple[jax.Array, jax.Array]:
    """Running best single observation and its query index (ties keep the earlier one)."""
    idx = jnp.arange(observed.shape[0], dtype=jnp.int32)

    def step(carry, x):
        best_val, best_i = carry
        val, i = x
        better = val > best_val
        carry = (jnp.where(better, val, best_val), jnp.where(better, i, best_i))
        return carry, carry

    init = (jnp.float32(-jnp.inf), jnp.int32(0))
    _, (inc_obs, inc_idx) = jax.lax.scan(step, init, (observed, idx))
    return inc_obs, inc_idx


@struct.dataclass
class Moments:
    """Per-architecture running moments, indexed by the architecture's first query (Welford)."""

    mean: jax.Array  # float32[T]
    m2: jax.Array  # float32[T]  sum of squared deviations from the mean
    count: jax.Array  # float32[T]  observations so far (0: not queried yet)


def moments_init(size: int) -> Moments:
    z = jnp.zeros((size,), jnp.float32)
    return Moments(mean=z, m2=z, count=z)


def moments_add(m: Moments, slot: chex.Array, x: chex.Array) -> Moments:
    """Add observation ``x`` of the architecture in ``slot``; a repeat equal to the mean changes nothing."""
    n = m.count[slot] + 1.0
    delta = x - m.mean[slot]
    mean = m.mean[slot] + delta / n
    return Moments(mean=m.mean.at[slot].set(mean), m2=m.m2.at[slot].add(delta * (x - mean)),
                   count=m.count.at[slot].set(n))


def noise_variance(m: Moments) -> jax.Array:
    """Pooled within-architecture variance of the repeated observations (0 when nothing was repeated)."""
    dof = jnp.sum(jnp.maximum(m.count - 1.0, 0.0))
    return jnp.where(dof > 0, jnp.sum(m.m2) / jnp.maximum(dof, 1.0), 0.0)


def estimates(m: Moments) -> jax.Array:
    """Shrunk estimate of every queried architecture's value (``-inf`` for empty slots); see the module docstring."""
    seen = m.count > 0
    k = jnp.maximum(jnp.sum(seen), 1)
    s2 = noise_variance(m)
    mu = jnp.sum(jnp.where(seen, m.mean, 0.0)) / k
    v = jnp.sum(jnp.where(seen, (m.mean - mu) ** 2, 0.0)) / k
    inv_n = jnp.sum(jnp.where(seen, 1.0 / jnp.maximum(m.count, 1.0), 0.0)) / k
    tau2 = jnp.maximum(v - s2 * inv_n, 1e-6 * (v + s2) + 1e-12)
    w = tau2 / (tau2 + s2 / jnp.maximum(m.count, 1.0))
    est = jnp.where(s2 > 0, mu + w * (m.mean - mu), m.mean)
    return jnp.where(seen, est, -jnp.inf)


def best_estimated(observed: chex.Array, slots: chex.Array) -> tuple[jax.Array, jax.Array]:
    """Running best shrunk estimate and the first query of its architecture (``slots``: :func:`first_occurrence`)."""

    def step(m, x):
        val, slot = x
        m = moments_add(m, slot, val)
        est = estimates(m)
        i = jnp.argmax(est).astype(jnp.int32)
        return m, (est[i], i)

    _, (inc_obs, inc_idx) = jax.lax.scan(step, moments_init(observed.shape[0]), (observed, slots))
    return inc_obs, inc_idx


def first_occurrence(ids: chex.Array) -> jax.Array:
    """``int32[T]``: for each query, the index of the first query of the same architecture (O(T log T))."""
    n = ids.shape[0]
    order = jnp.argsort(ids, stable=True)
    s = ids[order]
    starts = jnp.concatenate([jnp.ones((1,), bool), s[1:] != s[:-1]])
    run_start = jax.lax.cummax(jnp.where(starts, jnp.arange(n), 0))
    return jnp.zeros((n,), jnp.int32).at[order].set(order[run_start].astype(jnp.int32))


def first_seen_mask(ids: chex.Array, num_ids: int) -> chex.Array:
    """``bool[T]``: True where ``ids[t]`` already occurred at some ``s < t``."""

    def step(seen, i):
        return seen.at[i].set(True), seen[i]

    _, rep = jax.lax.scan(step, jnp.zeros((num_ids,), dtype=bool), ids)
    return rep
