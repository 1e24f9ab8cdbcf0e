"""Baseline searchers run on the same environments and runner as L2NAS."""

from l2nas_jax.baselines.evolution import REAConfig, REAState, make_rea
from l2nas_jax.baselines.local_search import LocalSearchConfig, LocalSearchState, make_local_search
from l2nas_jax.baselines.random_search import RandomSearchConfig, RandomSearchState, make_random_search
from l2nas_jax.baselines.reinforce import ReinforceConfig, ReinforceState, make_reinforce, policy_loss

__all__ = [
    "LocalSearchConfig",
    "LocalSearchState",
    "REAConfig",
    "REAState",
    "RandomSearchConfig",
    "RandomSearchState",
    "ReinforceConfig",
    "ReinforceState",
    "make_local_search",
    "make_random_search",
    "make_rea",
    "make_reinforce",
    "policy_loss",
]
