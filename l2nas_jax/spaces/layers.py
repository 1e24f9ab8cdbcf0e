"""Candidate operations shared by the NB201 and DARTS networks (NHWC, flax linen).

One implementation of each op, used by both spaces and by both the weight-sharing supernets
and the fixed (derived) networks.  Semantics follow the PyTorch reference code
(``quark0/darts`` ``cnn/operations.py``; ``D-X-Y/AutoDL-Projects``
``xautodl/models/cell_operations.py``), summarised in ``docs/spaces.md`` sections 1-2:

* BatchNorm: PyTorch ``momentum=0.1`` is flax ``momentum=0.9``; ``eps=1e-5``; statistics in the
  ``batch_stats`` collection; ``affine=False`` drops gamma/beta (search cells).
* Convolutions use explicit symmetric padding (as PyTorch) and are bias-free unless asked
  (``conv_bias``: AutoDL's search cells use ``bias = not affine``).  Kernels are initialised like
  PyTorch's default (``kaiming_uniform(a=sqrt(5))`` = uniform with variance ``1/(3 fan_in)``).
* Average pooling divides border windows by the number of valid pixels
  (``count_include_pad=False``); max pooling pads with ``-inf``.

Every op is called as ``op(x, train)``, so ops are interchangeable inside a single-path switch
(:func:`single_path`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from l2nas_jax.spaces import conv as conv_lib
BN_MOMENTUM = 0.9  # = PyTorch momentum 0.1
BN_EPS = 1e-5
#: PyTorch's default conv/linear weight init: kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def batch_norm(train: bool, affine: bool = True, name: str | None = None) -> nn.BatchNorm:
    """A BatchNorm with the PyTorch defaults (momentum 0.1, eps 1e-5); no gamma/beta if not affine."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPS,
        use_scale=affine,
        use_bias=affine,
        name=name,
    )


def conv(
    features: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    name: str | None = None,
) -> nn.Conv:
    """A square 2-D convolution with PyTorch-style symmetric padding and init."""
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        kernel_dilation=(dilation, dilation),
        feature_group_count=groups,
        use_bias=bias,
        kernel_init=torch_kernel_init,
        conv_general_dilated=conv_lib.conv_general_dilated,  # fast gradients inside single_path's switch
        name=name,
    )


#: Name of a conv op's convolution output (``jax.ad_checkpoint.checkpoint_name``), the one value
#: :data:`SAVE_CONV_OUT` keeps for the backward pass.
CONV_OUT = "conv_out"
#: Remat policy for ops inside a single-path switch: keep the convolution output, recompute the
#: cheap rest (ReLU, BN normalisation) in the backward pass.  Why: every value a switch branch
#: saves becomes a conditional output that all other branches must fill with zeros; fewer saved
#: values make a sampled path cheaper (measured: ``benchmarks/supernet_speed.py``).
SAVE_CONV_OUT = jax.checkpoint_policies.save_only_these_names(CONV_OUT)


class ReLUConvBN(nn.Module):
    """ReLU -> Conv k x k -> BN (DARTS preprocess / AutoDL ``nor_conv_kxk`` / ResNet block half)."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    affine: bool = True
    conv_bias: bool = False

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        x = nn.relu(x)
        x = conv(self.features, self.kernel, self.stride, self.padding, self.dilation, bias=self.conv_bias)(x)
        return batch_norm(train, self.affine)(checkpoint_name(x, CONV_OUT))


class DilConv(nn.Module):
    """ReLU -> dilated depthwise k x k (stride s) -> 1x1 -> BN (DARTS ``dil_conv_k``)."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    affine: bool = True

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        c_in = x.shape[-1]
        x = nn.relu(x)
        x = conv(c_in, self.kernel, self.stride, self.padding, self.dilation, groups=c_in)(x)
        x = conv(self.features, 1)(x)
        return batch_norm(train, self.affine)(x)


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise k x k, 1x1, BN) blocks; only the first strides (DARTS ``sep_conv_k``)."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    affine: bool = True

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        c_in = x.shape[-1]
        x = DilConv(c_in, self.kernel, self.stride, self.padding, 1, self.affine)(x, train)
        return DilConv(self.features, self.kernel, 1, self.padding, 1, self.affine)(x, train)


