"""A benchmark table as a pure environment: evaluating an architecture is one gather.

:class:`TableEnv` is generic over spaces: the :class:`~l2nas_jax.spaces.base.Space` supplies
the codec and cost counter, the table supplies two columns indexed by ``arch_id`` (the
metric the search optimizes and the one reported). Nothing here knows a particular space.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.spaces import Space, get_space


@struct.dataclass
class TableEnv:
    """Table environment; ``search_acc``/``report_acc`` are indexed by ``space.arch_id``.

    Build it with :func:`make_table_env`.  ``noise_sigma`` adds Gaussian noise (in
    accuracy points) to the search metric only, as when each network is trained once.
    """

    search_acc: jax.Array  # float32[num_archs]
    report_acc: jax.Array  # float32[num_archs]
    noise_sigma: jax.Array  # float32 scalar
    space: Space = struct.field(pytree_node=False, default=None)
    dataset: str = struct.field(pytree_node=False, default="cifar10")
    search_split: str = struct.field(pytree_node=False, default="test")
    report_split: str = struct.field(pytree_node=False, default="test")

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
    def max_reward(self) -> jax.Array:
        """Largest noise-free search metric in the table (the reward rescaling constant)."""
        return jnp.max(self.search_acc)

    @property
    def optimum(self) -> jax.Array:
        """Best value of the *reported* metric in the table."""
        return jnp.max(self.report_acc)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        chex.assert_shape(alpha, self.alpha_shape)
        return self.space.discretize(alpha)

    def encode(self, arch: chex.Array) -> chex.Array:
        return self.space.encode(arch)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return self.space.arch_id(arch)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Search metric of ``arch`` (accuracy %), plus N(0, sigma^2) noise."""
        clean = self.search_acc[self.arch_id(arch)]
        return clean + self.noise_sigma * jax.random.normal(key, clean.shape)

    def report(self, arch: chex.Array) -> chex.Array:
        return self.report_acc[self.arch_id(arch)]

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return self.space.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """The space's mutation (NB201: one uniformly chosen edge to a different op, as in the paper's REA)."""
        return self.space.mutate(key, arch)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        """``(params_M, macs_M)`` of the derived network on this dataset."""
        return self.space.cost(arch, self.dataset)

    def enumerate_archs(self) -> jax.Array:
        """Every architecture, row ``i`` having ``arch_id == i`` (exact constrained optima)."""
        if self.space.enumerate_archs is None:
            raise ValueError(f"the {self.name} space cannot be enumerated")
        return self.space.enumerate_archs()

    def arch_to_string(self, arch) -> str:
        return self.space.to_string(np.asarray(arch))

    def string_to_arch(self, s: str) -> np.ndarray:
        return self.space.from_string(s)


def make_table_env(
    space: str | Space = "nb201",
    dataset: str = "cifar10",
    table: Any = None,
    *,
    search_split: str | None = None,
    report_split: str = "test",
    noise_sigma: float = 0.0,
) -> TableEnv:
    """Build the table environment of a space that has a benchmark table (NB201: embedded by default)."""
    space = get_space(space) if isinstance(space, str) else space
    if space.table_values is None:
        raise ValueError(f"the {space.name} space has no benchmark table: search a trained supernet "
                         f"(--supernet DIR, from train/supernet.py) or a fitted accuracy predictor (--predictor FILE)")
    values = space.table_values(dataset, table, search_split=search_split, report_split=report_split)
    if not np.isfinite(noise_sigma) or noise_sigma < 0:
        raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma}")
    return TableEnv(
        search_acc=jnp.asarray(values.search),
        report_acc=jnp.asarray(values.report),
        noise_sigma=jnp.float32(noise_sigma),
        space=space,
        dataset=values.dataset,
        search_split=values.search_split,
        report_split=values.report_split,
    )


def make_nb201_env(dataset: str = "cifar10", table: Any = None, **kwargs: Any) -> TableEnv:
    """The NAS-Bench-201 table environment (default: embedded table, test accuracy only)."""
    return make_table_env("nb201", dataset, table, **kwargs)

