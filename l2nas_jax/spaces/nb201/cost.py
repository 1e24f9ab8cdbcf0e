"""Analytic cost of an NB201 cell network: parameters and FLOPs, from the architecture alone.

Counts follow the NAS-Bench-201 / AutoDL convention (``xautodl/utils/flop_benchmark.py``):
FLOPs = multiply-adds of every Conv2d and Linear (``k*k*C_in*C_out*H_out*W_out``, plus
one add per output for a bias), pooling/BN/ReLU not counted; parameters = conv and
linear weights, linear bias, BN gamma/beta. Both are in millions (1e6).

The network is ``TinyNetwork(C=16, N=5)``: a 3x3 stem, three stages of 5 cells (16, 32 and
64 channels), ResNet reduction blocks between stages, then BN, pooling and a linear
classifier.  Only ``nor_conv_3x3`` and ``nor_conv_1x1`` edges cost anything (conv +
affine BN); pool, skip and none are free.  Every function is jit/vmap-compatible.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp

from l2nas_jax.spaces.nb201.codec import OPS
from l2nas_jax.spaces.nb201.table import check_dataset

CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
INPUT_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet16-120": 16}
_CONV3, _CONV1 = OPS.index("nor_conv_3x3"), OPS.index("nor_conv_1x1")


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out


def _fixed_cost(dataset: str) -> tuple[int, int]:
    """(params, FLOPs) of everything but the cells' edges: stem, reduction blocks, head."""
    classes, size = NUM_CLASSES[dataset], INPUT_SIZE[dataset]
    params = _conv(3, 3, CHANNELS[0]) + 2 * CHANNELS[0]  # stem conv + BN
    flops = _conv(3, 3, CHANNELS[0]) * size * size
    for c_in, c_out, stage in ((CHANNELS[0], CHANNELS[1], 1), (CHANNELS[1], CHANNELS[2], 2)):
        hw = (size // 2**stage) ** 2
        block = _conv(3, c_in, c_out) + _conv(3, c_out, c_out) + _conv(1, c_in, c_out)  # conv_a, conv_b, shortcut
        params += block + 2 * (2 * c_out)  # + the two BNs
        flops += block * hw
    params += 2 * CHANNELS[-1] + CHANNELS[-1] * classes + classes  # head BN + classifier
    flops += CHANNELS[-1] * classes + classes
    return params, flops


def _edge_cost(k: int, dataset: str) -> tuple[int, int]:
    """(params, FLOPs) of one k x k conv edge summed over all 15 cells (conv + affine BN)."""
    size = INPUT_SIZE[dataset]
    params = sum(CELLS_PER_STAGE * (_conv(k, c, c) + 2 * c) for c in CHANNELS)
    flops = sum(CELLS_PER_STAGE * _conv(k, c, c) * (size // 2**s) ** 2 for s, c in enumerate(CHANNELS))
    return params, flops


def nb201_cost(ops: chex.Array, dataset: str = "cifar10") -> tuple[chex.Array, chex.Array]:
    """``(params_M, flops_M)`` of the cell network with op indices ``ops`` (``int[..., 6]``)."""
    dataset = check_dataset(dataset)
    ops = jnp.asarray(ops)
    n3 = jnp.sum(ops == _CONV3, axis=-1)
    n1 = jnp.sum(ops == _CONV1, axis=-1)
    (p0, f0), (p3, f3), (p1, f1) = _fixed_cost(dataset), _edge_cost(3, dataset), _edge_cost(1, dataset)
    params = (p0 + p3 * n3 + p1 * n1) / 1e6
    flops = (f0 + f3 * n3 + f1 * n1) / 1e6
    return params.astype(jnp.float32), flops.astype(jnp.float32)
