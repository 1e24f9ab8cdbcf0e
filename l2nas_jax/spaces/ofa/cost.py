"""Analytic MACs and parameter count of OFA MobileNetV3 subnets, from the architecture alone.

Network layout (``mit-han-lab/once-for-all`` ``ofa/imagenet_classification/elastic_nn/
networks/ofa_mbv3.py``; see ``docs/spaces.md`` section 3): stage widths
``make_divisible(base * width, 8)`` of :data:`BASE_STAGE_WIDTH`; first conv 3x3/s2 + BN;
first block (depthwise 3x3 + BN, pointwise + BN, identity skip); 5 units of elastic MBConv
layers (1x1 expand + BN, depthwise k x k + BN, optional SE, 1x1 project + BN); final
expand 1x1 + BN; global pooling; feature-mix 1x1 (no BN, no bias); linear classifier.

Counting convention (OFA ``ofa/utils/flops_counter.py``; docs/spaces.md section 0): conv MACs =
``C_in * out_elements * k^2 / groups`` (no bias term), linear = ``in * out``; BN,
activations and pooling are free; SE convs run at 1x1; the expand 1x1 conv runs at the
block's input resolution.  Params = all trainable parameters (conv weights, BN gamma/beta,
SE conv weights + biases, classifier weight + bias).  Both are reported in millions (1e6).

:func:`ofa_cost` is jit/vmap-compatible (traced arch, leading batch dims allowed);
:func:`network_cost` is a plain-Python counter over an explicit layer list, used for
checks such as OFA's MobileNetV3-Large (216.6M MACs / 5.48M params).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces.ofa import codec as codec

#: ``base_stage_width`` of ``OFAMobileNetV3``: first conv, first block, 5 units, final expand, feature mix.
BASE_STAGE_WIDTH: tuple[int, ...] = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
#: stride of the first block and of the 5 units.
STRIDES: tuple[int, ...] = (1, 2, 2, 2, 1, 2)
#: activation of the first block and the 5 units.
ACTS: tuple[str, ...] = ("relu", "relu", "relu", "h_swish", "h_swish", "h_swish")
#: whether the first block / the 5 units use squeeze-and-excitation.
USE_SE: tuple[bool, ...] = (False, False, True, False, True, True)
SE_REDUCTION = 4
CHANNEL_DIVISIBLE = 8


def make_divisible(v: float, divisor: int = CHANNEL_DIVISIBLE, min_val: int | None = None) -> int:
    """OFA's ``make_divisible``: round to a multiple of ``divisor``, never more than 10% down."""
    min_val = divisor if min_val is None else min_val
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def stage_widths(width: float = 1.0, base_widths: Sequence[int] | None = None) -> tuple[int, ...]:
    """The 9 channel counts of a width multiplier (``base_widths`` overrides :data:`BASE_STAGE_WIDTH`)."""
    base = BASE_STAGE_WIDTH if base_widths is None else tuple(base_widths)
    if len(base) != len(BASE_STAGE_WIDTH) or any(int(b) <= 0 for b in base):
        raise ValueError(f"base_widths must be {len(BASE_STAGE_WIDTH)} positive ints, got {base!r}")
    if not width > 0:
        raise ValueError(f"width multiplier must be > 0, got {width!r}")
    return tuple(make_divisible(b * width) for b in base)


def mid_channels(c_in: int, expand: float) -> int:
    """Expanded channels of an MBConv layer: ``make_divisible(round(c_in * expand), 8)``."""
    return make_divisible(round(c_in * expand))


