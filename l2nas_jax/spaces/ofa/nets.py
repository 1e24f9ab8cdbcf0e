"""OFA MobileNetV3 networks (flax linen, NHWC): fixed subnets and the elastic supernet.

Follows ``mit-han-lab/once-for-all`` (``ofa/imagenet_classification/elastic_nn/networks/
ofa_mbv3.py``, ``.../modules/dynamic_layers.py``, ``.../modules/dynamic_op.py``; summary in
``docs/spaces.md`` section 3); layer shapes come from :func:`l2nas_jax.spaces.ofa.cost.layer_specs`,
so a fixed net's parameter count equals :func:`~l2nas_jax.spaces.ofa.cost.ofa_cost`'s.

* :func:`make_network` -- a fixed subnet: only the chosen layers / kernels / expand widths
  exist.  Called as ``model.apply(variables, x, train=...)``.
* :func:`make_supernet` -- the elastic supernet, called as
  ``model.apply(variables, x, arch, train=..., mutable=["batch_stats"])`` with ``arch`` a
  *traced* ``int32[26]`` (:mod:`~l2nas_jax.spaces.ofa.codec`), so one compiled function serves
  every subnet:

  - elastic kernel: one 7x7 depthwise weight per layer; the 5x5 kernel is its centre crop
    mapped by a learned 25x25 matrix, the 3x3 the centre crop of that mapped by a 9x9 matrix,
    both initialised to identity (OFA's ``DynamicSeparableConv2d``).  The chosen kernel is
    zero-padded to 7x7, so one depthwise conv runs for every choice (same output as a k x k
    conv with padding k//2);
  - elastic expand: the first ``mid`` channels, by a channel mask (the SE hidden width is
    masked to ``make_divisible(mid // 4, 8)`` the same way);
  - elastic depth: a layer past its unit's depth passes its input through
    (``jnp.where``), so its parameters get exactly zero gradient;
  - BatchNorm statistics update only for the active channels of active layers (as OFA's
    ``DynamicBatchNorm2d``, which never touches the others).

  Applied (not at initialisation), each unit's layers 2-4 run as one ``lax.scan`` over their
  stacked variables (:mod:`~l2nas_jax.spaces.scan_blocks`): same values, compiled once per unit.

  The resolution entry of ``arch`` is not used: the input size is ``x``'s.
  :func:`extract_subnet` turns supernet variables into the fixed subnet's (OFA's
  ``get_active_subnet``), with identical outputs.

BatchNorm: PyTorch momentum 0.1 / eps 1e-5 (flax momentum 0.9); batch variance is the
biased one (flax convention).  Init as OFA's ``init_model('he_fout')``: convs
N(0, 2 / (k*k*C_out)), linear U(+-1/sqrt(fan_in)) with zero bias, BN gamma 1 / beta 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces import conv as conv_lib
from l2nas_jax.spaces.ofa import codec as codec
from l2nas_jax.spaces.ofa import cost as cost
from l2nas_jax.spaces.scan_blocks import apply_scanned
from l2nas_jax.spaces.switch_vjp import recompute_switch

BN_MOMENTUM = 0.9  # PyTorch momentum 0.1
BN_EPS = 1e-5
MAX_KERNEL = max(codec.KERNELS)
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
dense_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def h_swish(x: chex.Array) -> chex.Array:
    """``x * relu6(x + 3) / 6``."""
    return x * jax.nn.relu6(x + 3.0) / 6.0


def h_sigmoid(x: chex.Array) -> chex.Array:
    """``relu6(x + 3) / 6``."""
    return jax.nn.relu6(x + 3.0) / 6.0


ACTIVATIONS = {"relu": nn.relu, "h_swish": h_swish}


def _bn(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPS, name=name)


def _conv(features: int, k: int, stride: int = 1, groups: int = 1, name: str | None = None) -> nn.Conv:
    p = k // 2
    return nn.Conv(
        features,
        (k, k),
        strides=(stride, stride),
        padding=((p, p), (p, p)),
        feature_group_count=groups,
        use_bias=False,
        kernel_init=conv_init,
        conv_general_dilated=conv_lib.conv_general_dilated,  # depthwise: fast on the CPU, see spaces/conv.py
        name=name,
    )


# --------------------------------------------------------------------------- shared parts


class Stem(nn.Module):
    """First conv 3x3/s2 + BN + h_swish, then the fixed first block (dw 3x3 + BN + ReLU, pw + BN, skip)."""

    widths: tuple[int, ...]

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        c0, c1 = self.widths[0], self.widths[1]
        x = h_swish(_bn(train, "first_bn")(_conv(c0, 3, 2, name="first_conv")(x)))
        y = nn.relu(_bn(train, "block_dw_bn")(_conv(c0, 3, cost.STRIDES[0], groups=c0, name="block_dw_conv")(x)))
        y = _bn(train, "block_pw_bn")(_conv(c1, 1, name="block_pw_conv")(y))
        return x + y if (cost.STRIDES[0] == 1 and c0 == c1) else y


class Head(nn.Module):
    """Final expand 1x1 + BN + h_swish, global average pool, feature mix (no bias) + h_swish, classifier."""

    widths: tuple[int, ...]
    num_classes: int
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        x = h_swish(_bn(train, "final_expand_bn")(_conv(self.widths[-2], 1, name="final_expand_conv")(x)))
        x = jnp.mean(x, axis=(1, 2))
        x = h_swish(nn.Dense(self.widths[-1], use_bias=False, kernel_init=dense_init, name="feature_mix")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return nn.Dense(self.num_classes, kernel_init=dense_init, name="classifier")(x)


# --------------------------------------------------------------------------- fixed subnet


class MBConv(nn.Module):
    """One fixed MBConv layer: 1x1 expand + BN + act, dw k x k + BN + act, [SE], 1x1 project + BN."""

    spec: cost.LayerSpec
    kernel: int
    expand_idx: int

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        s = self.spec
        mid, se, act = s.mids[self.expand_idx], s.ses[self.expand_idx], ACTIVATIONS[s.act]
        y = act(_bn(train, "expand_bn")(_conv(mid, 1, name="expand_conv")(x)))
        y = act(_bn(train, "dw_bn")(_conv(mid, self.kernel, s.stride, groups=mid, name="dw_conv")(y)))
        if s.use_se:
            g = nn.relu(nn.Dense(se, kernel_init=dense_init, name="se_reduce")(jnp.mean(y, axis=(1, 2))))
            g = h_sigmoid(nn.Dense(mid, kernel_init=dense_init, name="se_expand")(g))
            y = y * g[:, None, None, :]
        y = _bn(train, "project_bn")(_conv(s.c_out, 1, name="project_conv")(y))
        return x + y if s.residual else y


class OFAMobileNetV3(nn.Module):
    """A fixed OFA MobileNetV3 subnet; layer ``i`` of the space is submodule ``layer{i}`` (skipped ones absent)."""

    config: codec.SubnetConfig
    width: float = 1.0
    num_classes: int = 1000
    base_widths: tuple[int, ...] | None = None
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: chex.Array, train: bool = False) -> chex.Array:
        chex.assert_rank(x, 4)
        widths = cost.stage_widths(self.width, self.base_widths)
        specs = cost.layer_specs(self.width, self.base_widths)
        x = Stem(widths, name="stem")(x, train)
        for i, active in enumerate(self.config.active()):
            if active:
                ei = codec.EXPANDS.index(self.config.e[i])
                x = MBConv(specs[i], self.config.ks[i], ei, name=f"layer{i}")(x, train)
        return Head(widths, self.num_classes, self.dropout_rate, name="head")(x, train)


def make_network(
    arch_or_config: Any,
    width: float = 1.0,
    num_classes: int = 1000,
    *,
    base_widths: Sequence[int] | None = None,
    dropout_rate: float = 0.0,
) -> OFAMobileNetV3:
    """Fixed subnet from an arch array, :class:`SubnetConfig`, OFA dict, JSON or subnet string."""
    cfg = codec.as_config(arch_or_config).canonical()
    bw = None if base_widths is None else tuple(int(b) for b in base_widths)
    cost.stage_widths(width, bw)  # validates
    return OFAMobileNetV3(cfg, float(width), int(num_classes), bw, float(dropout_rate))


# --------------------------------------------------------------------------- elastic supernet


def elastic_dw_kernels(kernel7: chex.Array, t7to5: chex.Array, t5to3: chex.Array) -> tuple[chex.Array, ...]:
    """OFA's elastic-kernel transform: ``(k3, k5, k7)`` kernels (shapes ``[k, k, 1, C]``) from one 7x7 weight.

    ``k5 = T75 @ vec(centre5x5(k7))``, ``k3 = T53 @ vec(centre3x3(k5))`` per channel (row-major
    flattening, as ``F.linear(filter.view(-1, k*k), matrix)`` in ``DynamicSeparableConv2d``).
    """
    c = kernel7.shape[-1]
    crop5 = kernel7[1:6, 1:6, 0, :].reshape(25, c)
    k5 = (t7to5 @ crop5).reshape(5, 5, 1, c)
    crop3 = k5[1:4, 1:4, 0, :].reshape(9, c)
    k3 = (t5to3 @ crop3).reshape(3, 3, 1, c)
    return k3, k5, kernel7


def _identity_init(key: chex.PRNGKey, shape: tuple[int, int], dtype=jnp.float32) -> chex.Array:
    del key
    return jnp.eye(shape[0], shape[1], dtype=dtype)


def elastic_dw_conv(x: chex.Array, kernel7: chex.Array, t75: chex.Array, t53: chex.Array, kernel_idx: chex.Array,
                    stride: int) -> jax.Array:
    """Depthwise conv of ``x`` with kernel size ``KERNELS[kernel_idx]`` (traced) from one 7x7 weight.

    Only the chosen size is computed: a switch over three exact-size convolutions (on the CPU sums
    of strided windows, see :mod:`~l2nas_jax.spaces.conv`), differentiated by recomputing the chosen
    one (:func:`~l2nas_jax.spaces.switch_vjp.recompute_switch`).  A 7x7 kernel zero-padded around
    a 3x3 one cost 5x the taps and, as one convolution op, ran on XLA:CPU's slow generic path.
    """
    kernels = elastic_dw_kernels(kernel7, t75, t53)

    def branch(i: int):
        def run(kernels, aux, x):
            k = kernels[i].shape[0]
            y = conv_lib.conv_general_dilated(x, kernels[i], window_strides=(stride, stride),
                                              padding=((k // 2, k // 2), (k // 2, k // 2)),
                                              dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                              feature_group_count=x.shape[-1])
            return y, aux
        return run

    y, _ = recompute_switch(jnp.asarray(kernel_idx, jnp.int32), [branch(i) for i in range(len(kernels))], kernels,
                            {}, x)
    return y


class ElasticDepthwiseConv(nn.Module):
    """Depthwise conv with a traced kernel size (3/5/7) from one 7x7 weight (:func:`elastic_dw_conv`)."""

    features: int
    stride: int

    @nn.compact
    def __call__(self, x: chex.Array, kernel_idx: chex.Array) -> chex.Array:
        kernel7 = self.param("kernel", conv_init, (MAX_KERNEL, MAX_KERNEL, 1, self.features))
        t75 = self.param("transform_7to5", _identity_init, (25, 25))
        t53 = self.param("transform_5to3", _identity_init, (9, 9))
        return elastic_dw_conv(x, kernel7, t75, t53, kernel_idx, self.stride)


def batch_moments(x: chex.Array) -> tuple[jax.Array, jax.Array]:
    """Per-channel mean and (biased, two-pass) variance of ``x`` over every axis but the last."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    return mean, jnp.mean(jnp.square(x - mean), axis=axes)


