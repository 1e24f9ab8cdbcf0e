"""Local search (first-improvement hill climbing with random restarts) as a pure searcher.

White, Nolen & Savani, "Exploring the Loss Landscape in Neural Architecture Search"
(UAI 2021; arXiv 2005.02960, "Local Search is State of the Art for Neural Architecture
Search Benchmarks"), also NASLib's ``LocalSearch``: on NAS-Bench-201 this simple
method is as strong as any black-box optimizer.

* The first query evaluates a uniform random architecture (``env.random_arch``): the
  *current* point, with its observed value.
* Each later query proposes neighbours of the current point (``env.mutate``: one
  decision changed to a different value, drawn uniformly) that were not yet tried from
  it; the first one whose value is strictly greater than the current value becomes the
  current point (first improvement), and the tried set is emptied.
* Once ``num_neighbours`` distinct neighbours were tried without improvement (a local
  optimum), the search restarts at a fresh uniform random architecture.

**Repeats are free.**  Every evaluated architecture is kept with its observed value
(a history sized by the query budget).  Inside one step a ``lax.while_loop`` serves
proposals that are already in the history from it, without spending a query: a cached
neighbour counts as tried (and is moved to if it improves), a cached restart point
becomes the current point with its cached value, and the loop goes on until it
reaches an architecture not in the history -- the one architecture this step
evaluates (exactly one ``env.evaluate`` per step).  A cached repeat returns the stored
observation, never a fresh noisy draw.  Architectures match when their ``env.arch_id``
*and* their arrays are equal (ids are exact for table spaces; the array check keeps a
hashed id's rare collision from passing a new architecture off as a repeat).  The loop
is bounded by ``max_tries`` proposals; if it is exhausted (e.g. every neighbour of every
point met is already known, or a space has fewer distinct neighbours than
``num_neighbours``), the step evaluates a random architecture as a restart, repeat or not.

Neighbours are drawn with replacement, so a small buffer of the distinct neighbours
tried from the current point (reset on every move and restart) tells when all of them
were tried.  ``num_neighbours`` defaults to ``rows * (cols - 1)`` of ``env.alpha_shape``:
exact for grid spaces where every decision has ``cols`` values (NB201: 6 edges x 4 other
ops = 24); set ``max_neighbours`` for spaces where it is not.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.baselines._common import check_positive_int, next_keys
from l2nas_jax.core import validate
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput


@dataclasses.dataclass(frozen=True)
class LocalSearchConfig:
    """Local-search hyper-parameters."""

    max_neighbours: int = 0  # distinct neighbours of a point; 0: rows * (cols - 1) of env.alpha_shape
    max_tries: int = 1000  # proposals (cached ones included) one step may look at before it restarts

    def __post_init__(self) -> None:
        validate.nonnegative_int("LocalSearchConfig.max_neighbours", self.max_neighbours)
        check_positive_int("LocalSearchConfig", "max_tries", self.max_tries)


@struct.dataclass
class LocalSearchState:
    """History of evaluated architectures, the current point and the neighbours tried from it."""

    hist_archs: jax.Array  # int32[Q, *arch_shape]  every evaluated architecture, in query order
    hist_ids: jax.Array  # int32[Q]  their env.arch_id
    hist_values: jax.Array  # float32[Q]  their observed search metric
    count: jax.Array  # int32  evaluations so far (history rows in use: min(count, Q))
    current: jax.Array  # int32[*arch_shape]
    current_value: jax.Array  # float32
    has_current: jax.Array  # bool: False only before the first query
    tried: jax.Array  # int32[N, *arch_shape]  distinct neighbours tried from the current point
    num_tried: jax.Array  # int32
    restarts: jax.Array  # int32  restarts so far (the first random point is not one)
    key: jax.Array


def num_neighbours(env: Environment, config: LocalSearchConfig) -> int:
    """Distinct neighbours of a point: ``config.max_neighbours`` or ``rows * (cols - 1)`` of ``env.alpha_shape``."""
    if config.max_neighbours:
        return int(config.max_neighbours)
    rows, cols = env.alpha_shape
    return max(1, int(rows) * (int(cols) - 1))


def make_local_search(env: Environment, config: LocalSearchConfig, queries: int) -> Searcher:
    """Local search on ``env``; ``queries`` sizes the history of evaluated architectures (the repeat cache).

    Evaluations beyond ``queries`` (a searcher stepped more often than its budget) are
    not cached; the search stays correct, only such repeats are no longer free.
    """
    capacity = max(1, int(queries))
    n_nb = num_neighbours(env, config)
    arch_shape = tuple(env.arch_shape)
    arch_axes = tuple(range(1, 1 + len(arch_shape)))

    def init(key: chex.PRNGKey) -> LocalSearchState:
        zero_arch = jnp.zeros(arch_shape, jnp.int32)
        return LocalSearchState(
            hist_archs=jnp.zeros((capacity, *arch_shape), jnp.int32),
            hist_ids=jnp.zeros((capacity,), jnp.int32),
            hist_values=jnp.zeros((capacity,), jnp.float32),
            count=jnp.int32(0),
            current=zero_arch,
            current_value=jnp.float32(-jnp.inf),
            has_current=jnp.zeros((), bool),
            tried=jnp.zeros((n_nb, *arch_shape), jnp.int32),
            num_tried=jnp.int32(0),
            restarts=jnp.int32(0),
            key=key,
        )

    def step(state: LocalSearchState, t: chex.Array) -> tuple[LocalSearchState, StepOutput]:
        del t  # the method has no schedule
        key, (k_loop, k_fallback, k_eval) = next_keys(state.key, 3)
        in_history = jnp.arange(capacity) < state.count

        def lookup(arch: jax.Array) -> tuple[jax.Array, jax.Array]:
            """``(found, cached value)`` of ``arch`` in the history (the first match)."""
            same = (state.hist_ids == env.arch_id(arch)) & in_history
            same = same & jnp.all(state.hist_archs == arch, axis=arch_axes)
            return jnp.any(same), state.hist_values[jnp.argmax(same)]

        # Walk carry: (current, value, has_current, tried, num_tried, restarts, cached, tries, done, proposal, is_restart)
        def cond(c):
            return ~c[8] & (c[7] < config.max_tries)

        def body(c):
            cur, cur_val, has_cur, tried, n_tried, restarts, cached, tries, _, _, _ = c
            k_rand, k_mut = jax.random.split(jax.random.fold_in(k_loop, tries))
            restart = ~has_cur | (n_tried >= n_nb)
            cand = jnp.where(restart, env.random_arch(k_rand), env.mutate(k_mut, cur)).astype(jnp.int32)
            in_tried = jnp.any(jnp.all(tried == cand, axis=arch_axes) & (jnp.arange(n_nb) < n_tried))
            found, value = lookup(cand)
            restarts = restarts + (restart & has_cur).astype(jnp.int32)
            fresh = restart | ~in_tried  # not a redundant redraw of a tried neighbour
            served = fresh & found  # answered from the history without a query
            move = served & (restart | (value > cur_val))  # a cached restart point, or a cached improvement
            add = served & ~move  # a cached neighbour that does not improve: tried
            tried = jnp.where(add, tried.at[n_tried].set(cand, mode="drop"), tried)
            n_tried = jnp.where(move, 0, n_tried + add.astype(jnp.int32))
            cur = jnp.where(move, cand, cur)
            cur_val = jnp.where(move, value, cur_val)
            has_cur = has_cur | move
            done = fresh & ~found
            return (cur, cur_val, has_cur, tried, n_tried, restarts, cached + served.astype(jnp.int32),
                    tries + 1, done, cand, restart)

        start = (state.current, state.current_value, state.has_current, state.tried, state.num_tried,
                 state.restarts, jnp.int32(0), jnp.int32(0), jnp.zeros((), bool), state.current, jnp.zeros((), bool))
        cur, cur_val, has_cur, tried, n_tried, restarts, cached, _, done, cand, is_restart = jax.lax.while_loop(
            cond, body, start)

        # Out of tries: restart at a random architecture, evaluated even if it is a repeat.
        arch = jnp.where(done, cand, env.random_arch(k_fallback)).astype(jnp.int32)
        restarts = restarts + (~done & has_cur).astype(jnp.int32)
        is_restart = ~done | is_restart
        observed = jnp.asarray(env.evaluate(k_eval, arch), jnp.float32)

        move = is_restart | (observed > cur_val)
        tried = jnp.where(move, tried, tried.at[n_tried].set(arch, mode="drop"))
        n_tried = jnp.where(move, 0, n_tried + 1)
        cur = jnp.where(move, arch, cur)
        cur_val = jnp.where(move, observed, cur_val)

        state = state.replace(
            hist_archs=state.hist_archs.at[state.count].set(arch, mode="drop"),
            hist_ids=state.hist_ids.at[state.count].set(env.arch_id(arch).astype(jnp.int32), mode="drop"),
            hist_values=state.hist_values.at[state.count].set(observed, mode="drop"),
            count=state.count + 1,
            current=cur,
            current_value=cur_val,
            has_current=jnp.ones((), bool),
            tried=tried,
            num_tried=n_tried,
            restarts=restarts,
            key=key,
        )
        metrics = {"restarts": restarts, "cached": cached, "current": cur_val}
        return state, StepOutput(arch=arch, observed=observed, metrics=metrics)

    return Searcher(init=init, step=step)
