"""Batch-norm re-calibration of one subnet of a supernet, as once-for-all does it before evaluating.

A weight-sharing supernet's running BN statistics mix every subnet it trained; OFA
(``ofa/imagenet_classification/elastic_nn/utils.py``, ``set_running_statistics``) therefore
re-estimates them per subnet: forward a fixed subset of training images through the subnet with
every BN normalising by its batch statistics, average each BN's per-batch mean and (biased)
variance over the batches (weighted by batch size), and write the averages into the running
statistics of the channels that subnet uses. Layers and channels it does not use keep theirs.

:func:`recalibrate` is one jitted program with the subnet ``arch`` as a traced input, so every
subnet of a search shares one compilation. The per-batch statistics are read with a flax method
interceptor on every ``nn.BatchNorm`` and :class:`~l2nas_jax.spaces.ofa.nets.MaskedBatchNorm`
call: no model code changes, and the model's own forward pass is what gets measured.
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.traverse_util import flatten_dict, unflatten_dict

from l2nas_jax.spaces.ofa.nets import MODULE_PATH_COLLECTION, MaskedBatchNorm

_COLLECTION = MODULE_PATH_COLLECTION  # sown into; also makes the OFA supernet run its BNs as module calls


def _batch_moments(x: chex.Array) -> tuple[chex.Array, chex.Array]:
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x.astype(jnp.float32), axis=axes)
    return mean, jnp.mean(jnp.square(x.astype(jnp.float32) - mean), axis=axes)


def _record(next_fun, args, kwargs, context):
    """Interceptor: sow each BN call's batch mean / variance and which channels it may update."""
    module = context.module
    if context.method_name == "__call__" and isinstance(module, nn.BatchNorm | MaskedBatchNorm):
        x = args[0]
        mean, var = _batch_moments(x)
        if isinstance(module, MaskedBatchNorm):
            update = jnp.broadcast_to(args[1] if len(args) > 1 else kwargs["update"], mean.shape)
        else:
            update = jnp.ones(mean.shape, bool)
        module.sow(_COLLECTION, "moments", (mean, var, update))
    return next_fun(*args, **kwargs)


def batch_moments(model: nn.Module, variables: Any, images: chex.Array, *args: Any) -> dict[tuple[str, ...], Any]:
    """``{bn path: (mean, var, update)}`` of one batch, every BN normalising by its batch statistics."""
    with nn.intercept_methods(_record):
        _, cols = model.apply(variables, images, *args, train=True, mutable=["batch_stats", _COLLECTION])
    flat = flatten_dict(cols[_COLLECTION])
    return {path[:-1]: moments[0] for path, moments in flat.items()}  # sow keeps a tuple of calls; one each


@functools.partial(jax.jit, static_argnames=("model", "batch_size"))
def recalibrate(model: nn.Module, variables: Any, images: chex.Array, *args: Any, batch_size: int) -> Any:
    """``variables`` with the running BN statistics re-estimated on ``images`` for the subnet ``args``.

    ``images`` ``[N, H, W, C]`` (N a multiple of ``batch_size``) is the fixed calibration subset;
    ``args`` are the model's extra inputs after the images (the traced ``arch`` of a supernet).
    Deterministic: the same images in the same order give bit-identical statistics.
    """
    n = images.shape[0]
    if n % batch_size:
        raise ValueError(f"recalibrate: {n} images is not a multiple of batch_size {batch_size}")
    xs = images.reshape(n // batch_size, batch_size, *images.shape[1:])

    def step(total, x):  # one copy of the network in the program: no batch peeled off the scan
        m = batch_moments(model, variables, x, *args)
        return {k: (t[0] + m[k][0], t[1] + m[k][1], t[2] | m[k][2]) for k, t in total.items()}, None

    shapes = jax.eval_shape(lambda x: batch_moments(model, variables, x, *args), xs[0])
    init = {k: tuple(jnp.zeros(s.shape, s.dtype) for s in v) for k, v in shapes.items()}
    total, _ = jax.lax.scan(step, init, xs)
    nb = xs.shape[0]
    stats = flatten_dict(dict(variables["batch_stats"]))
    for path, (mean_sum, var_sum, update) in total.items():
        for name, value in (("mean", mean_sum / nb), ("var", var_sum / nb)):
            old = stats[(*path, name)]
            stats[(*path, name)] = jnp.where(update, value.astype(old.dtype), old)
    return {**variables, "batch_stats": unflatten_dict(stats)}


__all__ = ["batch_moments", "recalibrate"]