def running_average(old: chex.Array, new: chex.Array) -> jax.Array:
    """One BatchNorm running-statistics update with the OFA momentum (``BN_MOMENTUM`` of the old value)."""
    return BN_MOMENTUM * old + (1 - BN_MOMENTUM) * new


def batch_normalize(x: chex.Array, mean: chex.Array, var: chex.Array, scale: chex.Array,
                    bias: chex.Array) -> jax.Array:
    """``(x - mean) / sqrt(var + eps) * scale + bias``: the masked and the sliced BatchNorm share it."""
    return (x - mean) * jax.lax.rsqrt(var + BN_EPS) * scale + bias


class MaskedBatchNorm(nn.Module):
    """BatchNorm whose running statistics update only where ``update`` (per channel) is true."""

    features: int

    @nn.compact
    def __call__(self, x: chex.Array, update: chex.Array, train: bool) -> chex.Array:
        scale = self.param("scale", nn.initializers.ones, (self.features,))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (self.features,))
        ra_var = self.variable("batch_stats", "var", jnp.ones, (self.features,))
        if train:
            mean, var = batch_moments(x)
            if not self.is_initializing():
                ra_mean.value = jnp.where(update, running_average(ra_mean.value, mean), ra_mean.value)
                ra_var.value = jnp.where(update, running_average(ra_var.value, var), ra_var.value)
        else:
            mean, var = ra_mean.value, ra_var.value
        return batch_normalize(x, mean, var, scale, bias)