class FactorizedReduce(nn.Module):
    """ReLU -> concat(1x1 s2 conv on x, 1x1 s2 conv on x shifted by one pixel) -> BN; halves H, W."""

    features: int
    affine: bool = True

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        if self.features % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {self.features}")
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"FactorizedReduce needs even spatial sizes, got {x.shape[1:3]}")
        x = nn.relu(x)
        a = conv(self.features // 2, 1, 2)(x)
        b = conv(self.features // 2, 1, 2)(x[:, 1:, 1:, :])
        return batch_norm(train, self.affine)(jnp.concatenate([a, b], axis=-1))


def _window_counts(size: tuple[int, int], stride: int) -> np.ndarray:
    """``float32[1, Ho, Wo, 1]``: how many real (not padding) pixels each 3x3 window (pad 1) covers."""
    out = []
    for n in size:
        starts = np.arange(0, n, stride) - 1  # window start in the unpadded image
        out.append(np.minimum(starts + 3, n) - np.maximum(starts, 0))
    return (out[0][:, None] * out[1][None, :]).astype(np.float32)[None, :, :, None]


def avg_pool_exclude_pad(x: chex.Array, stride: int) -> chex.Array:
    """3x3 average pool, pad 1, padding not counted (``count_include_pad=False``).

    Flax's ``avg_pool`` divides by a pooled batch-sized array of ones, which XLA constant-folds at
    compile time (seconds for a large batch, and a large constant read at run time); the divisor
    only depends on the spatial size, so it is computed here once, on the host, per image size.
    """
    y = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, stride, stride, 1),
                              ((0, 0), (1, 1), (1, 1), (0, 0)))
    return y / jnp.asarray(_window_counts(tuple(x.shape[1:3]), stride), y.dtype)  # counts <= 9: exact in bf16


class Pool(nn.Module):
    """3x3 max or average pool (pad 1, ``count_include_pad=False``), optionally + non-affine BN (DARTS search)."""

    kind: str  # "max" | "avg"
    stride: int = 1
    bn: bool = False

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        window, strides, pad = (3, 3), (self.stride, self.stride), ((1, 1), (1, 1))
        if self.kind == "avg":
            x = avg_pool_exclude_pad(x, self.stride)
        elif self.kind == "max":
            x = nn.max_pool(x, window, strides, pad)
        else:
            raise ValueError(f"unknown pool kind {self.kind!r}; expected 'max' or 'avg'")
        return batch_norm(train, affine=False)(x) if self.bn else x


class Identity(nn.Module):
    """The identity (``skip_connect`` at stride 1)."""

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        del train
        return x


class Zero(nn.Module):
    """Zeros shaped like the (strided) input (the ``none`` op)."""

    stride: int = 1

    @nn.compact
    def __call__(self, x: chex.Array, train: bool) -> chex.Array:
        del train
        return jnp.zeros_like(x[:, :: self.stride, :: self.stride, :])


Branch = Callable[..., Any]


def single_path(mdl: nn.Module, index: chex.Array, branches: Sequence[Branch], *operands: Any) -> Any:
    """Run only ``branches[index](mdl, *operands)`` with a lifted ``lax.switch`` (``index`` may be traced).

    Why: one compiled program serves every choice, unselected branches are not computed, their
    parameters get exactly zero gradient and their BN statistics are left unchanged.  At
    initialisation every branch is run so that all branches' variables exist (the recipe in the
    docstring of ``flax.linen.switch``) and the chosen output is picked by indexing instead.  Branches access submodules through ``mdl`` (defined
    in ``mdl.setup``).  Note: under ``jax.vmap`` over ``index`` the switch becomes a select and
    every branch is computed.
    """
    index = jnp.asarray(index, jnp.int32)
    if mdl.is_initializing():
        # Create every branch's variables; select without a switch (cheap to trace and compile).
        outs = [branch(mdl, *operands) for branch in branches]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves)[index], *outs)
    return nn.switch(index, list(branches), mdl, *operands)


def global_avg_pool(x: chex.Array) -> chex.Array:
    """Mean over the spatial axes: ``[B, H, W, C] -> [B, C]``."""
    return jnp.mean(x, axis=(1, 2))


def classifier(num_classes: int, name: str = "classifier") -> nn.Dense:
    """The final linear layer (with bias), PyTorch-style weight init."""
    return nn.Dense(num_classes, kernel_init=torch_kernel_init, name=name)


def param_count(params: Any, exclude: Sequence[str] = ()) -> int:
    """Number of scalars in a params tree, skipping top-level submodules named in ``exclude``."""
    total = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        top = getattr(path[0], "key", None) if path else None
        if top in exclude:
            continue
        total += int(np.prod(jnp.shape(leaf)))
    return total
