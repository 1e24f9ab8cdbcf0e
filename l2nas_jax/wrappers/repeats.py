"""Query accounting option: serve repeats from a cache without spending budget.

By default every query counts, repeats included (a repeat on a table teaches the
searcher nothing, and the number of repeats is reported).  With
:func:`free_repeats`, any searcher -- the wrapper is identical for every method --
is stepped again, within the same query, while it proposes an architecture that
was already evaluated (the searcher still sees the value, as from a cache); only
the first new architecture is counted as a query.  ``max_tries`` bounds the work
per query; if it is exhausted the repeat is counted after all.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput


@struct.dataclass
class FreeRepeatsState:
    inner: Any
    seen: jax.Array  # bool[num_archs]


def free_repeats(searcher: Searcher, env: Environment, *, max_tries: int = 100) -> Searcher:
    """Wrap ``searcher`` so repeated architectures cost no budget (see module docstring)."""
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")

    def init(key: chex.PRNGKey) -> FreeRepeatsState:
        return FreeRepeatsState(inner=searcher.init(key), seen=jnp.zeros((env.num_archs,), bool))

    def step(st: FreeRepeatsState, t: chex.Array) -> tuple[FreeRepeatsState, StepOutput]:
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
        return FreeRepeatsState(inner=inner, seen=seen), out

    return Searcher(init=init, step=step)
