"""The searcher protocol: a pair of pure functions, driven one query at a time.

Every method (L2NAS, random search, regularized evolution, REINFORCE) is a
:class:`Searcher` -- ``init(key) -> state`` and ``step(state, t) -> (state, out)``,
where ``t`` is the query index (an unbatched int32, so schedules that depend on it
stay unbatched under a seed ``vmap``) and ``out`` is a :class:`StepOutput`.  The
shared runner scans ``step`` over queries, vmaps over seeds, and derives the
reported curves with :func:`l2nas_jax.trajectory.make_trajectory`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class StepOutput:
    """What one query produced: the architecture, its observed search metric, and extras."""

    arch: jax.Array  # int32[*arch_shape]
    observed: jax.Array  # float32 scalar
    metrics: dict[str, jax.Array]  # method-specific scalars (losses, epsilon, ...)


@struct.dataclass
class Denoised:
    """What a wrapper that re-measures architectures (:mod:`l2nas_jax.wrappers.reevaluate`) knows after a query.

    ``own[i]`` is the current denoised estimate of the searcher's own ``i``-th query (its own
    queries only, in order; ``-inf`` past ``own_count``); ``archs``/``estimates`` list every distinct
    architecture queried so far (re-evaluations included) with its estimate (``-inf``: empty slot).
    """

    own: jax.Array  # float32[T]
    own_count: jax.Array  # int32: how many of the searcher's own queries ``own`` holds
    archs: jax.Array  # int32[T, *arch_shape]
    estimates: jax.Array  # float32[T]


class Searcher(NamedTuple):
    """``init(key) -> state``; ``step(state, t) -> (state, StepOutput)``.

    ``observe(state, denoised) -> state`` (optional) lets a method replace the single noisy
    observations it keeps by the denoised estimates a re-evaluation wrapper maintains; it is
    called after every query, the wrapper's re-evaluations included.  ``None``: the method
    keeps what it observed (every baseline; the noise-free behaviour of every method).
    """

    init: Callable[[chex.PRNGKey], Any]
    step: Callable[[Any, chex.Array], tuple[Any, StepOutput]]
    observe: Callable[[Any, Denoised], Any] | None = None


def reward_scale(running_max: chex.Array, observed: chex.Array, fixed: chex.Array) -> tuple[jax.Array, jax.Array]:
    """``(scale, running_max')``: the environment's fixed reward scale, else the running max of ``|observed|``.

    Methods that divide rewards by a scale use this so none reads the table: a space declares
    its metric's scale (NB201: 100 for accuracies in %); without one (``fixed`` NaN, a generic
    table) the largest magnitude observed so far, this query included, is the scale (1 until non-zero).
    """
    running_max = jnp.maximum(running_max, jnp.abs(observed))
    scale = jnp.where(jnp.isnan(fixed), jnp.where(running_max > 0, running_max, 1.0), fixed)
    return scale, running_max


def scan_steps(searcher: Searcher, state: Any, start: int | chex.Array, length: int) -> tuple[Any, StepOutput]:
    """Advance ``state`` by ``length`` queries starting at query index ``start`` (one ``lax.scan``)."""
    ts = jnp.asarray(start, jnp.int32) + jnp.arange(length, dtype=jnp.int32)
    return jax.lax.scan(searcher.step, state, ts)


def run_searcher(searcher: Searcher, key: chex.PRNGKey, queries: int) -> tuple[Any, StepOutput]:
    """A whole run from ``key``: ``init`` then ``queries`` steps; jit/vmap this."""
    return scan_steps(searcher, searcher.init(key), 0, queries)
