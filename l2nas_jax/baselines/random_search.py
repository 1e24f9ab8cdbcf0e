"""Random search: every query is an architecture drawn uniformly by ``env.random_arch``.

The reference point every other method has to beat (Li & Talwalkar, 2019); on
NAS-Bench-201 it is also the "Random" row of the benchmark paper.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
from flax import struct

from l2nas_jax.baselines._common import next_keys
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput


@dataclasses.dataclass(frozen=True)
class RandomSearchConfig:
    """Random search has no hyper-parameters; the config exists for the method registry."""


@struct.dataclass
class RandomSearchState:
    """Only the key: each query splits it into (next key, arch key, eval key)."""

    key: jax.Array


def make_random_search(env: Environment, config: RandomSearchConfig, queries: int) -> Searcher:
    """Uniform random search over ``env`` (``queries`` is unused: the method has no schedule)."""
    del config, queries

    def init(key: chex.PRNGKey) -> RandomSearchState:
        return RandomSearchState(key=key)

    def step(state: RandomSearchState, t: chex.Array) -> tuple[RandomSearchState, StepOutput]:
        key, (k_arch, k_eval) = next_keys(state.key, 2)
        arch = env.random_arch(k_arch)
        return state.replace(key=key), StepOutput(arch=arch, observed=env.evaluate(k_eval, arch), metrics={})

    return Searcher(init=init, step=step)
