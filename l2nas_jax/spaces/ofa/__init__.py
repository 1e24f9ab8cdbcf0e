"""Once-for-all MobileNetV3: 20 layers x (kernel, expand), depth per unit, resolution (~2e19 subnets).

Modules: :mod:`.codec` (arch int32[26], subnet configs), :mod:`.cost` (OFA-convention MACs/params),
:mod:`.nets` (Flax elastic supernet and extracted subnets), :mod:`.evaluation` (OFA's recipe for
training a found subnet from scratch).
"""

from __future__ import annotations

from l2nas_jax.spaces.base import HASH_BUCKETS, Space, size_kwargs
from l2nas_jax.spaces.ofa import codec, cost, evaluation


def space() -> Space:
    return Space(
        name="ofa", alpha_shape=tuple(codec.ALPHA_SHAPE), arch_shape=(codec.ARCH_LEN,), num_archs=HASH_BUCKETS,
        discretize=codec.discretize, encode=codec.encode, random_arch=codec.random_arch, mutate=codec.mutate,
        arch_id=lambda a: codec.arch_hash(a, HASH_BUCKETS), to_string=codec.format_subnet,
        from_string=lambda s: codec.config_to_arch(codec.as_config(s)), cost=cost.ofa_cost, exact_ids=False,
        nets_module="l2nas_jax.spaces.ofa.nets", num_classes=1000, image_size=max(codec.RESOLUTIONS),
        net_kwargs=size_kwargs("ofa", None, None),
        evaluation=evaluation.evaluation(),
    )
