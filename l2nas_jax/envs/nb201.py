"""NAS-Bench-201 as a pure table environment: evaluating a cell is one gather."""

from __future__ import annotations

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.envs import nb201_codec as codec
from l2nas_jax.envs.nb201_cost import nb201_cost
from l2nas_jax.envs.nb201_table import NB201Table, check_dataset, load_table


@struct.dataclass
class NB201Env:
    """NB201 environment; ``search_acc``/``report_acc`` are indexed by mixed-radix code.

    Build it with :func:`make_nb201_env`.  ``noise_sigma`` adds Gaussian noise (in
    accuracy points) to the search metric only, as when each cell is trained once.
    """

    search_acc: jax.Array  # float32[15625]
    report_acc: jax.Array  # float32[15625]
    noise_sigma: jax.Array  # float32 scalar
    dataset: str = struct.field(pytree_node=False, default="cifar10")
    search_split: str = struct.field(pytree_node=False, default="test")
    report_split: str = struct.field(pytree_node=False, default="test")
    name: str = struct.field(pytree_node=False, default="nb201")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(codec.NUM_EDGES, codec.NUM_OPS))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=(codec.NUM_EDGES,))
    num_archs: int = struct.field(pytree_node=False, default=codec.NUM_ARCHS)

    @property
    def max_reward(self) -> jax.Array:
        """Largest noise-free search metric in the table (the reward rescaling constant)."""
        return jnp.max(self.search_acc)

    @property
    def optimum(self) -> jax.Array:
        """Best value of the *reported* metric in the table."""
        return jnp.max(self.report_acc)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        """Argmax op per edge: ``float[6, 5] -> int32[6]``."""
        chex.assert_shape(alpha, self.alpha_shape)
        return jnp.argmax(alpha, axis=-1).astype(jnp.int32)

    def encode(self, arch: chex.Array) -> chex.Array:
        return codec.one_hot(arch)

    def arch_id(self, arch: chex.Array) -> chex.Array:
        return codec.ops_to_code(jnp.asarray(arch))

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Search metric of ``arch`` (accuracy %), plus N(0, sigma^2) noise."""
        clean = self.search_acc[self.arch_id(arch)]
        return clean + self.noise_sigma * jax.random.normal(key, clean.shape)

    def report(self, arch: chex.Array) -> chex.Array:
        return self.report_acc[self.arch_id(arch)]

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        return codec.random_arch(key)

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Change one uniformly chosen edge to a different op (NB201 paper's REA mutation)."""
        return codec.mutate(key, arch)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        """``(params_M, macs_M)`` of the cell network (AutoDL convention: its FLOPs are multiply-adds)."""
        return nb201_cost(arch, self.dataset)

    def enumerate_archs(self) -> jax.Array:
        """Every cell, ``int32[15625, 6]``, row ``i`` having ``arch_id == i`` (exact constrained optima)."""
        return codec.code_to_ops(jnp.arange(self.num_archs, dtype=jnp.int32))

    def arch_to_string(self, arch) -> str:
        return codec.format_arch(np.asarray(arch))

    def string_to_arch(self, s: str) -> np.ndarray:
        return codec.parse_arch(s)


def make_nb201_env(
    dataset: str = "cifar10",
    table: NB201Table | str | os.PathLike | None = None,
    *,
    search_split: str | None = None,
    report_split: str = "test",
    noise_sigma: float = 0.0,
) -> NB201Env:
    """Build the environment from a table (default: embedded, test accuracy only).

    ``search_split`` defaults to ``"valid"`` when the table has validation accuracy
    (official file) and to ``"test"`` otherwise, so search and report stay apart
    whenever the data allows it.
    """
    dataset = check_dataset(dataset)
    if not isinstance(table, NB201Table):
        table = load_table(table)
    if search_split is None:
        search_split = "valid" if "valid" in table.splits(dataset) else "test"
    if not np.isfinite(noise_sigma) or noise_sigma < 0:
        raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma}")
    return NB201Env(
        search_acc=jnp.asarray(table.by_code(dataset, search_split)),
        report_acc=jnp.asarray(table.by_code(dataset, report_split)),
        noise_sigma=jnp.float32(noise_sigma),
        dataset=dataset,
        search_split=search_split,
        report_split=report_split,
    )
