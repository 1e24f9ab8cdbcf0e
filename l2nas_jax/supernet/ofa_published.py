"""A converted once-for-all supernet on disk, and the accuracy of one of its subnets as OFA measures it.

``l2nas convert-ofa CKPT --out DIR`` writes DIR as:

* ``supernet.json`` -- ``{"space": "ofa", "kind": "ofa-converted", "net": {"width", "num_classes"},
  "dataset": {"name": "imagenet"}, "source": {checkpoint path, sha256, size}, provenance}``;
* ``variables/`` -- an orbax checkpoint of ``{"params", "batch_stats"}`` of
  :class:`~l2nas_jax.spaces.ofa.nets.OFASupernet` (orbax writes into a temporary directory and
  renames it when complete, and ``supernet.json`` is written atomically after it: a directory is
  either whole or refused).

:func:`recalibrated_accuracy` is OFA's evaluation of one subnet (``ofa/tutorial/imagenet_eval_helper.py``):
re-calibrate the batch-norm statistics on a fixed subset of training images
(:mod:`~l2nas_jax.supernet.bn_recal`), then classify in eval mode. One jitted program per image
shape with the subnet traced.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import chex
import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance
from l2nas_jax.spaces.ofa import nets
from l2nas_jax.supernet import bn_recal
from l2nas_jax.supernet.imagenet import normalize  # NumPy or on the device: the crops stay uint8 in memory

KIND = "ofa-converted"
META_FILE = "supernet.json"
VARIABLES_DIR = "variables"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_converted(out: str | os.PathLike, net_kwargs: Mapping[str, Any], variables: Mapping[str, Any],
                    source: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
    """Write a converted supernet directory (see module docstring); returns its path.

    Refuses an ``out`` that already holds a supernet or any file, unless ``overwrite``.
    """
    import orbax.checkpoint as ocp  # heavy: only when a supernet is written

    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"--out {out} is not empty; pass --overwrite to replace its supernet, or choose another")
        for name in (META_FILE, VARIABLES_DIR):
            p = out / name
            if p.is_dir():
                import shutil

                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    tree = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(out / VARIABLES_DIR, jax.tree.map(np.asarray, tree))
        ckpt.wait_until_finished()
    meta: dict[str, Any] = {"space": "ofa", "kind": KIND, "net": dict(net_kwargs),
                            "dataset": {"name": "imagenet", "num_classes": int(net_kwargs["num_classes"])},
                            "provenance": provenance()}
    if source is not None:
        src = Path(source)
        meta["source"] = {"checkpoint": str(src.absolute()), "sha256": _sha256(src), "bytes": src.stat().st_size}
    io.write_json(out / META_FILE, meta)
    return out


def is_converted(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` is a converted once-for-all supernet (not a ``train/supernet.py`` run)."""
    meta = Path(run_dir) / META_FILE
    try:
        return meta.is_file() and json.loads(meta.read_text()).get("kind") == KIND
    except (OSError, json.JSONDecodeError):
        return False


def load_converted(run_dir: str | os.PathLike) -> tuple[nets.OFASupernet, dict[str, Any], dict[str, Any]]:
    """``(model, variables, meta)`` of a directory written by :func:`write_converted`."""
    import orbax.checkpoint as ocp

    run_dir = Path(run_dir).expanduser().absolute()
    if not is_converted(run_dir):
        raise ValueError(f"{run_dir} is not a converted OFA supernet (no {META_FILE} of kind {KIND!r}; "
                         f"write one with l2nas convert-ofa CKPT --out DIR)")
    meta = json.loads((run_dir / META_FILE).read_text())
    model = nets.make_supernet(**meta["net"])
    like = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                             jnp.zeros((26,), jnp.int32)))
    target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), dict(like))
    try:
        with ocp.StandardCheckpointer() as ckpt:
            restored = ckpt.restore(run_dir / VARIABLES_DIR, target)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
        raise ValueError(f"{run_dir}/{VARIABLES_DIR} does not hold this supernet's variables: {e}") from None
    return model, jax.tree.map(jnp.asarray, restored), meta


def whole_batches(n: int, batch_size: int, what: str) -> int:
    """``n`` cut to a multiple of ``batch_size``; a ValueError naming ``what`` when not one batch is left."""
    m = int(n) - int(n) % batch_size
    if m <= 0:
        raise ValueError(f"{what}: {n} images, fewer than one batch ({batch_size})")
    return m


