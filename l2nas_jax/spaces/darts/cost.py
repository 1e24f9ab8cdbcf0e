"""Analytic parameter count and MACs of DARTS networks, from the architecture alone.

Conventions (``quark0/darts`` ``cnn/model.py``, ``cnn/model_search.py``, ``cnn/operations.py``,
``cnn/utils.py``; summarised in docs/spaces.md sections 0 and 2):

* params = every parameter except the auxiliary head's (``count_parameters_in_MB``), in
  millions; conv weights (all bias-free), BN gamma/beta (evaluation nets: affine; the search
  supernet's cell BNs are non-affine, its stem BN is affine), classifier weight + bias.
* MACs = conv + linear multiply-accumulates (``k*k*C_in*C_out/groups*H_out*W_out``; linear
  ``in*out``), in millions; BN, ReLU, pooling and additions are not counted.
* Per op with C channels and output H x W: sep_conv_k 2(k^2 C + C^2) (+4C BN) params and
  2(k^2 C + C^2) HW MACs; dil_conv_k k^2 C + C^2 (+2C); skip_connect is free at stride 1 and a
  FactorizedReduce (two 1x1 stride-2 convs C -> C/2, + BN) at stride 2; pools cost nothing.

:func:`darts_cost` is jit/vmap-compatible on a traced ``int32[..., 2, 8, 2]`` arch: the network
layout is static, so the arch-dependent part is a sum of table look-ups (one table entry per
(cell type, op, strided)).  :func:`darts_cost_counts` walks the same network cell by cell in
plain Python and returns exact integer counts; it is the reference the tables are checked
against and what the Flax network tests compare their parameter counts with.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces.darts.codec import (
    ARCH_SHAPE,
    DARTS_OPS,
    NUM_CELLS,
    NUM_EDGES,
    NUM_OPS,
    EDGE_INPUT,
    is_valid,
)

#: Default evaluation-network settings per network kind (DARTS ``train.py`` / ``train_imagenet.py``).
NETWORK_DEFAULTS: dict[str, dict[str, int]] = {
    "cifar": {"C": 36, "layers": 20, "num_classes": 10, "image_size": 32},
    "imagenet": {"C": 48, "layers": 14, "num_classes": 1000, "image_size": 224},
}
#: Search supernet defaults (``train_search.py``: ``Network(C=16, layers=8)``, CIFAR-10).
SEARCH_DEFAULTS: dict[str, int] = {"C": 16, "layers": 8, "num_classes": 10, "image_size": 32}
#: DARTS ``PRIMITIVES`` in the search supernet (the 7 ops plus ``none``, which costs nothing).
SEARCH_PRIMITIVES: tuple[str, ...] = ("none",) + DARTS_OPS
STEM_MULTIPLIER = 3
MULTIPLIER = 4  # cell output = concat of 4 states


@dataclasses.dataclass(frozen=True)
class CellLayout:
    """Static shape facts of one cell: channels, spatial sizes, and its neighbours' types."""

    index: int
    reduction: bool
    reduction_prev: bool
    c_pp: int  # channels of s0 (output of cell k-2 / stem)
    c_prev: int  # channels of s1 (output of cell k-1 / stem)
    c: int  # channels of each state inside the cell
    hw_pp: int  # spatial size of s0 before preprocess0
    hw_in: int  # spatial size of s1 (= the cell's working size before striding)
    hw_out: int  # spatial size of states 2..5


@dataclasses.dataclass(frozen=True)
class NetworkLayout:
    """Static layout of a DARTS network: stem cost, the cells, and the head."""

    network: str
    cells: tuple[CellLayout, ...]
    stem_params: int
    stem_macs: int
    c_final: int
    num_classes: int
    aux_c: int  # channels entering the auxiliary head (output of cell 2*layers//3)
    aux_hw: int  # its spatial size


def _half(hw: int, what: str) -> int:
    """Output size of a stride-2 op (k3 pad 1 / FactorizedReduce) on an ``hw`` input."""
    if hw % 2:
        raise ValueError(f"{what}: spatial size {hw} is odd; DARTS' stride-2 ops (FactorizedReduce) need even sizes")
    return hw // 2


