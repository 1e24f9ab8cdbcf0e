"""DARTS: normal + reduction cell, 14 edges x 7 ops each, top-2 inputs per node (~1e18 archs, no table).

Modules: :mod:`.codec` (alpha layout, genotypes, hashing), :mod:`.cost` (analytic params/MACs
reproducing the published genotypes), :mod:`.nets` (Flax search supernet, NetworkCIFAR/ImageNet),
:mod:`.evaluation` (the DARTS CIFAR protocol for training a found cell from scratch).
"""

from __future__ import annotations

import numpy as np

from l2nas_jax.spaces.base import HASH_BUCKETS, Space, size_kwargs
from l2nas_jax.spaces.darts import codec, cost, evaluation


def parse(s: str) -> np.ndarray:
    """A genotype string, or the name of a published genotype (``DARTS_V2``, ...), as an arch."""
    s = s.strip()
    return codec.parse_genotype(codec.GENOTYPES.get(s, s))


def space() -> Space:
    return Space(
        name="darts", alpha_shape=tuple(codec.ALPHA_SHAPE), arch_shape=tuple(codec.ARCH_SHAPE),
        num_archs=HASH_BUCKETS, discretize=codec.discretize, encode=codec.encode, random_arch=codec.random_arch,
        mutate=codec.mutate, arch_id=lambda a: codec.arch_hash(a, HASH_BUCKETS), to_string=codec.format_genotype,
        from_string=parse, cost=cost.darts_cost, exact_ids=False, nets_module="l2nas_jax.spaces.darts.nets",
        num_classes=10, image_size=32, net_kwargs=size_kwargs("darts", "C", "layers"),
        evaluation=evaluation.evaluation(),
    )
