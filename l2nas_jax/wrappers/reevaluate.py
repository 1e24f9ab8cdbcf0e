"""Budgeted re-evaluation: under noisy evaluations, spend some queries measuring the best candidates again.

Any searcher -- the wrapper is the same for every method, so comparisons stay fair --
is interleaved with re-evaluations: every ``every``-th query from query ``start`` (50:
early queries are worth more finding good regions -- measured on NB201 at sigma 0.5, starting
at 50 instead of 4 gains ~0.35 points at 50 queries and ~0.2 at 100 on CIFAR-100 and loses
nothing later), if the evaluations look noisy, the wrapper does not step the searcher but
evaluates again one of the ``top`` architectures with the best *estimated* value
(:func:`l2nas_jax.trajectory.estimates`: the mean of an architecture's observations
shrunk by the noise level estimated from repeats) -- the one measured fewest times,
ties to the better estimate.  Every re-evaluation is a query and counts toward the
budget; the trajectory's ``"denoised"`` incumbent then averages it in.  A searcher with an
``observe`` function (L2NAS) is given the denoised estimates after every query
(:class:`~l2nas_jax.searcher.Denoised`), so its own state stops taking lucky draws at face value.

"Look noisy": no repeat has been measured yet (the first re-evaluation probes the
noise), or the estimated noise's standard error on the candidate is larger than
``gap_ratio`` times the spread of the top estimates.  On a noise-free table repeats
agree, the estimated noise is 0, and after one probe no more queries are spent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.core import validate
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Denoised, Searcher, StepOutput
from l2nas_jax.trajectory import Moments, estimates, moments_add, moments_init, noise_variance


@dataclasses.dataclass(frozen=True)
class ReevaluateConfig:
    """How often and among how many candidates to re-evaluate."""

    every: int = 4  # at most one re-evaluation per this many queries
    top: int = 5  # candidates: the architectures with the best estimates
    gap_ratio: float = 0.1  # re-evaluate while the standard error exceeds this fraction of the top estimates' spread
    start: int = 50  # no re-evaluation before this query: early queries are worth more finding good regions

    def __post_init__(self) -> None:
        validate.integer("reevaluate every", self.every, lo=2)
        validate.positive_int("reevaluate top", self.top)
        validate.nonnegative_float("reevaluate gap_ratio", self.gap_ratio)
        validate.nonnegative_int("reevaluate start", self.start)


@struct.dataclass
class ReevaluateState:
    inner: Any
    archs: jax.Array  # int32[T, *arch_shape]: each distinct architecture, at the index of its first query
    ids: jax.Array  # int32[T]: its arch_id (-1: empty)
    moments: Moments  # observations per architecture (same indexing)
    own_slots: jax.Array  # int32[T]: the slot of the inner searcher's i-th own query
    own_count: jax.Array  # int32: the inner searcher's own queries so far
    key: jax.Array


def find_slot(ids: chex.Array, arch_id: chex.Array, t: chex.Array) -> jax.Array:
    """Index of the first query of architecture ``arch_id`` among ``ids``, else ``t`` (a new architecture)."""
    hit = ids == arch_id
    return jnp.where(jnp.any(hit), jnp.argmax(hit), t).astype(jnp.int32)


def reevaluate(searcher: Searcher, env: Environment, queries: int, config: ReevaluateConfig) -> Searcher:
    """``searcher`` with budgeted re-evaluations of its best-estimated architectures (see the module docstring)."""
    top = min(config.top, queries)

    def init(key: chex.PRNGKey) -> ReevaluateState:
        return ReevaluateState(
            inner=searcher.init(key),
            archs=jnp.zeros((queries, *env.arch_shape), jnp.int32),
            ids=jnp.full((queries,), -1, jnp.int32),
            moments=moments_init(queries),
            own_slots=jnp.zeros((queries,), jnp.int32),
            own_count=jnp.int32(0),
            key=jax.random.fold_in(key, 0x7265),
        )

    def step(st: ReevaluateState, t: chex.Array) -> tuple[ReevaluateState, StepOutput]:
        t = jnp.asarray(t, jnp.int32)
        key, k_eval = jax.random.split(st.key)
        est = estimates(st.moments)
        vals, slots = jax.lax.top_k(est, top)
        valid = jnp.isfinite(vals)
        n = jnp.where(valid, st.moments.count[slots], jnp.inf)
        pick = jnp.argmin(n)  # top_k is sorted: ties go to the better estimate
        slot = slots[pick]
        s2 = noise_variance(st.moments)
        probed = jnp.sum(jnp.maximum(st.moments.count - 1.0, 0.0)) > 0
        spread = vals[0] - jnp.min(jnp.where(valid, vals, vals[0]))
        noisy = jnp.sqrt(s2 / jnp.maximum(n[pick], 1.0)) > config.gap_ratio * spread
        due = (t >= config.start) & (t % config.every == config.every - 1) & (valid.sum() >= 2)
        again = due & (~probed | noisy)

        def re(_):
            arch = st.archs[slot]
            out = StepOutput(arch=arch, observed=jnp.asarray(env.evaluate(k_eval, arch), jnp.float32),
                             metrics=jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), metrics_shape))
            return st.inner, out

        def fresh(_):
            return searcher.step(st.inner, t)

        inner, out = jax.lax.cond(again, re, fresh, None)
        arch_id = env.arch_id(out.arch)
        s = find_slot(st.ids, arch_id, t)
        own_slots = jnp.where(again, st.own_slots, st.own_slots.at[st.own_count].set(s))
        own_count = st.own_count + jnp.where(again, 0, 1).astype(jnp.int32)
        archs = st.archs.at[s].set(out.arch.astype(jnp.int32))
        moments = moments_add(st.moments, s, out.observed)
        if searcher.observe is not None:
            est_new = estimates(moments)
            own = jnp.where(jnp.arange(queries) < own_count, est_new[own_slots], -jnp.inf)
            inner = searcher.observe(inner, Denoised(own=own, own_count=own_count, archs=archs, estimates=est_new))
        new = ReevaluateState(inner=inner, archs=archs, ids=st.ids.at[s].set(arch_id), moments=moments,
                              own_slots=own_slots, own_count=own_count, key=key)
        return new, out.replace(metrics={**out.metrics, "reevaluated": again})

    # The inner searcher's metrics structure (zeros on re-evaluation steps), from an abstract step.
    metrics_shape = jax.eval_shape(lambda k: searcher.step(searcher.init(k), jnp.int32(0))[1].metrics,
                                   jax.random.key(0))
    return Searcher(init=init, step=step)
