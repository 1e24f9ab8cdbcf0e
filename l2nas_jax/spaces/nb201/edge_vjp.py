"""The NB201 mixed edge's training step with a hand-written backward pass (a ``jax.custom_vjp``).

Why: differentiating a ``lax.switch`` makes every branch return the union of all branches'
residuals, and the branches that do not need them fill them with zeros -- on a CPU that
zero-filling and copying, at each of the supernet's 90 switches, is most of what a random path
costs beyond its own network (docs/design.md).  Here the backward pass takes the edge's input
and output straight from outside the switch and the switch saves only each convolution op's
per-channel inverse standard deviation, so a sampled path costs about what its ops cost.

Scope: training mode (batch statistics, running averages updated as ``flax.linen.BatchNorm``
does), non-affine BN with a conv bias (the supernet's cells), float32.  Everything else
(initialisation, evaluation, affine cells, bfloat16) runs the plain switch.  Gradients equal
autodiff's up to float rounding (tests/spaces/test_nets.py).
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp

from l2nas_jax.spaces import conv as conv_lib
from l2nas_jax.spaces.layers import BN_EPS, BN_MOMENTUM, avg_pool_exclude_pad
from l2nas_jax.spaces.nb201.codec import OPS

#: The convolution ops: name -> (kernel size, padding); :func:`~l2nas_jax.spaces.nb201.nets.nb201_op` builds them from it.
CONV_OPS = {"nor_conv_1x1": (1, 0), "nor_conv_3x3": (3, 1)}
_AXES = (0, 1, 2)


def _conv(h: chex.Array, p: Any, pad: int) -> jax.Array:
    """``flax.linen.Conv`` with a bias, as :func:`l2nas_jax.spaces.layers.conv` builds it."""
    y = conv_lib.conv_general_dilated(h, p["kernel"], (1, 1), ((pad, pad), (pad, pad)), (1, 1), (1, 1),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["bias"].reshape(1, 1, 1, -1)


def _conv_op(x: chex.Array, params: Any, stats: Any, name: str) -> tuple[jax.Array, jax.Array, Any]:
    """ReLU -> conv -> non-affine BN in training mode: output, 1/std per channel, updated statistics."""
    pad = CONV_OPS[name][1]
    y = _conv(jax.nn.relu(x), params[name]["Conv_0"], pad)
    mean = jnp.mean(y, _AXES)
    var = jnp.maximum(0.0, jnp.mean(jnp.square(y), _AXES) - jnp.square(mean))  # flax's fast variance
    inv = jax.lax.rsqrt(var + BN_EPS)
    old = stats[name]["BatchNorm_0"]
    new = {**stats, name: {"BatchNorm_0": {"mean": BN_MOMENTUM * old["mean"] + (1 - BN_MOMENTUM) * mean,
                                           "var": BN_MOMENTUM * old["var"] + (1 - BN_MOMENTUM) * var}}}
    return (y - mean) * inv, inv, new


def _forward(params: Any, stats: Any, x: chex.Array, index: chex.Array) -> tuple[jax.Array, jax.Array, Any]:
    """(output, 1/std of the chosen conv op or zeros, updated statistics) of op ``index``."""
    zeros = jnp.zeros((x.shape[-1],), x.dtype)

    def branch(name: str):
        if name in CONV_OPS:
            return lambda: _conv_op(x, params, stats, name)
        if name == "none":
            return lambda: (jnp.zeros_like(x), zeros, stats)
        if name == "skip_connect":
            return lambda: (x, zeros, stats)
        return lambda: (avg_pool_exclude_pad(x, 1), zeros, stats)

    return jax.lax.switch(index, [branch(name) for name in OPS])


@jax.custom_vjp
def mixed_edge_train(params: Any, stats: Any, x: chex.Array, index: chex.Array) -> tuple[jax.Array, Any]:
    """Op ``index`` of the edge on ``x`` in training mode: ``(output, updated batch statistics)``."""
    out, _, new_stats = _forward(params, stats, x, index)
    return out, new_stats


def _fwd(params, stats, x, index):
    out, inv, new_stats = _forward(params, stats, x, index)
    return (out, new_stats), (params, stats, x, index, out, inv)


def _bwd(res, cotangents):
    params, stats, x, index, out, inv = res
    g, _ = cotangents  # the statistics carry no gradient
    zero_params = jax.tree.map(jnp.zeros_like, params)

    def conv_grad(name: str):
        def grad():
            gm, gx = jnp.mean(g, _AXES), jnp.mean(g * out, _AXES)  # out = the normalised conv output
            dy = inv * (g - gm - out * gx)
            pad = CONV_OPS[name][1]
            _, vjp = jax.vjp(lambda h, p: _conv(h, p, pad), jax.nn.relu(x), params[name]["Conv_0"])
            dh, dp = vjp(dy)  # the forward convolution inside is dead code: XLA removes it
            return {**zero_params, name: {"Conv_0": dp}}, jnp.where(x > 0, dh, 0.0)
        return grad

    def branch(name: str):
        if name in CONV_OPS:
            return conv_grad(name)
        if name == "none":
            return lambda: (zero_params, jnp.zeros_like(x))
        if name == "skip_connect":
            return lambda: (zero_params, g)
        return lambda: (zero_params, jax.vjp(lambda h: avg_pool_exclude_pad(h, 1), x)[1](g)[0])

    d_params, dx = jax.lax.switch(index, [branch(name) for name in OPS])
    return d_params, jax.tree.map(jnp.zeros_like, stats), dx, None


mixed_edge_train.defvjp(_fwd, _bwd)