def _resolve(network: str, **kw: Any) -> dict[str, int]:
    if network not in NETWORK_DEFAULTS:
        raise ValueError(f"unknown DARTS network {network!r}; expected one of {', '.join(NETWORK_DEFAULTS)}")
    out = dict(NETWORK_DEFAULTS[network])
    out.update({k: v for k, v in kw.items() if v is not None})
    _check_sizes(out)
    return out


def _check_sizes(cfg: dict[str, int]) -> None:
    for k in ("C", "layers", "num_classes", "image_size"):
        if type(cfg[k]) is not int or cfg[k] < 1:
            raise ValueError(f"DARTS cost: {k} must be a positive int, got {cfg[k]!r}")


@functools.lru_cache(maxsize=64)
def network_layout(network: str, C: int, layers: int, num_classes: int, image_size: int) -> NetworkLayout:
    """Cells of ``NetworkCIFAR``/``NetworkImageNet``/search ``Network`` (``network="search"``)."""
    if network == "imagenet":
        h0 = _half(image_size, "imagenet stem0 conv1")
        h1 = _half(h0, "imagenet stem0 conv2")
        h2 = _half(h1, "imagenet stem1")
        c2 = C // 2
        stem_params = 9 * 3 * c2 + 2 * c2 + 9 * c2 * C + 2 * C + 9 * C * C + 2 * C
        stem_macs = 9 * 3 * c2 * h0 * h0 + 9 * c2 * C * h1 * h1 + 9 * C * C * h2 * h2
        c_pp = c_prev = C
        hw_pp, hw_in, reduction_prev = h1, h2, True
    elif network in ("cifar", "search"):
        c_stem = STEM_MULTIPLIER * C
        stem_params = 9 * 3 * c_stem + 2 * c_stem  # conv + BN (affine in both nets)
        stem_macs = 9 * 3 * c_stem * image_size * image_size
        c_pp = c_prev = c_stem
        hw_pp = hw_in = image_size
        reduction_prev = False
    else:
        raise ValueError(f"unknown DARTS network {network!r}")
    cells, c_curr = [], C
    aux_c = aux_hw = 0
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_curr *= 2
        if reduction_prev and _half(hw_pp, f"cell {i} preprocess0") != hw_in:
            raise ValueError(f"cell {i}: inconsistent sizes {hw_pp} -> {hw_in}")
        hw_out = _half(hw_in, f"reduction cell {i}") if reduction else hw_in
        cells.append(CellLayout(i, reduction, reduction_prev, c_pp, c_prev, c_curr, hw_pp, hw_in, hw_out))
        reduction_prev = reduction
        c_pp, c_prev = c_prev, MULTIPLIER * c_curr
        hw_pp, hw_in = hw_in, hw_out
        if i == 2 * layers // 3:
            aux_c, aux_hw = c_prev, hw_out
    return NetworkLayout(network, tuple(cells), stem_params, stem_macs, c_prev, num_classes, aux_c, aux_hw)


def op_cost(op: str, c: int, hw_out: int, stride: int, affine: bool) -> tuple[int, int]:
    """(params, MACs) of one cell op with ``c`` channels in and out and an ``hw_out`` output."""
    bn = 2 * c if affine else 0
    hw2 = hw_out * hw_out
    if op in ("none", "max_pool_3x3", "avg_pool_3x3"):
        return 0, 0  # the search net's pool BN is non-affine: no params
    if op == "skip_connect":
        return (0, 0) if stride == 1 else _factorized_reduce(c, c, hw_out, affine)
    kind, k = op[:8], int(op[-1])
    if kind == "sep_conv":
        per = k * k * c + c * c
        return 2 * per + 2 * bn, 2 * per * hw2
    if kind == "dil_conv":
        per = k * k * c + c * c
        return per + bn, per * hw2
    raise ValueError(f"unknown DARTS op {op!r}")


