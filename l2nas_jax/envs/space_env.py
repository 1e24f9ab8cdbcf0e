"""A space's codec without an evaluator: what a predictor wraps on a space that has no table.

DARTS and OFA have no benchmark table; a fitted accuracy predictor (:mod:`l2nas_jax.envs.predictor`)
is their evaluator, and it only needs the space's codec (encoding, sampling, mutation, strings,
cost) from the environment it wraps.  :class:`SpaceEnv` is exactly that and refuses to evaluate.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.spaces import Space


@struct.dataclass
class SpaceEnv:
    """The codec of ``space`` for ``dataset``; ``evaluate``/``report`` raise (wrap it in an evaluator)."""

    space: Space = struct.field(pytree_node=False)
    dataset: str = struct.field(pytree_node=False, default="")
    search_split: str = struct.field(pytree_node=False, default="none")
    report_split: str = struct.field(pytree_node=False, default="none")

    @property
    def name(self) -> str:
        return self.space.name

    @property
    def alpha_shape(self) -> tuple[int, int]:
        return self.space.alpha_shape

    @property
    def arch_shape(self) -> tuple[int, ...]:
        return self.space.arch_shape

    @property
    def num_archs(self) -> int:
        return self.space.num_archs

    @property
    def enumerable(self) -> bool:
        return self.space.enumerate_archs is not None

    @property
    def max_reward(self) -> jax.Array:
        return jnp.float32(jnp.nan if self.space.reward_scale is None else self.space.reward_scale)

    @property
    def optimum(self) -> jax.Array:
        return jnp.float32(jnp.nan)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        return self.space.discretize(alpha)

    def encode(self, arch: chex.Array) -> chex.Array:
        return self.space.encode(arch)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return self.space.arch_id(arch)

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return self.space.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        return self.space.mutate(key, arch)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        """``(params_M, macs_M)`` of the derived network (the space's analytic counter, default sizes)."""
        return self.space.cost(arch)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        raise ValueError(f"the {self.name} space has no evaluator of its own: wrap it in a predictor or a supernet")

    def report(self, arch: chex.Array) -> chex.Array:
        raise ValueError(f"the {self.name} space has no evaluator of its own: wrap it in a predictor or a supernet")

    def enumerate_archs(self) -> jax.Array:
        if self.space.enumerate_archs is None:
            raise ValueError(f"the {self.name} space cannot be enumerated")
        return self.space.enumerate_archs()

    def arch_to_string(self, arch) -> str:
        return self.space.to_string(np.asarray(arch))

    def string_to_arch(self, s: str) -> np.ndarray:
        return self.space.from_string(s)
