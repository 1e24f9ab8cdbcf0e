"""Query accounting option: serve repeats from a cache without spending budget.

By default every query counts, repeats included (a repeat on a table teaches the
searcher nothing, and the number of repeats is reported).  With
:func:`free_repeats`, any searcher -- the wrapper is identical for every method --
is stepped again, within the same query, while it proposes an architecture that
was already evaluated; only the first new architecture is counted as a query.
``max_tries`` bounds the work per query; if it is exhausted the repeat is counted after all.

A cache returns what it stored: under noise, a repeated architecture must give the
searcher its *cached observation*, not a fresh noisy draw (that would be a free extra
sample).  The wrapper therefore builds the searcher on an environment whose noise is a
fixed function of the architecture for the run (``env.with_noise_key``, keyed by the
run's key), so every evaluation of an architecture -- the counted one and every cached
one -- returns the same value.  Without noise nothing changes, bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.envs.base import Environment, with_noise_key
from l2nas_jax.searcher import Searcher, StepOutput

#: Folded into a run's key to get the key of its cached noise (the searcher's own key is left as it is).
NOISE_STREAM = 0x6E6F6973


@struct.dataclass
class FreeRepeatsState:
    inner: Any
    seen: jax.Array  # bool[num_archs]
    noise_key: jax.Array  # the run's evaluation noise, fixed per architecture


def free_repeats(build: Callable[[Environment], Searcher], env: Environment, *, max_tries: int = 100) -> Searcher:
    """The searcher ``build(env)``, with repeated architectures costing no budget (see module docstring)."""
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    if isinstance(build, Searcher):
        raise TypeError("free_repeats takes a function env -> Searcher (so the cache can fix the noise), "
                        "not a built Searcher")

    def inner_searcher(noise_key: chex.PRNGKey) -> Searcher:
        return build(with_noise_key(env, noise_key))

    def init(key: chex.PRNGKey) -> FreeRepeatsState:
        noise_key = jax.random.fold_in(key, NOISE_STREAM)
        return FreeRepeatsState(inner=inner_searcher(noise_key).init(key), seen=jnp.zeros((env.num_archs,), bool),
                                noise_key=noise_key)

    def step(st: FreeRepeatsState, t: chex.Array) -> tuple[FreeRepeatsState, StepOutput]:
        searcher = inner_searcher(st.noise_key)
        inner, out = searcher.step(st.inner, t)

        def again(carry):
            inner, out, tries = carry
            inner, out = searcher.step(inner, t)
            return inner, out, tries + 1

        def is_repeat(carry):
            _, out, tries = carry
            return st.seen[env.arch_id(out.arch)] & (tries < max_tries)

        inner, out, tries = jax.lax.while_loop(is_repeat, again, (inner, out, jnp.int32(1)))
        seen = st.seen.at[env.arch_id(out.arch)].set(True)
        out = out.replace(metrics={**out.metrics, "proposals": tries})
        return FreeRepeatsState(inner=inner, seen=seen, noise_key=st.noise_key), out

    return Searcher(init=init, step=step)