def se_channels(mid: int) -> int:
    """Hidden channels of the SE module: ``make_divisible(mid // 4, 8)``."""
    return make_divisible(mid // SE_REDUCTION)


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """Static shape of one of the 20 elastic layers (from the width multiplier only)."""

    unit: int
    pos: int
    c_in: int
    c_out: int
    stride: int
    act: str
    use_se: bool
    residual: bool
    mids: tuple[int, ...]  # per expand index
    ses: tuple[int, ...]  # per expand index (0 without SE)


def layer_specs(width: float = 1.0, base_widths: Sequence[int] | None = None) -> tuple[LayerSpec, ...]:
    """The 20 :class:`LayerSpec` of the elastic units (layer ``i`` = unit ``i // 4``, position ``i % 4``)."""
    w = stage_widths(width, base_widths)
    specs = []
    c_in = w[1]
    for u in range(codec.NUM_UNITS):
        c_out = w[2 + u]
        for j in range(codec.LAYERS_PER_UNIT):
            cin = c_in if j == 0 else c_out
            stride = STRIDES[1 + u] if j == 0 else 1
            mids = tuple(mid_channels(cin, e) for e in codec.EXPANDS)
            se = USE_SE[1 + u]
            specs.append(
                LayerSpec(
                    unit=u,
                    pos=j,
                    c_in=cin,
                    c_out=c_out,
                    stride=stride,
                    act=ACTS[1 + u],
                    use_se=se,
                    residual=stride == 1 and cin == c_out,
                    mids=mids,
                    ses=tuple(se_channels(m) if se else 0 for m in mids),
                )
            )
        c_in = c_out
    return tuple(specs)


def conv_out(size, kernel: int, stride: int):
    """Output size of a conv with padding ``kernel // 2`` (ceil(size / stride) for odd kernels)."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


# --------------------------------------------------------------------------- plain-Python counter


def _mbconv_cost(c_in: int, mid: int, c_out: int, k: int, se: int, h_in: int, h_out: int, expand: bool = True):
    """(params, MACs) of one MBConv layer; ``se`` = SE hidden channels (0 = no SE)."""
    params = macs = 0
    if expand:
        params += c_in * mid + 2 * mid
        macs += c_in * mid * h_in * h_in
    params += k * k * mid + 2 * mid
    macs += k * k * mid * h_out * h_out
    if se:
        params += mid * se + se + se * mid + mid
        macs += 2 * mid * se
    params += mid * c_out + 2 * c_out
    macs += mid * c_out * h_out * h_out
    return params, macs


def network_cost(
    layers: Sequence[tuple[int, float | int, int, int, bool]],
    resolution: int,
    *,
    widths: Sequence[int],
    num_classes: int = 1000,
    explicit_mid: bool = False,
) -> tuple[float, float]:
    """``(params_M, MACs_M)`` of a MobileNetV3 with explicit units (plain Python, any expand ratios).

    Args:
      layers: the MBConv layers after the first block, in order, as
        ``(kernel, expand_or_mid, c_out, stride, use_se)``.
      resolution: input image size.
      widths: the 9 stage widths (first conv, first block, units..., final expand, feature mix);
        only ``widths[0]``, ``widths[1]``, ``widths[-2]``, ``widths[-1]`` are used.
      explicit_mid: the second tuple entry is the expanded channel count, not a ratio.
    """
    h = conv_out(resolution, 3, 2)
    params = 3 * 3 * 3 * widths[0] + 2 * widths[0]
    macs = 3 * 3 * 3 * widths[0] * h * h
    p, m = _mbconv_cost(widths[0], widths[0], widths[1], 3, 0, h, h, expand=False)
    params, macs = params + p, macs + m
    c = widths[1]
    for k, e, c_out, stride, se in layers:
        mid = int(e) if explicit_mid else mid_channels(c, e)
        h_out = conv_out(h, k, stride)
        p, m = _mbconv_cost(c, mid, c_out, k, se_channels(mid) if se else 0, h, h_out)
        params, macs, c, h = params + p, macs + m, c_out, h_out
    params += c * widths[-2] + 2 * widths[-2] + widths[-2] * widths[-1] + widths[-1] * num_classes + num_classes
    macs += c * widths[-2] * h * h + widths[-2] * widths[-1] + widths[-1] * num_classes
    return params / 1e6, macs / 1e6


def config_layer_list(cfg: codec.SubnetConfig, width: float = 1.0, base_widths=None) -> list[tuple]:
    """The active layers of a config as :func:`network_cost` tuples."""
    specs = layer_specs(width, base_widths)
    return [
        (cfg.ks[i], cfg.e[i], specs[i].c_out, specs[i].stride, specs[i].use_se)
        for i, a in enumerate(cfg.active())
        if a
    ]


# --------------------------------------------------------------------------- jit-compatible counter


@dataclasses.dataclass(frozen=True)
class _Tables:
    """Per-layer numpy tables of the static part of the cost (indexed by traced choices)."""

    widths: tuple[int, ...]
    layer_params: np.ndarray  # [20, 3 expand, 3 kernel] params of each layer choice
    px_in: np.ndarray  # [20, 3, 3] MACs per input pixel (expand conv)
    px_out: np.ndarray  # [20, 3, 3] MACs per output pixel (dw + project)
    flat: np.ndarray  # [20, 3, 3] resolution-independent MACs (SE)


@functools.lru_cache(maxsize=64)
def _tables(width: float, base_widths) -> _Tables:
    specs = layer_specs(width, base_widths)
    shape = (codec.NUM_LAYERS, len(codec.EXPANDS), len(codec.KERNELS))
    lp, pin, pout, flat = (np.zeros(shape, np.int64) for _ in range(4))
    for i, s in enumerate(specs):
        for ei in range(len(codec.EXPANDS)):
            mid, se = s.mids[ei], s.ses[ei]
            for ki, k in enumerate(codec.KERNELS):
                p, _ = _mbconv_cost(s.c_in, mid, s.c_out, k, se, 1, 1)
                lp[i, ei, ki] = p
                pin[i, ei, ki] = s.c_in * mid
                pout[i, ei, ki] = k * k * mid + mid * s.c_out
                flat[i, ei, ki] = 2 * mid * se
    return _Tables(stage_widths(width, base_widths), lp, pin, pout, flat)


def _stage_sizes(resolution) -> list[Any]:
    """Feature-map side after the first conv (index 0) and after each unit (1..5); works on traced ints."""
    sizes = [(resolution - 1) // 2 + 1]
    for s in STRIDES[1:]:
        sizes.append((sizes[-1] - 1) // s + 1)
    return sizes


def ofa_cost(
    arch: chex.Array | codec.SubnetConfig,
    *,
    width: float = 1.0,
    num_classes: int = 1000,
    resolution: int | chex.Array | None = None,
    base_widths: Sequence[int] | None = None,
) -> tuple[chex.Array, chex.Array]:
    """``(params_M, MACs_M)`` (float32) of the subnet ``arch`` (``int[..., 26]``) in the OFA convention.

    The resolution comes from the arch's resolution id unless ``resolution`` is given
    (e.g. 128 or 236, outside :data:`~l2nas_jax.spaces.ofa.codec.RESOLUTIONS`).  A
    :class:`~l2nas_jax.spaces.ofa.codec.SubnetConfig` is accepted too (its ``r`` is the default
    resolution).  Skipped layers cost nothing.  MACs are exact integers summed in int32 per
    stage, then combined in float32 (relative error ~1e-7).  ``arch`` and ``resolution`` may
    be traced; the rest is static (one compiled counter per static setting, cached).
    """
    if isinstance(arch, codec.SubnetConfig):
        resolution = arch.r if resolution is None else resolution
        arch = np.concatenate([codec.config_layers(arch), [0]]).astype(np.int32)
    arch = jnp.asarray(arch, jnp.int32)
    chex.assert_axis_dimension(arch, -1, codec.ARCH_LEN)
    bw = None if base_widths is None else tuple(int(b) for b in base_widths)
    stage_widths(width, bw)  # validate outside the trace
    res = None if resolution is None else jnp.asarray(resolution, jnp.int32)
    return _ofa_cost(arch, res, float(width), int(num_classes), bw)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _ofa_cost(arch, res, width: float, num_classes: int, base_widths):
    t = _tables(width, base_widths)
    w = t.widths
    if res is None:
        res = jnp.asarray(codec.RESOLUTIONS, jnp.int32)[arch[..., codec.RES_ROW]]
    sizes = [s.astype(jnp.float32) for s in _stage_sizes(res)]

    ops = arch[..., : codec.NUM_LAYERS]
    ei, ki = codec.op_expand_idx(ops), codec.op_kernel_idx(ops)
    active = codec.active_layers(arch)
    idx = (jnp.arange(codec.NUM_LAYERS), ei, ki)

    def pick(table: np.ndarray) -> chex.Array:
        return jnp.where(active, jnp.asarray(table, jnp.int32)[idx], 0)

    layer_params, px_in, px_out, flat = pick(t.layer_params), pick(t.px_in), pick(t.px_out), pick(t.flat)

    # Fixed parts: first conv + first block at size[0], final expand at size[5], head at 1x1.
    fixed_params = (
        27 * w[0] + 2 * w[0]
        + _mbconv_cost(w[0], w[0], w[1], 3, 0, 1, 1, expand=False)[0]
        + w[6] * w[7] + 2 * w[7] + w[7] * w[8] + w[8] * num_classes + num_classes
    )  # fmt: skip
    macs = (27 * w[0] + 9 * w[0] + w[0] * w[1]) * sizes[0] ** 2 + w[6] * w[7] * sizes[5] ** 2
    macs = macs + float(w[7] * w[8] + w[8] * num_classes)
    for u in range(codec.NUM_UNITS):
        sl = slice(u * codec.LAYERS_PER_UNIT, (u + 1) * codec.LAYERS_PER_UNIT)
        first_in = px_in[..., sl.start]  # the unit's first layer reads the previous stage's map
        rest_in = jnp.sum(px_in[..., sl.start + 1 : sl.stop], axis=-1)
        macs = macs + first_in.astype(jnp.float32) * sizes[u] ** 2
        macs = macs + (rest_in + jnp.sum(px_out[..., sl], axis=-1)).astype(jnp.float32) * sizes[u + 1] ** 2
        macs = macs + jnp.sum(flat[..., sl], axis=-1).astype(jnp.float32)
    params = fixed_params + jnp.sum(layer_params, axis=-1)
    return (params.astype(jnp.float32) / 1e6), (jnp.asarray(macs, jnp.float32) / 1e6)


def max_min_arch(largest: bool, resolution_id: int = len(codec.RESOLUTIONS) - 1) -> np.ndarray:
    """The largest (k7 e6 d4) or smallest (k3 e3 d2) arch at a resolution id."""
    op = codec.NUM_LAYER_OPS - 1 if largest else 0
    depth = len(codec.DEPTHS) - 1 if largest else 0
    arch = np.array([op] * codec.NUM_LAYERS + [depth] * codec.NUM_UNITS + [resolution_id], np.int32)
    return np.asarray(codec.canonicalize(arch))


__all__ = [
    "ACTS",
    "BASE_STAGE_WIDTH",
    "LayerSpec",
    "STRIDES",
    "USE_SE",
    "config_layer_list",
    "conv_out",
    "layer_specs",
    "make_divisible",
    "max_min_arch",
    "mid_channels",
    "network_cost",
    "ofa_cost",
    "se_channels",
    "stage_widths",
]
