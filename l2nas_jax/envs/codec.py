"""One protocol for a space's architecture codec, shared by every evaluator of that space.

A :class:`SpaceCodec` bundles the pure functions that do not depend on *how* an
architecture is evaluated (table, supernet, predictor): discretize, encode, sample,
mutate, hash, cost, and the readable string form.  Environments for the huge spaces
(DARTS, OFA) are an evaluator plus a codec, so no space-specific code is repeated
per evaluator.  ``get_codec(name)`` imports the space's codec lazily.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import chex
import jax.numpy as jnp
import numpy as np

#: Hash buckets for repeat accounting in spaces too large for a dense id (DARTS ~1e18,
#: OFA ~1e19 archs): a bool bitmap of this size per seed; with T queries the chance that
#: any two distinct archs share a bucket is about T^2 / 2^21 (0.05 % of queries at T=1000).
HASH_BUCKETS = 2**20


@dataclasses.dataclass(frozen=True)
class SpaceCodec:
    """The evaluator-independent part of the environment protocol for one space."""

    name: str
    alpha_shape: tuple[int, int]
    arch_shape: tuple[int, ...]
    num_archs: int  # ids are in [0, num_archs): exact codes (NB201) or hash buckets
    discretize: Callable[[chex.Array], chex.Array]  # float[*alpha_shape] -> int32[*arch_shape]
    encode: Callable[[chex.Array], chex.Array]  # int32 arch -> float32[*alpha_shape]
    random_arch: Callable[[chex.PRNGKey], chex.Array]
    mutate: Callable[[chex.PRNGKey, chex.Array], chex.Array]
    arch_id: Callable[[chex.Array], chex.Array]  # int32 in [0, num_archs)
    to_string: Callable[[Any], str]
    from_string: Callable[[str], np.ndarray]
    cost: Callable[..., tuple[chex.Array, chex.Array]]  # arch -> (params_M, macs_M) of the derived net
    exact_ids: bool = True  # False: arch_id is a hash (repeat counts may include rare collisions)


def _nb201() -> SpaceCodec:
    codec = importlib.import_module("l2nas_jax.envs.nb201_codec")
    cost = importlib.import_module("l2nas_jax.envs.nb201_cost")
    return SpaceCodec(
        name="nb201", alpha_shape=(codec.NUM_EDGES, codec.NUM_OPS), arch_shape=(codec.NUM_EDGES,),
        num_archs=codec.NUM_ARCHS, discretize=lambda a: jnp.argmax(a, axis=-1).astype(jnp.int32),
        encode=codec.one_hot,
        random_arch=codec.random_arch, mutate=codec.mutate, arch_id=lambda a: codec.ops_to_code(jnp.asarray(a)),
        to_string=lambda a: codec.format_arch(np.asarray(a)), from_string=codec.parse_arch,
        cost=cost.nb201_cost,
    )


def _darts() -> SpaceCodec:
    codec = importlib.import_module("l2nas_jax.envs.darts_codec")
    cost = importlib.import_module("l2nas_jax.envs.darts_cost")

    def parse(s: str) -> np.ndarray:
        s = s.strip()
        return codec.parse_genotype(codec.GENOTYPES.get(s, s))

    return SpaceCodec(
        name="darts", alpha_shape=tuple(codec.ALPHA_SHAPE), arch_shape=tuple(codec.ARCH_SHAPE),
        num_archs=HASH_BUCKETS, discretize=codec.discretize, encode=codec.encode, random_arch=codec.random_arch,
        mutate=codec.mutate, arch_id=lambda a: codec.arch_hash(a, HASH_BUCKETS), to_string=codec.format_genotype,
        from_string=parse, cost=cost.darts_cost, exact_ids=False,
    )


def _ofa() -> SpaceCodec:
    codec = importlib.import_module("l2nas_jax.envs.ofa_codec")
    cost = importlib.import_module("l2nas_jax.envs.ofa_cost")
    return SpaceCodec(
        name="ofa", alpha_shape=tuple(codec.ALPHA_SHAPE), arch_shape=(codec.ARCH_LEN,), num_archs=HASH_BUCKETS,
        discretize=codec.discretize, encode=codec.encode, random_arch=codec.random_arch, mutate=codec.mutate,
        arch_id=lambda a: codec.arch_hash(a, HASH_BUCKETS), to_string=codec.format_subnet,
        from_string=lambda s: codec.config_to_arch(codec.as_config(s)), cost=cost.ofa_cost, exact_ids=False,
    )


_LOADERS: dict[str, Callable[[], SpaceCodec]] = {"nb201": _nb201, "darts": _darts, "ofa": _ofa}
_CACHE: dict[str, SpaceCodec] = {}


def get_codec(name: str) -> SpaceCodec:
    """The codec of a space by name (``nb201``, ``darts``, ``ofa``), imported on first use."""
    if name not in _LOADERS:
        raise ValueError(f"unknown search space {name!r}; valid: {', '.join(sorted(_LOADERS))}")
    if name not in _CACHE:
        _CACHE[name] = _LOADERS[name]()
    return _CACHE[name]
