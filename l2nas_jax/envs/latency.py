"""Modelled latency as a budgetable column: ``--max-latency 5ms --latency-model FILE``.

:func:`with_latency` wraps any environment so that it has one more named column, ``latency``
(milliseconds, from a fitted :class:`~l2nas_jax.latency.model.LatencyModel`: pure and jittable).
A budget on it is an ordinary column budget of :func:`l2nas_jax.envs.constrained.constrain`:
the same penalty as ``--max-macs`` (an architecture over budget scores below every feasible
one), feasible proposals, and, on an enumerable space (NB201), the exact constrained optimum
under the *modelled* latency by enumerating every architecture.  ``pareto=True`` makes the
modelled latency the cost the Pareto mode trades accuracy against (in place of MACs).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from l2nas_jax.envs.constrained import scaled_number
from l2nas_jax.envs.wrapper import ExtraColumn
from l2nas_jax.latency import model as latency_model

#: The column name of the modelled latency (milliseconds).
COLUMN = "latency"
_UNITS = {"": 1.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}
_LATENCY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ms|us|µs|s|MS|US|S)?\s*$")


def parse_latency(value: str | float | int | None, what: str = "max_latency") -> float | None:
    """A latency budget in milliseconds: ``"5ms"`` -> 5.0, ``"500us"`` -> 0.5, ``"0.01s"`` -> 10, ``2`` -> 2 (ms)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a latency such as '5ms' or '500us', got {value!r}")
    ms = scaled_number(value, what, "a latency such as '5ms', '500us' or '0.01s' (a bare number is milliseconds)",
                       _LATENCY, _UNITS)
    if not (math.isfinite(ms) and 0 < ms <= 1e9):
        raise ValueError(f"{what}: must be a positive finite latency, got {value!r}")
    return ms


@struct.dataclass
class LatencyEnv(ExtraColumn):
    """``inner`` with a modelled-latency column (see the module docstring)."""

    COLUMN = COLUMN
    UNIT = "ms"
    ALIASES = ("latency_ms",)

    inner: Any
    lut: jax.Array
    scale: jax.Array
    bias: jax.Array
    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array
    floor: jax.Array
    corrected: bool = struct.field(pytree_node=False, default=False)
    latency_source: str = struct.field(pytree_node=False, default="")
    pareto: bool = struct.field(pytree_node=False, default=False)  # cost() = (params, latency ms)
    name: str = struct.field(pytree_node=False, default="")
    alpha_shape: tuple[int, int] = struct.field(pytree_node=False, default=(0, 0))
    arch_shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    num_archs: int = struct.field(pytree_node=False, default=0)

    @property
    def cost_label(self) -> str:
        return "latency (ms, modelled)" if self.pareto else getattr(self.inner, "cost_label", "MACs (M)")

    def latency(self, arch: chex.Array) -> jax.Array:
        """Modelled latency (ms) of ``arch``."""
        x = latency_model.arch_features(self.inner.encode, self.inner.cost, arch)
        return latency_model.predict_features(self, x).astype(jnp.float32)

    def extra_value(self, arch: chex.Array) -> jax.Array:
        return self.latency(arch)

    def cost(self, arch: chex.Array) -> tuple[jax.Array, jax.Array]:
        params, macs = self.inner.cost(arch)
        return (params, self.latency(arch)) if self.pareto else (params, macs)


def with_latency(env: Any, model_file: str | os.PathLike, *, pareto: bool = False) -> LatencyEnv:
    """``env`` with the modelled latency of ``model_file`` as its ``latency`` column (ValueError for a wrong file)."""
    space = getattr(env, "space", None)
    if space is None:
        from l2nas_jax.spaces import get_space

        space = get_space(env.name)
    m = latency_model.load_model(model_file, space)
    return LatencyEnv(inner=env, lut=jnp.asarray(m.lut), scale=jnp.asarray(m.scale), bias=jnp.float32(m.bias), w1=jnp.asarray(m.w1),
                      b1=jnp.asarray(m.b1), w2=jnp.asarray(m.w2), b2=jnp.float32(m.b2), floor=jnp.float32(m.floor),
                      corrected=m.corrected,
                      latency_source=os.fspath(model_file), pareto=bool(pareto), name=env.name,
                      alpha_shape=tuple(env.alpha_shape), arch_shape=tuple(env.arch_shape),
                      num_archs=int(env.num_archs))