#: Apply each unit's layers 2-4 as one ``lax.scan`` (:mod:`~l2nas_jax.spaces.scan_blocks`; same values,
#: compiled once per unit instead of three times).
SCAN_LAYERS = True

#: Applying the supernet with this collection mutable runs the masked layers, whose every BatchNorm is
#: a module call that method interceptors see (BN re-calibration's per-call batch statistics).
MODULE_PATH_COLLECTION = "bn_recal"


def _sliced_bn(x: chex.Array, p: Any, st: Any, train: bool) -> tuple[jax.Array, Any]:
    """:class:`MaskedBatchNorm` on the first ``x.shape[-1]`` channels: output and updated (full-size) statistics."""
    n = x.shape[-1]
    if train:
        mean, var = batch_moments(x)
        new = {"mean": st["mean"].at[:n].set(running_average(st["mean"][:n], mean)),
               "var": st["var"].at[:n].set(running_average(st["var"][:n], var))}
    else:
        mean, var, new = st["mean"][:n], st["var"][:n], st
    y = batch_normalize(x, mean, var, p["scale"][:n], p["bias"][:n])
    return y.astype(x.dtype), new  # float32 running statistics do not promote a bfloat16 layer


def _expand_branch(spec: cost.LayerSpec, e: int, train: bool):
    """The layer at expand index ``e`` with exactly its channels (weights sliced), as a recompute_switch branch."""
    mid, se, act = spec.mids[e], spec.ses[e], ACTIVATIONS[spec.act]

    def run(p: Any, aux: Any, x: chex.Array) -> tuple[jax.Array, Any]:
        st, stats = aux["stats"], {}
        y = conv_lib.pointwise(x, p["expand_conv"]["kernel"][..., :mid])
        y, stats["expand_bn"] = _sliced_bn(y, p["expand_bn"], st["expand_bn"], train)
        dw = p["dw_conv"]
        y = elastic_dw_conv(act(y), dw["kernel"][..., :mid], dw["transform_7to5"], dw["transform_5to3"],
                            aux["kernel_idx"], spec.stride)
        y, stats["dw_bn"] = _sliced_bn(y, p["dw_bn"], st["dw_bn"], train)
        y = act(y)
        if spec.use_se:
            r, x_ = p["se_reduce"], p["se_expand"]
            g = nn.relu(jnp.mean(y, axis=(1, 2)) @ r["kernel"][:mid, :se] + r["bias"][:se])
            g = h_sigmoid(g @ x_["kernel"][:se, :mid] + x_["bias"][:mid])
            y = y * g[:, None, None, :]
        y = conv_lib.pointwise(y, p["project_conv"]["kernel"][:, :, :mid, :])
        y, stats["project_bn"] = _sliced_bn(y, p["project_bn"], st["project_bn"], train)
        return (x + y if spec.residual else y), {**aux, "stats": stats}

    return run


