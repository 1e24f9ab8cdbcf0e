"""2-D convolution whose backward pass is written in XLA's canonical layout (fast inside ``lax.switch``).

Why: JAX differentiates a convolution into two convolutions with permuted dimension labels
(``b01f_01oi`` for the input gradient, ``f01b_i01o`` for the kernel gradient).  XLA:CPU rewrites
those into its canonical NHWC/HWIO form (``b01f_01io``) with explicit transposes, so they run on
the fast convolution library -- but not inside conditional branches, where they stay on a generic
loop nest about 15x slower.  A single-path supernet runs every candidate op inside a
``lax.switch``, so its convolutions' gradients all landed on the slow path (the random-path NB201
step cost 3x a fixed network's; ``benchmarks/supernet_speed.py``).  :func:`conv_general_dilated`
computes the same values as ``lax.conv_general_dilated`` and its gradients with canonical
convolutions only (the transposes and kernel flips XLA would insert, written out), so a branch's
convolutions compile like the fixed network's.

Depthwise convolutions on the CPU are not convolution ops at all: XLA:CPU runs a grouped
convolution with one channel per group on a slow generic path (a 7x7 depthwise conv took
25-60x the time of the same sum written out, ``benchmarks/results/ofa_parity.md``), so there
:func:`depthwise_taps` computes it as a sum over the kernel taps of strided input windows times
that tap's weights -- elementwise work XLA fuses, differentiated by JAX as such. Other backends
keep the convolution op (cuDNN / TPU convolutions are fast).

Supported: NHWC inputs, HWIO kernels, explicit padding, any stride and kernel dilation, and
``feature_group_count`` 1 or depthwise (one input channel per group, as many outputs as inputs).
Anything else (input dilation, other group shapes, other layouts) falls back to
``lax.conv_general_dilated`` and JAX's own gradient.  Drop-in for ``flax.linen.Conv``'s
``conv_general_dilated`` field (same signature), see :func:`l2nas_jax.spaces.layers.conv`.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax import lax

NHWC = ("NHWC", "HWIO", "NHWC")
Pairs = tuple[tuple[int, int], ...]


def _vjp_input_padding(size: int, k: int, stride: int, dilation: int, pad: tuple[int, int], out: int) -> tuple[int, int]:
    """Padding of the input-gradient convolution along one spatial axis (output of size ``size``)."""
    kd = 1 + dilation * (k - 1)
    before = kd - pad[0] - 1
    after = size + kd - 1 - (1 + stride * (out - 1)) - before
    return before, after


def _kernel_grad_padding(size: int, k: int, stride: int, dilation: int, pad: tuple[int, int], out: int) -> tuple[int, int]:
    """Padding of the kernel-gradient convolution along one axis so its output has exactly ``k`` taps."""
    return pad[0], (k - 1) * dilation + (out - 1) * stride + 1 - size - pad[0]


def _conv(x: jax.Array, w: jax.Array, strides: Sequence[int], padding: Pairs, dilation: Sequence[int],
          groups: int, precision: Any, lhs_dilation: Sequence[int] = (1, 1)) -> jax.Array:
    """A canonical (NHWC, HWIO) ``lax.conv_general_dilated``."""
    return lax.conv_general_dilated(x, w, tuple(strides), padding, lhs_dilation=tuple(lhs_dilation),
                                    rhs_dilation=tuple(dilation), dimension_numbers=NHWC,
                                    feature_group_count=groups, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _canonical_conv(x: jax.Array, w: jax.Array, strides: tuple[int, int], padding: Pairs,
                    dilation: tuple[int, int], groups: int, precision: Any) -> jax.Array:
    return _conv(x, w, strides, padding, dilation, groups, precision)


def _fwd(x, w, strides, padding, dilation, groups, precision):
    return _conv(x, w, strides, padding, dilation, groups, precision), (x, w)


def _input_grad(dy: jax.Array, x: jax.Array, w: jax.Array, strides, padding, dilation, groups, precision) -> jax.Array:
    """``d loss / d x``: the transposed convolution, kernel flipped (and I/O swapped unless depthwise)."""
    flipped = jnp.flip(w, (0, 1))
    kernel = flipped if groups > 1 else jnp.swapaxes(flipped, 2, 3)
    pads = tuple(_vjp_input_padding(x.shape[1 + a], w.shape[a], strides[a], dilation[a], padding[a], dy.shape[1 + a])
                 for a in range(2))
    return _conv(dy, kernel, (1, 1), pads, dilation, groups, precision, lhs_dilation=strides)


def _dense_kernel_grad(dy: jax.Array, x: jax.Array, w: jax.Array, strides, padding, dilation, precision) -> jax.Array:
    """``d loss / d w`` of a dense convolution: channels of ``x`` act as the batch, the batch as features."""
    pads = tuple(_kernel_grad_padding(x.shape[1 + a], w.shape[a], strides[a], dilation[a], padding[a], dy.shape[1 + a])
                 for a in range(2))
    g = lax.conv_general_dilated(jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(dy, (1, 2, 0, 3)), tuple(dilation),
                                 pads, rhs_dilation=tuple(strides), dimension_numbers=NHWC, precision=precision)
    return jnp.transpose(g, (1, 2, 0, 3))  # [C_in, kh, kw, C_out] -> HWIO


def _depthwise_kernel_grad(dy: jax.Array, x: jax.Array, w: jax.Array, strides, padding, dilation) -> jax.Array:
    """``d loss / d w`` of a depthwise convolution: one strided window of ``x`` times ``dy`` per tap."""
    xp = jnp.pad(x, ((0, 0), *(_kernel_grad_padding(x.shape[1 + a], w.shape[a], strides[a], dilation[a], padding[a],
                                                    dy.shape[1 + a]) for a in range(2)), (0, 0)))
    taps = []
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            start = (0, i * dilation[0], j * dilation[1], 0)
            limit = (xp.shape[0], start[1] + (dy.shape[1] - 1) * strides[0] + 1,
                     start[2] + (dy.shape[2] - 1) * strides[1] + 1, xp.shape[3])
            window = lax.slice(xp, start, limit, (1, strides[0], strides[1], 1))
            taps.append(jnp.sum(window * dy, axis=(0, 1, 2)))
    return jnp.stack(taps).reshape(w.shape)


def _bwd(strides, padding, dilation, groups, precision, res, dy):
    x, w = res
    dx = _input_grad(dy, x, w, strides, padding, dilation, groups, precision)
    if groups == 1:
        dw = _dense_kernel_grad(dy, x, w, strides, padding, dilation, precision)
    else:
        dw = _depthwise_kernel_grad(dy, x, w, strides, padding, dilation)
    return dx.astype(x.dtype), dw.astype(w.dtype)


_canonical_conv.defvjp(_fwd, _bwd)


def _window_sum(xp: jax.Array, w: jax.Array, strides: Sequence[int], dilation: Sequence[int], out_hw: Sequence[int],
                acc: Any) -> jax.Array:
    """``sum over taps (i, j) of strided window (i, j) of xp x w[i, j, 0, :]``, accumulated in ``acc``."""
    (oh, ow), out = out_hw, None
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            start = (0, i * dilation[0], j * dilation[1], 0)
            limit = (xp.shape[0], start[1] + (oh - 1) * strides[0] + 1, start[2] + (ow - 1) * strides[1] + 1,
                     xp.shape[3])
            window = lax.slice(xp, start, limit, (1, strides[0], strides[1], 1))
            term = window.astype(acc) * w[i, j, 0, :].astype(acc)
            out = term if out is None else out + term
    return out


def _taps_out_hw(x: jax.Array, w: jax.Array, strides: Sequence[int], padding: Pairs,
                 dilation: Sequence[int]) -> tuple[int, int]:
    return tuple((x.shape[1 + a] + sum(padding[a]) - dilation[a] * (w.shape[a] - 1) - 1) // strides[a] + 1
                 for a in range(2))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _depthwise_taps(x: jax.Array, w: jax.Array, strides: tuple[int, int], padding: Pairs,
                    dilation: tuple[int, int]) -> jax.Array:
    acc = jnp.promote_types(x.dtype, jnp.float32)
    xp = jnp.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
    out = _window_sum(xp, w, strides, dilation, _taps_out_hw(x, w, strides, padding, dilation), acc)
    return out.astype(jnp.result_type(x.dtype, w.dtype))


def _taps_fwd(x, w, strides, padding, dilation):
    return _depthwise_taps(x, w, strides, padding, dilation), (x, w)


def _taps_bwd(strides, padding, dilation, res, dy):
    """``dx``: the stride-dilated ``dy`` correlated with the flipped kernel (taps again); ``dw``: one window x dy per tap.

    Why written out: JAX's own transpose of k*k window slices is k*k full-size pads and adds,
    which XLA compiles slowly and runs slowly; this is one fused window sum like the forward.
    """
    x, w = res
    pads = []
    for a in range(2):  # dx[p] = sum_j dy_dilated_padded[p + j * d] * w_flipped[j], cropped to x by the padding
        k, s, d = w.shape[a], strides[a], dilation[a]
        xp_len, dyd_len = x.shape[1 + a] + sum(padding[a]), (dy.shape[1 + a] - 1) * s + 1
        pads.append(((k - 1) * d - padding[a][0], xp_len - dyd_len - padding[a][1], s - 1))
    dyp = lax.pad(dy, jnp.zeros((), dy.dtype), ((0, 0, 0), *pads, (0, 0, 0)))
    acc = jnp.promote_types(dy.dtype, jnp.float32)
    dx = _window_sum(dyp, jnp.flip(w, (0, 1)), (1, 1), dilation, x.shape[1:3], acc)
    dw = _depthwise_kernel_grad(dy.astype(acc), x.astype(acc), w, strides, padding, dilation)
    return dx.astype(x.dtype), dw.astype(w.dtype)


_depthwise_taps.defvjp(_taps_fwd, _taps_bwd)


def depthwise_taps(x: jax.Array, w: jax.Array, strides: Sequence[int], padding: Pairs,
                   dilation: Sequence[int] = (1, 1)) -> jax.Array:
    """A depthwise NHWC convolution (``w``: ``[kh, kw, 1, C]``) as a sum of strided windows x tap weights.

    Same values as ``lax.conv_general_dilated(..., feature_group_count=C)`` up to summation order;
    bfloat16 inputs are accumulated in float32.  Its gradient is a window sum too (``_taps_bwd``).
    """
    return _depthwise_taps(x, w, tuple(int(s) for s in strides), tuple((int(a), int(b)) for a, b in padding),
                           tuple(int(d) for d in dilation))


def _taps_here() -> bool:
    """Depthwise convolutions as taps: on the CPU backend (see module docstring)."""
    return jax.default_backend() == "cpu"


def _is_nhwc(dimension_numbers: Any) -> bool:
    """Whether flax/lax ``dimension_numbers`` describe NHWC inputs/outputs and HWIO kernels."""
    if dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return tuple(dimension_numbers) == NHWC


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1, batch_group_count: int = 1,
                         precision: Any = None, preferred_element_type: Any = None, *,
                         allow_taps: bool = True) -> jax.Array:
    """``lax.conv_general_dilated`` with canonical-layout gradients where supported (see module docstring).

    ``allow_taps=False`` keeps a depthwise convolution a convolution op on the CPU too: for a large
    kernel that is mostly zeros (OFA's elastic 7x7 holding a 3x3), where k*k taps cost more compile
    time than the convolution op costs run time.
    """
    c_in, c_out = lhs.shape[-1], rhs.shape[-1]
    depthwise = feature_group_count == c_in and rhs.shape[2] == 1 and c_out == c_in
    supported = (
        lhs.ndim == 4 and _is_nhwc(dimension_numbers) and not isinstance(padding, str)
        and all(d == 1 for d in (lhs_dilation or (1, 1))) and batch_group_count == 1
        and preferred_element_type is None and (feature_group_count == 1 or depthwise)
    )
    if not supported:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, batch_group_count, precision,
                                        preferred_element_type)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if depthwise and allow_taps and _taps_here():
        return depthwise_taps(lhs, rhs, tuple(int(s) for s in window_strides), pads,
                              tuple(int(d) for d in (rhs_dilation or (1, 1))))
    return _canonical_conv(lhs, rhs, tuple(int(s) for s in window_strides), pads,
                           tuple(int(d) for d in (rhs_dilation or (1, 1))), int(feature_group_count), precision)


def pointwise(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A 1x1 NHWC convolution (``kernel``: ``[1, 1, C_in, C_out]``) on raw arrays, with the canonical-layout VJP."""
    return conv_general_dilated(x, kernel, (1, 1), ((0, 0), (0, 0)), dimension_numbers=NHWC)