def accuracy(model: Any, variables: Any, arch: chex.Array, images_u8: chex.Array, labels: chex.Array,
             batch_size: int) -> chex.Array:
    """Top-1 accuracy (%) in eval mode (running BN statistics) of subnet ``arch`` on uint8 crops."""
    n = images_u8.shape[0]
    chex.assert_shape(labels, (n,))
    xs = images_u8.reshape(n // batch_size, batch_size, *images_u8.shape[1:])
    ys = labels.reshape(n // batch_size, batch_size)

    def one(xy):
        logits = model.apply(variables, normalize(xy[0]), arch, train=False)
        return jnp.sum(jnp.argmax(logits, -1) == xy[1])

    return 100.0 * jnp.sum(jax.lax.map(one, (xs, ys))) / n


def recalibrated_accuracy(model: Any, variables: Any, arch: chex.Array, calib_u8: chex.Array, images_u8: chex.Array,
                          labels: chex.Array, batch_size: int) -> chex.Array:
    """OFA's subnet evaluation: BN statistics re-estimated on ``calib_u8``, then :func:`accuracy` (traceable)."""
    calibrated = bn_recal.recalibrate(model, variables, normalize(calib_u8), arch, batch_size=batch_size)
    return accuracy(model, calibrated, arch, images_u8, labels, batch_size)


def _padded(images_u8: np.ndarray, labels: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad to a multiple of ``batch_size``; padded rows get label -1 (never counted as correct)."""
    pad = -len(labels) % batch_size
    if pad:
        images_u8 = np.concatenate([images_u8, np.zeros((pad, *images_u8.shape[1:]), images_u8.dtype)])
        labels = np.concatenate([labels, np.full(pad, -1, labels.dtype)])
    return images_u8, labels


def _topk_correct(model: Any, variables: Any, arch: chex.Array, x_u8: chex.Array, y: chex.Array) -> chex.Array:
    """``int32[2]``: images of one batch classified correctly at top-1 and top-5 (eval mode); label -1 never counts."""
    logits = model.apply(variables, normalize(x_u8), arch, train=False)
    top5 = jax.lax.top_k(logits, 5)[1]
    return jnp.stack([jnp.sum(top5[:, 0] == y), jnp.sum(jnp.any(top5 == y[:, None], axis=-1))]).astype(jnp.int32)


def _count_correct(model: Any, variables: Any, arch: chex.Array, images_u8: np.ndarray, labels: np.ndarray,
                   batch_size: int, progress: bool, options: dict[str, Any] | None) -> tuple[int, int]:
    """Top-1 / top-5 hits over all images, one batch at a time (each split over all local devices; the
    host copy is streamed to the devices batch by batch), behind a progress bar."""
    from jax.sharding import NamedSharding, PartitionSpec
    from tqdm import tqdm

    from l2nas_jax.supernet.sharding import DATA_AXIS, check_batch_size, make_mesh

    mesh = make_mesh()
    check_batch_size(batch_size, mesh)
    spec = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    x, y = _padded(images_u8, labels, batch_size)
    total, step = jnp.zeros(2, jnp.int32), None
    for start in tqdm(range(0, len(y), batch_size), desc="evaluate", unit="batch", disable=not progress):
        xb = jax.device_put(x[start:start + batch_size], spec)
        yb = jax.device_put(y[start:start + batch_size], spec)
        if step is None:  # one compiled program for every batch
            step = jax.jit(functools.partial(_topk_correct, model)).lower(variables, arch, xb, yb).compile(options)
        total = total + step(variables, arch, xb, yb)
    top1, top5 = (int(v) for v in total)
    return top1, top5


def evaluate_subnet(
    run_dir: str | os.PathLike,
    subnet: Any,
    data: str,
    *,
    calib_images: int = 2000,
    max_images: int | None = None,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = True,
    fast_compile: bool = False,
) -> dict[str, Any]:
    """ImageNet top-1 / top-5 (%) of one subnet of a converted supernet, as OFA evaluates it.

    ``subnet``: any form :func:`~l2nas_jax.spaces.ofa.codec.as_config` takes; its ``r`` is the resolution.
    BN statistics are re-calibrated on ``calib_images`` training images (a fixed subset for ``seed``),
    then ``max_images`` validation images (None: all; kept in memory as uint8 crops, 150 KB each at
    224 px) are classified, each batch split over all local devices (progress bar). ``fast_compile``: the
    CPU's cheaper compilation (:data:`~l2nas_jax.supernet.train.FAST_COMPILE_OPTIONS`). Returns a JSON-ready summary.
    """
    from l2nas_jax.spaces.ofa import codec, cost
    from l2nas_jax.supernet import imagenet

    from l2nas_jax.supernet.train import compiler_options

    options = compiler_options(fast_compile)
    model, variables, meta = load_converted(run_dir)
    cfg = codec.as_config(subnet).canonical()
    arch = jnp.asarray(np.concatenate([codec.config_layers(cfg), [0]]), jnp.int32)  # the resolution is the images'
    train_src, val_src = imagenet.split_sources(data)
    calib_n = whole_batches(calib_images, batch_size, "--calib-images")
    calib, _, _ = imagenet.load_imagenet_crops(train_src, (cfg.r,), limit=calib_n, seed=seed, progress=progress,
                                               split="train")
    if len(calib[cfg.r]) < calib_n:
        raise ValueError(f"{data}: {len(calib[cfg.r])} training images, fewer than --calib-images {calib_n}")
    calib_x = normalize(jnp.asarray(calib[cfg.r]))
    recal = bn_recal.recalibrate.lower(model, variables, calib_x, arch, batch_size=batch_size).compile(options)
    calibrated = recal(variables, calib_x, arch)
    val, labels, _ = imagenet.load_imagenet_crops(val_src, (cfg.r,), limit=max_images, seed=seed, progress=progress,
                                                  split="validation")
    top1, top5 = _count_correct(model, calibrated, arch, val[cfg.r], labels, batch_size, progress, options)
    params, macs = cost.ofa_cost(cfg, **size_kwargs(meta["net"]))
    n = len(labels)
    return {"space": "ofa", "supernet": str(Path(run_dir).absolute()), "subnet": str(cfg), "resolution": cfg.r,
            "top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "images": n, "calib_images": calib_n,
            "params_M": float(params), "macs_M": float(macs), "data": data, "seed": seed, "batch_size": batch_size,
            "protocol": "OFA: BN statistics re-calibrated on training images, then eval mode on validation images",
            "provenance": provenance()}


def size_kwargs(net: Mapping[str, Any]) -> dict[str, Any]:
    """A converted net's size arguments as the analytic counter takes them (lists as tuples: static arguments)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in net.items()}


__all__ = ["KIND", "accuracy", "evaluate_subnet", "is_converted", "load_converted", "normalize",
           "recalibrated_accuracy", "size_kwargs", "whole_batches", "write_converted"]
