"""Regularized (aging) evolution, REA (Real et al., AAAI 2019), as a pure searcher.

The first ``population`` queries are uniform random architectures.  After that,
each query draws ``sample_size`` members uniformly (with replacement) from the
population, mutates the fittest of them (``env.mutate``: one edge gets a different
op) and evaluates the child, which replaces the *oldest* member.  Fitness is the
observed search metric.

Defaults follow the NAS-Bench-201 authors' REA runs: population 10, tournament
sample size 3 (D-X-Y/AutoDL-Projects, ``exps/algos-v2/run-all.sh`` and the usage
lines of ``exps/algos-v2/REA.py``: ``--ea_population 10 --ea_sample_size 3``).
NASLib's defaults are larger (population 100, sample size 10,
``naslib/defaults/darts_defaults.yaml``); pass them as config overrides to compare.

The population is a fixed-size buffer with each member's arrival query: a new
member goes into the empty slot, or else the slot of the oldest member (smallest
arrival query), so no shape depends on the query index.  With the runner's
consecutive query indices this is a ring buffer (slot ``t mod P``).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.baselines._common import check_positive_int, next_keys
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput


@dataclasses.dataclass(frozen=True)
class REAConfig:
    """Regularized-evolution hyper-parameters (NAS-Bench-201 paper's REA setup)."""

    population: int = 10  # members kept alive; also the number of initial random queries
    sample_size: int = 3  # tournament size, drawn with replacement from the population

    def __post_init__(self) -> None:
        check_positive_int("REAConfig", "population", self.population)
        check_positive_int("REAConfig", "sample_size", self.sample_size)


@struct.dataclass
class REAState:
    """The population ring buffer; ``born[i]`` is the query index at which member ``i`` arrived (-1: empty)."""

    archs: jax.Array  # int32[P, *arch_shape]
    fitness: jax.Array  # float32[P]  observed search metric
    born: jax.Array  # int32[P]
    key: jax.Array


def make_rea(env: Environment, config: REAConfig, queries: int) -> Searcher:
    """Regularized evolution on ``env`` (``queries`` is unused: the method has no schedule)."""
    del queries
    pop = config.population

    def init(key: chex.PRNGKey) -> REAState:
        return REAState(
            archs=jnp.zeros((pop, *env.arch_shape), jnp.int32),
            fitness=jnp.full((pop,), -jnp.inf, jnp.float32),
            born=jnp.full((pop,), -1, jnp.int32),
            key=key,
        )

    def step(state: REAState, t: chex.Array) -> tuple[REAState, StepOutput]:
        t = jnp.asarray(t, jnp.int32)
        key, (k_rand, k_tour, k_mut, k_eval) = next_keys(state.key, 4)
        contestants = jax.random.randint(k_tour, (config.sample_size,), 0, pop)
        parent = state.archs[contestants[jnp.argmax(state.fitness[contestants])]]
        child = env.mutate(k_mut, parent)
        slot = jnp.argmin(state.born)  # an empty slot (born -1) first, else the oldest member
        filling = state.born[slot] < 0
        arch = jnp.where(filling, env.random_arch(k_rand), child).astype(jnp.int32)
        observed = jnp.asarray(env.evaluate(k_eval, arch), jnp.float32)
        state = state.replace(
            archs=state.archs.at[slot].set(arch),
            fitness=state.fitness.at[slot].set(observed),
            born=state.born.at[slot].set(t),
            key=key,
        )
        return state, StepOutput(arch=arch, observed=observed, metrics={"population_best": jnp.max(state.fitness)})

    return Searcher(init=init, step=step)