def _skip_branch(p: Any, aux: Any, x: chex.Array) -> tuple[jax.Array, Any]:
    """An inactive layer (beyond its unit's depth): the input, statistics untouched."""
    del p
    return x, aux


class ElasticMBConv(nn.Module):
    """One elastic MBConv layer; variables at the largest size (expand 6, 7x7), computed at the traced choice.

    Applied, only the chosen expand ratio and kernel size are computed (weights sliced to the
    layer's channels) and a layer beyond its unit's depth is skipped: a
    :func:`~l2nas_jax.spaces.switch_vjp.recompute_switch` over (skip, expand 3, 4, 6), with the
    kernel size switched inside.  The same values as the largest layer masked to the choice
    (which :meth:`_masked` computes; initialisation uses it), at the cost of the chosen layer.
    """

    spec: cost.LayerSpec

    @nn.compact
    def __call__(self, x: chex.Array, op: chex.Array, active: chex.Array, train: bool) -> chex.Array:
        if self.is_initializing() or self.is_mutable_collection(MODULE_PATH_COLLECTION):
            return self._masked(x, op, active, train)
        s = self.spec
        update = train and self.is_mutable_collection("batch_stats")
        ei, ki = codec.op_expand_idx(op), codec.op_kernel_idx(op)
        branches = [_expand_branch(s, e, train) for e in range(len(s.mids))]
        index = jnp.asarray(ei, jnp.int32)
        if s.pos >= min(codec.DEPTHS):  # the layer may lie beyond its unit's depth (then same shapes in and out)
            branches, index = [_skip_branch, *branches], jnp.where(active, index + 1, 0)
        stats = {k: self.variables["batch_stats"][k] for k in ("expand_bn", "dw_bn", "project_bn")}
        aux = {"stats": stats, "kernel_idx": jnp.asarray(ki, jnp.int32)}
        y, new = recompute_switch(index, branches, self.variables["params"], aux, x)
        if update:
            for name, value in new["stats"].items():
                self.put_variable("batch_stats", name, value)
        return y

    def _masked(self, x: chex.Array, op: chex.Array, active: chex.Array, train: bool) -> chex.Array:
        """The largest layer masked to the choice (every channel and the layer computed; creates the variables)."""
        s = self.spec
        act = ACTIVATIONS[s.act]
        ei, ki = codec.op_expand_idx(op), codec.op_kernel_idx(op)
        max_mid = max(s.mids)
        mid = jnp.asarray(s.mids, jnp.int32)[ei]
        mask = jnp.arange(max_mid) < mid
        upd = mask & active
        maskf = mask.astype(x.dtype)

        y = _conv(max_mid, 1, name="expand_conv")(x)
        y = act(MaskedBatchNorm(max_mid, name="expand_bn")(y, upd, train)) * maskf
        y = ElasticDepthwiseConv(max_mid, s.stride, name="dw_conv")(y, ki)
        y = act(MaskedBatchNorm(max_mid, name="dw_bn")(y, upd, train)) * maskf
        if s.use_se:
            max_se = max(s.ses)
            se_mask = (jnp.arange(max_se) < jnp.asarray(s.ses, jnp.int32)[ei]).astype(x.dtype)
            g = nn.relu(nn.Dense(max_se, kernel_init=dense_init, name="se_reduce")(jnp.mean(y, axis=(1, 2))))
            g = h_sigmoid(nn.Dense(max_mid, kernel_init=dense_init, name="se_expand")(g * se_mask))
            y = y * g[:, None, None, :]
        y = _conv(s.c_out, 1, name="project_conv")(y)
        y = MaskedBatchNorm(s.c_out, name="project_bn")(y, jnp.broadcast_to(active, (s.c_out,)), train)
        if s.residual:
            y = x + y
        return jnp.where(active, y, x) if s.pos >= min(codec.DEPTHS) else y


