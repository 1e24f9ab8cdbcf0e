"""A reduced search space: some choices of some decisions dropped (``l2nas search --reduce-space``).

:class:`ReducedEnv` keeps a boolean ``keep`` mask over the space's one-hot encoding (``alpha_shape``)
and adds the column :data:`COLUMN` = 1 + the number of dropped choices an architecture uses; the
budget ``COLUMN <= 1`` (added by :func:`l2nas_jax.api.build_env`) makes every architecture outside
the reduced space infeasible, with the usual constraint machinery: the penalty, proposals drawn
inside the reduced space, and, on NB201, the reduced space's exact optimum by enumeration.  The
actor's continuous proposals are projected into it too: dropped choices are masked out before the
space's ``discretize``, and random draws and mutations are projected the same way (a dropped choice
becomes a random kept one), so proposals need no rejection.  Where the mask comes from:
:mod:`l2nas_jax.latency.reduce`.
"""

from __future__ import annotations

from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.envs.wrapper import ExtraColumn

#: The column counting an architecture's dropped choices (plus one, so the budget is a positive 1).
COLUMN = "outside_reduced_space"
#: Logit given to a dropped choice before ``discretize``.
MASKED = -1e9


@struct.dataclass
class ReducedEnv(ExtraColumn):
    """``inner`` restricted to the choices ``keep`` (bool mask of ``alpha_shape``) allows."""

    COLUMN = COLUMN
    UNIT = ""

    inner: Any
    keep: jax.Array  # bool[*alpha_shape]
    dropped_choices: tuple[str, ...] = struct.field(pytree_node=False, default=())
    reduce_source: str = struct.field(pytree_node=False, default="")  # the dataset whose table scored the choices
    name: str = struct.field(pytree_node=False, default="")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    num_archs: int = struct.field(pytree_node=False, default=0)

    def extra_value(self, arch: chex.Array) -> jax.Array:
        """1 + the number of dropped choices ``arch`` uses (1: inside the reduced space)."""
        return 1.0 + jnp.sum(self.inner.encode(arch) * (~self.keep)).astype(jnp.float32)

    def discretize(self, alpha: chex.Array) -> chex.Array:
        """The inner discretization with dropped choices masked out (a continuous proposal lands inside)."""
        return self.inner.discretize(jnp.where(self.keep, alpha, MASKED))

    def project(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """``arch`` with every dropped choice replaced by a random kept one (kept choices stay)."""
        jitter = 0.5 * jax.random.uniform(key, self.alpha_shape)
        return self.discretize(self.inner.encode(arch) + jitter)

    def random_arch(self, key: chex.PRNGKey) -> chex.Array:
        """Uniform inside the reduced space (NB201: each decision uniform over its kept choices)."""
        k1, k2 = jax.random.split(key)
        return self.project(k2, self.inner.random_arch(k1))

    def mutate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """The inner mutation, projected into the reduced space."""
        k1, k2 = jax.random.split(key)
        return self.project(k2, self.inner.mutate(k1, arch))


def reduce(env: Any, keep: np.ndarray, names: Sequence[str] = (), source: str = "") -> ReducedEnv:
    """``env`` restricted to ``keep`` (``bool[*alpha_shape]``); ``names`` describe the dropped choices and ``source``
    names the dataset whose table chose them (``reduce_space``: recorded with a run, so a resume rebuilds the same space)."""
    keep = np.asarray(keep, bool)
    if keep.shape != tuple(env.alpha_shape):
        raise ValueError(f"a keep mask of the {env.name} space must have shape {tuple(env.alpha_shape)}, "
                         f"got {keep.shape}")
    if not keep.any(axis=-1).all():
        raise ValueError("a reduced space must keep at least one choice of every decision")
    return ReducedEnv(inner=env, keep=jnp.asarray(keep), dropped_choices=tuple(names), reduce_source=source,
                      name=env.name,
                      alpha_shape=tuple(env.alpha_shape), arch_shape=tuple(env.arch_shape),
                      num_archs=int(env.num_archs))
