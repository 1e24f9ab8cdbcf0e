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


class SpaceCodec:
    """Forward the evaluator-independent protocol (shapes, codec, sampling, strings) to ``self.space``.

    Shared by every environment built directly on a :class:`Space` (tables, this codec-only one).
    """

    space: Space

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

    def discretize(self, alpha: chex.Array) -> chex.Array:
        return self.space.discretize(alpha)

    def encode(self, arch: chex.Array) -> chex.Array:
        return self.space.encode(arch)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return self.space.arch_id(arch)

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return self.space.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """The space's mutation (NB201: one uniformly chosen edge to a different op, as in the paper's REA)."""
        return self.space.mutate(key, arch)

    def enumerate_archs(self) -> jax.Array:
        """Every architecture, row ``i`` having ``arch_id == i`` (exact constrained optima)."""
        if self.space.enumerate_archs is None:
            raise ValueError(f"the {self.name} space cannot be enumerated")
        return self.space.enumerate_archs()

    def arch_to_string(self, arch) -> str:
        return self.space.to_string(np.asarray(arch))

    def string_to_arch(self, s: str) -> np.ndarray:
        return self.space.from_string(s)


@struct.dataclass
class SpaceEnv(SpaceCodec):
    """The codec of ``space`` for ``dataset``; ``evaluate``/``report`` raise (wrap it in an evaluator)."""

    space: Space = struct.field(pytree_node=False)
    dataset: str = struct.field(pytree_node=False, default="")
    search_split: str = struct.field(pytree_node=False, default="none")
    report_split: str = struct.field(pytree_node=False, default="none")

    @property
    def max_reward(self) -> jax.Array:
        return jnp.float32(jnp.nan if self.space.reward_scale is None else self.space.reward_scale)

    @property
    def optimum(self) -> jax.Array:
        return jnp.float32(jnp.nan)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        """``(params_M, macs_M)`` of the derived network (the space's analytic counter, default sizes)."""
        return self.space.cost(arch)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        raise ValueError(f"the {self.name} space has no evaluator of its own: wrap it in a predictor or a supernet")

    def report(self, arch: chex.Array) -> chex.Array:
        raise ValueError(f"the {self.name} space has no evaluator of its own: wrap it in a predictor or a supernet")
