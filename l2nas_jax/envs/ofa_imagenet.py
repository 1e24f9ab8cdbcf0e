"""A converted once-for-all supernet searched on ImageNet, each subnet evaluated as OFA evaluates it.

Reward = top-1 accuracy (%) of the subnet at ITS resolution (the arch's resolution entry: one of
:data:`~l2nas_jax.spaces.ofa.codec.RESOLUTIONS`) on a fixed subset of ImageNet *training* images,
after re-calibrating its batch-norm statistics on another fixed subset of training images
(:func:`~l2nas_jax.supernet.ofa_published.recalibrated_accuracy`); the reported metric is the same
on ImageNet *validation* images, so the metric searched and the metric reported never share
images. (OFA held 10,000 training images out of supernet training for its own search; which ones
cannot be reproduced here, so the search images were, in all likelihood, trained on.)

Every split is kept on the device as uint8 crops at every resolution (OFA's resize and centre crop,
:mod:`~l2nas_jax.supernet.imagenet`; about 0.56 MB per image for the five resolutions) and
normalised there. A query runs ONE resolution's branch (``lax.switch``); under the runner's
``vmap`` over seeds the queries are evaluated one after another (``custom_vmap`` + ``lax.map``), as
a batched switch would otherwise run all five branches for every query.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from l2nas_jax.envs.supernet import SupernetEnv
from l2nas_jax.spaces import get_space
from l2nas_jax.spaces.ofa import codec
from l2nas_jax.supernet import imagenet, ofa_published

#: OFA's re-calibration subset (``random_sub_train_loader(2000, ...)``).
CALIB_IMAGES = 2000


def one_query_at_a_time(fn: Callable[[chex.Array, Any], chex.Array]) -> Callable[[chex.Array, Any], chex.Array]:
    """``fn(arch, operands)`` whose ``vmap`` over archs is a sequential ``lax.map``: a ``lax.switch`` on the
    arch inside stays a real branch (a batched switch becomes a select that runs every branch)."""

    @jax.custom_batching.custom_vmap
    def f(arch, operands):
        return fn(arch, operands)

    @f.def_vmap
    def _rule(axis_size, in_batched, arch, operands):
        arch_b, ops_b = in_batched
        if not any(jax.tree.leaves(ops_b)):
            if not arch_b:
                return fn(arch, operands), False
            return jax.lax.map(lambda a: fn(a, operands), arch), True
        arch = arch if arch_b else jnp.broadcast_to(arch, (axis_size, *arch.shape))
        ops = jax.tree.map(lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *x.shape)), operands, ops_b)
        return jax.lax.map(lambda ao: fn(*ao), (arch, ops)), True

    return f


def _accuracy_at_resolution(model: Any, batch_size: int) -> Callable[[chex.Array, Any], chex.Array]:
    def fn(arch, operands):
        variables, calib, images, labels = operands
        branches = [functools.partial(lambda i, ops: ofa_published.recalibrated_accuracy(
            model, ops[0], arch, ops[1][i], ops[2][i], ops[3], batch_size), i) for i in range(len(images))]
        return jax.lax.switch(arch[codec.RES_ROW], branches, (variables, calib, images, labels))

    return one_query_at_a_time(fn)


@struct.dataclass
class OFAImageNetEnv(SupernetEnv):
    """:class:`SupernetEnv` over a converted OFA supernet whose image fields are per-resolution tuples of uint8
    crops (``search_images[i]``: ``[N, r_i, r_i, 3]`` for ``r_i = RESOLUTIONS[i]``), plus the calibration images."""

    calib_images: tuple = ()

    def evaluate(self, key: chex.PRNGKey, arch: chex.Array) -> chex.Array:
        """Top-1 (%) of the re-calibrated subnet on the search images at its resolution (``key`` unused)."""
        del key
        return _accuracy_at_resolution(self.model, self.batch_size)(
            arch, (self.variables, self.calib_images, self.search_images, self.search_labels))

    def report(self, arch: chex.Array) -> chex.Array:
        """The same on the ImageNet validation images."""
        return _accuracy_at_resolution(self.model, self.batch_size)(
            arch, (self.variables, self.calib_images, self.report_images, self.report_labels))


def load_ofa_imagenet_env(
    run_dir: str | os.PathLike,
    data: str,
    *,
    search_images: int = 1000,
    report_images: int = 1000,
    calib_images: int = CALIB_IMAGES,
    batch_size: int = 100,
    seed: int = 0,
    cost_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> OFAImageNetEnv:
    """The environment of a converted supernet (``l2nas convert-ofa``) on ImageNet at ``data``.

    ``data``: ``imagenet:ROOT`` with ``ROOT/train`` and ``ROOT/val`` ImageFolder trees, or a tfds data dir
    holding ``imagenet2012`` (its train and validation splits). ``calib_images + search_images`` distinct
    training images are drawn with ``seed`` (re-calibration subset first), ``report_images`` validation
    images likewise; each count is cut to a multiple of ``batch_size``.
    """
    model, variables, meta = ofa_published.load_converted(run_dir)
    train_src, val_src = imagenet.split_sources(data)
    calib_n = ofa_published.whole_batches(calib_images, batch_size, "BN re-calibration images")
    search_n = ofa_published.whole_batches(search_images, batch_size, "search images")
    report_n = ofa_published.whole_batches(report_images, batch_size, "report images")
    res = codec.RESOLUTIONS
    train, train_y, _ = imagenet.load_imagenet_crops(train_src, res, limit=calib_n + search_n, seed=seed,
                                                     progress=progress, split="train")
    if len(train_y) < calib_n + search_n:
        raise ValueError(f"{data}: the training split has {len(train_y)} images, fewer than the {calib_n} "
                         f"re-calibration + {search_n} search images asked for")
    order = np.random.default_rng(seed).permutation(len(train_y))
    calib_rows, search_rows = np.sort(order[:calib_n]), np.sort(order[calib_n:calib_n + search_n])
    val, val_y, _ = imagenet.load_imagenet_crops(val_src, res, limit=report_n, seed=seed, progress=progress,
                                                 split="validation")
    report_n = ofa_published.whole_batches(len(val_y), batch_size, "report images")
    space = get_space("ofa")
    dev = jnp.asarray
    return OFAImageNetEnv(
        variables=variables,
        search_images=tuple(dev(train[r][search_rows]) for r in res), search_labels=dev(train_y[search_rows]),
        report_images=tuple(dev(val[r][:report_n]) for r in res), report_labels=dev(val_y[:report_n]),
        calib_images=tuple(dev(train[r][calib_rows]) for r in res),
        space=space, model=model, batch_size=int(batch_size),
        cost_kwargs=tuple(sorted({**ofa_published.size_kwargs(meta["net"]), **(cost_kwargs or {})}.items())),
        dataset="imagenet", search_split="imagenet-train-subset", report_split="imagenet-val", name="ofa",
        alpha_shape=tuple(space.alpha_shape), arch_shape=tuple(space.arch_shape), num_archs=int(space.num_archs),
    )


__all__ = ["CALIB_IMAGES", "OFAImageNetEnv", "load_ofa_imagenet_env", "one_query_at_a_time"]