def _factorized_reduce(c_in: int, c_out: int, hw_out: int, affine: bool) -> tuple[int, int]:
    """(params, MACs) of ``FactorizedReduce``: two 1x1 stride-2 convs c_in -> c_out//2, then BN."""
    w = 2 * c_in * (c_out // 2)
    return w + (2 * c_out if affine else 0), w * hw_out * hw_out


def _relu_conv_bn(c_in: int, c_out: int, hw: int, affine: bool) -> tuple[int, int]:
    """(params, MACs) of ReLU -> 1x1 conv -> BN."""
    return c_in * c_out + (2 * c_out if affine else 0), c_in * c_out * hw * hw


def _preprocess_cost(cell: CellLayout, affine: bool) -> tuple[int, int]:
    """(params, MACs) of a cell's two input preprocessing layers."""
    if cell.reduction_prev:
        p0 = _factorized_reduce(cell.c_pp, cell.c, cell.hw_in, affine)
    else:
        p0 = _relu_conv_bn(cell.c_pp, cell.c, cell.hw_pp, affine)
    p1 = _relu_conv_bn(cell.c_prev, cell.c, cell.hw_in, affine)
    return p0[0] + p1[0], p0[1] + p1[1]


def _aux_cost(layout: NetworkLayout) -> tuple[int, int]:
    """(params, MACs) of the auxiliary head (``AuxiliaryHeadCIFAR`` / ``AuxiliaryHeadImageNet``)."""
    stride, bn768 = (3, 2 * 768) if layout.network == "cifar" else (2, 0)  # ImageNet head omits BN(768)
    if layout.aux_hw < 5 or (layout.aux_hw - 5) // stride + 1 != 2:
        raise ValueError(
            f"auxiliary head needs its 5x5/stride-{stride} pool to give 2x2, input is {layout.aux_hw}x{layout.aux_hw}"
        )
    k, n = layout.aux_c, layout.num_classes
    params = k * 128 + 2 * 128 + 128 * 4 * 768 + bn768 + 768 * n + n
    macs = k * 128 * 4 + 128 * 768 * 4 + 768 * n
    return params, macs


def _fixed_cost(layout: NetworkLayout, affine: bool, auxiliary: bool) -> tuple[int, int]:
    """(params, MACs) of everything that does not depend on the arch: stem, preprocess, head."""
    params, macs = layout.stem_params, layout.stem_macs
    for cell in layout.cells:
        p, m = _preprocess_cost(cell, affine)
        params, macs = params + p, macs + m
    n = layout.num_classes
    params += layout.c_final * n + n
    macs += layout.c_final * n
    if auxiliary:
        p, m = _aux_cost(layout)
        params, macs = params + p, macs + m
    return params, macs


def _pair_cost(cell: CellLayout, op: int, inp: int) -> tuple[int, int]:
    """(params, MACs) of one genotype pair in one evaluation cell."""
    stride = 2 if cell.reduction and inp < 2 else 1
    return op_cost(DARTS_OPS[op], cell.c, cell.hw_out, stride, affine=True)


def darts_cost_counts(
    arch: Any,
    *,
    C: int | None = None,
    layers: int | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    auxiliary: bool = False,
    network: str = "cifar",
) -> tuple[int, int]:
    """Exact integer ``(params, MACs)`` of the evaluation network, by walking it cell by cell (host)."""
    a = np.asarray(arch)
    if not is_valid(a):
        raise ValueError(f"not a valid DARTS arch int[2, 8, 2]: {a.tolist()!r}")
    cfg = _resolve(network, C=C, layers=layers, num_classes=num_classes, image_size=image_size)
    layout = network_layout(network, cfg["C"], cfg["layers"], cfg["num_classes"], cfg["image_size"])
    params, macs = _fixed_cost(layout, affine=True, auxiliary=auxiliary)
    for cell in layout.cells:
        for op, inp in a[int(cell.reduction)]:
            p, m = _pair_cost(cell, int(op), int(inp))
            params, macs = params + p, macs + m
    return params, macs


@functools.lru_cache(maxsize=64)
def _tables(network: str, C: int, layers: int, num_classes: int, image_size: int, auxiliary: bool):
    """Fixed cost and per-(cell type, op, strided) cost tables summed over the network's cells."""
    layout = network_layout(network, C, layers, num_classes, image_size)
    fixed = _fixed_cost(layout, affine=True, auxiliary=auxiliary)
    table = np.zeros((2, NUM_CELLS, NUM_OPS, 2), np.int64)  # [params|macs, cell type, op, strided]
    for cell in layout.cells:
        t = int(cell.reduction)
        for op in range(NUM_OPS):
            for strided in (0, 1):
                if strided and not cell.reduction:
                    continue
                p, m = _pair_cost(cell, op, 0 if strided else 2)
                table[:, t, op, strided] += (p, m)
    # Worst case total (every pair the most expensive entry) decides int32 vs float32 sums.
    worst = np.asarray(fixed) + 2 * 8 * table.reshape(2, -1).max(-1)
    return fixed, table, worst


def _total(fixed: int, table: np.ndarray, worst: int, t: jax.Array, op: jax.Array, strided: jax.Array) -> jax.Array:
    """fixed + Σ table[t, op, strided] in millions; exact int32 sums when they cannot overflow."""
    if worst < 2**31:
        s = jnp.asarray(table.astype(np.int32))[t, op, strided].sum((-2, -1))
        return ((s + np.int32(fixed)).astype(jnp.float32)) / jnp.float32(1e6)
    s = jnp.asarray((table / 1e6).astype(np.float32))[t, op, strided].sum((-2, -1))
    return s + jnp.float32(fixed / 1e6)


@functools.partial(jax.jit, static_argnames=("C", "layers", "num_classes", "image_size", "auxiliary", "network"))
def darts_cost(
    arch: chex.Array,
    *,
    C: int | None = None,
    layers: int | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    auxiliary: bool = False,
    network: str = "cifar",
) -> tuple[jax.Array, jax.Array]:
    """``(params_M, macs_M)`` float32 of the DARTS evaluation network for ``arch`` (jit/vmap-able).

    ``arch``: ``int32[..., 2, 8, 2]`` (any batch dims; op ids / inputs as in darts_codec).
    ``network``: ``"cifar"`` (``NetworkCIFAR``; defaults C=36, 20 cells, 10 classes, 32 px) or
    ``"imagenet"`` (``NetworkImageNet``; C=48, 14 cells, 1000 classes, 224 px); ``None``
    arguments take the network's default.  ``auxiliary=True`` adds the auxiliary head (excluded
    by DARTS' own count).  E.g. DARTS_V2 on CIFAR-10: (3.349342, 528.36).
    """
    cfg = _resolve(network, C=C, layers=layers, num_classes=num_classes, image_size=image_size)
    (fp, fm), table, (wp, wm) = _tables(
        network, cfg["C"], cfg["layers"], cfg["num_classes"], cfg["image_size"], bool(auxiliary)
    )
    arch = jnp.asarray(arch)
    if arch.shape[-3:] != ARCH_SHAPE:
        raise ValueError(f"DARTS arch must have shape (..., 2, 8, 2), got {arch.shape}")
    op, inp = arch[..., 0].astype(jnp.int32), arch[..., 1].astype(jnp.int32)
    t = jnp.broadcast_to(jnp.arange(NUM_CELLS, dtype=jnp.int32)[:, None], op.shape)
    strided = ((t == 1) & (inp < 2)).astype(jnp.int32)
    return _total(fp, table[0], wp, t, op, strided), _total(fm, table[1], wm, t, op, strided)


def darts_search_counts(
    *, C: int = 16, layers: int = 8, num_classes: int = 10, image_size: int = 32
) -> tuple[int, int]:
    """Exact ``(params, MACs)`` of the DARTS search supernet (every edge holds all 8 primitives)."""
    cfg = {"C": C, "layers": layers, "num_classes": num_classes, "image_size": image_size}
    _check_sizes(cfg)
    layout = network_layout("search", C, layers, num_classes, image_size)
    params, macs = _fixed_cost(layout, affine=False, auxiliary=False)
    # The stem BN is a plain (affine) BatchNorm2d even in the search net: _fixed_cost counts it
    # via stem_params; only the cell BNs (preprocess and ops) are non-affine.
    for cell in layout.cells:
        for e in range(NUM_EDGES):
            stride = 2 if cell.reduction and EDGE_INPUT[e] < 2 else 1
            for op in SEARCH_PRIMITIVES:
                p, m = op_cost(op, cell.c, cell.hw_out, stride, affine=False)
                params, macs = params + p, macs + m
    return params, macs


def darts_search_cost(
    *, C: int = 16, layers: int = 8, num_classes: int = 10, image_size: int = 32
) -> tuple[float, float]:
    """``(params_M, macs_M)`` of the search supernet (``train_search.py`` logs 1.930618M params)."""
    p, m = darts_search_counts(C=C, layers=layers, num_classes=num_classes, image_size=image_size)
    return p / 1e6, m / 1e6