class OFASupernet(nn.Module):
    """The OFA MobileNetV3 elastic supernet (kernel 3/5/7, expand 3/4/6, depth 2/3/4 per unit)."""

    width: float = 1.0
    num_classes: int = 1000
    base_widths: tuple[int, ...] | None = None
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: chex.Array, arch: chex.Array, train: bool = False) -> chex.Array:
        chex.assert_rank(x, 4)
        chex.assert_shape(arch, (codec.ARCH_LEN,))
        arch = jnp.asarray(arch, jnp.int32)
        widths = cost.stage_widths(self.width, self.base_widths)
        specs = cost.layer_specs(self.width, self.base_widths)
        active = codec.active_layers(arch)
        x = Stem(widths, name="stem")(x, train)
        if not SCAN_LAYERS or self.is_initializing() or self.is_mutable_collection(MODULE_PATH_COLLECTION):
            for i, spec in enumerate(specs):
                x = ElasticMBConv(spec, name=f"layer{i}")(x, arch[i], active[i], train)
        else:
            for first in range(0, len(specs), codec.LAYERS_PER_UNIT):
                x = ElasticMBConv(specs[first], name=f"layer{first}")(x, arch[first], active[first], train)
                x = _unit_tail(self, specs, first, x, arch, active, train)
        return Head(widths, self.num_classes, self.dropout_rate, name="head")(x, train)


def _unit_tail(mdl: nn.Module, specs: Sequence[cost.LayerSpec], first: int, x: chex.Array, arch: chex.Array,
               active: chex.Array, train: bool) -> jax.Array:
    """Layers 2.. of the unit starting at layer ``first``: one ``lax.scan`` (same shapes; compiled once).

    Every layer is computed as the unit's last (which may be skipped); the second layer is always
    active, so its skip branch is never taken and it computes what it computes alone.
    """
    rest = range(first + 1, first + codec.LAYERS_PER_UNIT)
    last = specs[rest[-1]]
    if any(dataclasses.replace(specs[i], pos=last.pos) != last for i in rest):
        raise AssertionError(f"layers {list(rest)} of an OFA unit differ in shape: {[specs[i] for i in rest]}")
    return apply_scanned(mdl, ElasticMBConv(last), [f"layer{i}" for i in rest], x,
                         per_block=(arch[rest[0]:rest[-1] + 1], active[rest[0]:rest[-1] + 1]), train=train)


