"""Scalarized multi-objective environment (``accuracy - lam * log2(MACs)``) and batched cost queries."""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.envs.wrapper import InnerDelegate


@jax.jit
def _costs(env: Any, archs: jax.Array) -> tuple[jax.Array, jax.Array]:
    lead = archs.shape[: archs.ndim - len(env.arch_shape)]
    params, macs = jax.vmap(env.cost)(archs.reshape((-1, *env.arch_shape)))
    return params.reshape(lead), macs.reshape(lead)


def arch_costs(env: Any, archs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(params_M, macs_M)`` of a batch of architectures (any leading dims)."""
    if not hasattr(env, "cost"):
        raise ValueError(f"space {env.name!r} has no cost model (env.cost)")
    p, m = _costs(env, jnp.asarray(archs))
    return np.asarray(p), np.asarray(m)


@struct.dataclass
class ScalarizedEnv(InnerDelegate):
    """``inner`` whose search metric is ``accuracy - lam * log2(MACs_M)``; ``report`` stays the accuracy."""

    inner: Any
    lam: jax.Array  # float32 scalar (batched per seed inside the search)
    name: str = struct.field(pytree_node=False, default="")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    num_archs: int = struct.field(pytree_node=False, default=0)

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        _, macs = self.inner.cost(arch)
        return (self.inner.evaluate(key, arch) - self.lam * jnp.log2(macs)).astype(jnp.float32)

    def report(self, arch: chex.Array) -> chex.Array:
        return self.inner.report(arch)
