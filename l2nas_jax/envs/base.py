"""The environment protocol every search space implements.

An environment is an immutable pytree (its tables are device arrays), so it can be
passed into a jitted search and every method below is a pure function.  Searchers
(L2NAS, random search, REA, REINFORCE) only use this protocol and never know which
space they are in.

* ``alpha_shape``: ``(rows, cols)`` of the continuous action / one-hot encoding.
* ``arch_shape``: shape of the discrete architecture (int32).
* ``discretize(alpha) -> arch``; ``encode(arch) -> float32[rows, cols]``.
* ``evaluate(key, arch) -> float32``: the metric the search optimizes (accuracy in %,
  possibly noisy); ``report(arch) -> float32``: the metric reported to the user,
  kept apart from the search metric (honest protocol).
* ``max_reward``: the metric's fixed reward scale (accuracy in %: 100), never read from
  measured values -- a method must not learn the optimum's value without querying it;
  NaN where none is declared (methods then use the running maximum of what they observed).
* ``arch_id(arch) -> int32`` in ``[0, num_archs)`` when the space is small enough to
  enumerate (used for repeat accounting), ``random_arch(key)`` and ``mutate(key, arch)``
  for the baselines.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import chex


@runtime_checkable
class Environment(Protocol):
    """Pure-function search-space environment (see module docstring)."""

    name: str
    alpha_shape: tuple[int, int]
    arch_shape: tuple[int, ...]
    num_archs: int

    @property
    def max_reward(self) -> chex.Array: ...

    @property
    def optimum(self) -> chex.Array: ...

    def discretize(self, alpha: chex.Array) -> chex.Array: ...

    def encode(self, arch: chex.Array) -> chex.Array: ...

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array: ...

    def report(self, arch: chex.Array) -> chex.Array: ...

    def arch_id(self, arch: chex.Array) -> chex.Array: ...

    def random_arch(self, key: chex.PRNGKey) -> chex.Array: ...

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array: ...

    def arch_to_string(self, arch) -> str: ...


def with_noise_key(env: Environment, key: chex.PRNGKey | None) -> Environment:
    """``env`` with every architecture's evaluation fixed for a run by ``key`` (a cache of evaluations).

    Environments without evaluation noise (supernets, predictors) have nothing to fix and come
    back unchanged; wrappers pass the key to the environment they wrap.
    """
    fix = getattr(env, "with_noise_key", None)
    return env if fix is None else fix(key)