def make_supernet(
    width: float = 1.0,
    num_classes: int = 1000,
    *,
    base_widths: Sequence[int] | None = None,
    dropout_rate: float = 0.0,
) -> OFASupernet:
    """The elastic supernet (``base_widths`` overrides OFA's stage widths, e.g. for tiny CPU tests)."""
    bw = None if base_widths is None else tuple(int(b) for b in base_widths)
    cost.stage_widths(width, bw)  # validates
    return OFASupernet(float(width), int(num_classes), bw, float(dropout_rate))


# --------------------------------------------------------------------------- weight extraction


def extract_subnet(
    supernet: OFASupernet, variables: Mapping[str, Any], arch_or_config: Any
) -> tuple[OFAMobileNetV3, dict[str, Any]]:
    """``(fixed_net, fixed_variables)`` of one subnet of a supernet (OFA's ``get_active_subnet``; host-side).

    Layers are sliced to their first ``mid`` channels (SE to its first ``se`` units), the
    depthwise kernel is the transformed crop, skipped layers are dropped.  The fixed net then
    computes what ``supernet.apply(variables, x, arch)`` computes.
    """
    cfg = codec.as_config(arch_or_config).canonical()
    net = OFAMobileNetV3(cfg, supernet.width, supernet.num_classes, supernet.base_widths, supernet.dropout_rate)
    specs = cost.layer_specs(supernet.width, supernet.base_widths)
    variables = jax.device_get(variables)  # numpy: host-side slicing, no per-op compiles
    params, stats = variables["params"], variables.get("batch_stats", {})
    out_p: dict[str, Any] = {"stem": params["stem"], "head": params["head"]}
    out_s: dict[str, Any] = {"stem": stats["stem"], "head": stats["head"]} if stats else {}
    for i, active in enumerate(cfg.active()):
        if not active:
            continue
        s, ei, k = specs[i], codec.EXPANDS.index(cfg.e[i]), cfg.ks[i]
        mid, se = s.mids[ei], s.ses[ei]
        p = params[f"layer{i}"]
        dw = p["dw_conv"]
        kernel = elastic_dw_kernels(dw["kernel"], dw["transform_7to5"], dw["transform_5to3"])[codec.KERNELS.index(k)]
        lp = {
            "expand_conv": {"kernel": p["expand_conv"]["kernel"][..., :mid]},
            "expand_bn": {n: v[:mid] for n, v in p["expand_bn"].items()},
            "dw_conv": {"kernel": kernel[..., :mid]},
            "dw_bn": {n: v[:mid] for n, v in p["dw_bn"].items()},
            "project_conv": {"kernel": p["project_conv"]["kernel"][:, :, :mid, :]},
            "project_bn": dict(p["project_bn"]),
        }
        if s.use_se:
            lp["se_reduce"] = {"kernel": p["se_reduce"]["kernel"][:mid, :se], "bias": p["se_reduce"]["bias"][:se]}
            lp["se_expand"] = {"kernel": p["se_expand"]["kernel"][:se, :mid], "bias": p["se_expand"]["bias"][:mid]}
        out_p[f"layer{i}"] = lp
        if stats:
            st = stats[f"layer{i}"]
            out_s[f"layer{i}"] = {
                "expand_bn": {n: v[:mid] for n, v in st["expand_bn"].items()},
                "dw_bn": {n: v[:mid] for n, v in st["dw_bn"].items()},
                "project_bn": dict(st["project_bn"]),
            }
    out = {"params": out_p}
    if stats:
        out["batch_stats"] = out_s
    return net, out


def count_params(params: Any) -> int:
    """Total number of parameter entries of a pytree (works on ``jax.eval_shape`` output)."""
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


__all__ = [
    "ElasticDepthwiseConv",
    "ElasticMBConv",
    "MBConv",
    "MaskedBatchNorm",
    "OFAMobileNetV3",
    "OFASupernet",
    "count_params",
    "elastic_dw_kernels",
    "extract_subnet",
    "h_sigmoid",
    "h_swish",
    "make_network",
    "make_supernet",
]
