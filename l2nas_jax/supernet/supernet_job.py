"""Train a single-path weight-sharing supernet of any registered space: the ``train/supernet.py`` job.

Each training step samples one architecture uniformly (``Space.random_arch``) and updates only
that path; the path is an input of one compiled, data-parallel step
(:func:`l2nas_jax.supernet.train.fit`). :class:`SupernetJob` holds every setting;
:func:`train_supernet` runs it and writes, under ``out``: metrics.jsonl (one record per epoch:
loss, accuracy, lr, images/s, held-out accuracy of a few fixed random archs), checkpoints/
(orbax, last few kept) and supernet.json (space, net config, dataset, train config, seed, final
metrics, provenance), which ``l2nas search --supernet`` reads (its ``train_config.dtype`` is the
compute dtype of the search's path evaluations too); an ``out`` holding an earlier run
is refused unless ``resume`` continues it or ``overwrite`` replaces it (:mod:`.outdir`). The
default cutout is half the image (DARTS' 16 px on 32 px CIFAR), off below 16 px images
(:func:`~l2nas_jax.supernet.data.default_cutout`). Usable from a notebook::

    job = SupernetJob(space="nb201", epochs=2, out="/tmp/sn", dataset="synthetic", channels=4, layers=1,
                      image_size=8, batch_size=16, fast_compile=True)
    result = train_supernet(job)  # FitResult: final state, per-epoch history
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np

from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance
from l2nas_jax.core.threefry import unroll_on_cpu
from l2nas_jax.spaces import check_space, get_space
from l2nas_jax.spaces.base import Space
from l2nas_jax.supernet import data, outdir, train

SUMMARY_FILE = "supernet.json"
_EVAL_ARCHS_SALT = 0x7E57  # folded into the seed: the fixed random archs of the per-epoch evaluation


@dataclasses.dataclass(frozen=True)
class SupernetJob:
    """One supernet training run (fields = ``train/supernet.py`` flags; errors name the flag)."""

    space: str  # a registered space with networks
    epochs: int
    out: str  # output directory
    dataset: str = "cifar10"  # cifar10 | cifar100 (tfds, prepared offline) | synthetic
    batch_size: int = 64  # global batch, split over devices
    lr: float = 0.025  # peak SGD learning rate (cosine-annealed per step to lr_min)
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0  # global-norm clip, 0 = off
    cutout: int | None = None  # cutout size, 0 = off; None: data.default_cutout (16 on 32 px CIFAR, 0 below 16 px)
    channels: int | None = None  # initial channels (NB201/DARTS C; None: the net's default)
    layers: int | None = None  # cells per stage (NB201 N) / total cells (DARTS)
    checkpoint_every: int = 1  # epochs between checkpoints (0 = final only)
    keep_checkpoints: int = 3
    resume: bool = False  # continue from the last checkpoint in out
    data_dir: str | None = None  # tensorflow-datasets data dir
    heldout: int = 5000  # train images held out for search rewards (tfds)
    synthetic_size: int = 1024  # examples in the generated dataset
    image_size: int = 32  # image size of the generated dataset
    synthetic_classes: int = 10  # classes of the generated dataset
    eval_archs: int = 4  # per epoch, held-out accuracy of this many fixed random archs (0 = off)
    eval_images: int = 2000  # held-out images used by that evaluation
    seed: int = 0
    max_steps: int | None = None  # stop after this global step without finishing
    progress: bool = True  # progress bars
    fast_compile: bool = False  # CPU: compile ~10x faster, run slower
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (GPU/TPU; params and optimizer state stay float32)
    overwrite: bool = False  # replace an earlier run's files in out (refused otherwise, unless resume)
    command: str | None = None  # the command line, recorded in supernet.json

    def __post_init__(self) -> None:
        check_space(self.space)
        if self.dataset not in data.DATASETS:
            raise ValueError(f"--dataset {self.dataset!r} is unknown; valid: {', '.join(data.DATASETS)}")
        for name in ("epochs", "batch_size", "synthetic_size", "image_size", "synthetic_classes", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for name in ("checkpoint_every", "heldout", "eval_archs", "eval_images"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        for name in ("channels", "layers", "max_steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")
        if self.cutout is not None and self.cutout < 0:
            raise ValueError(f"--cutout must be >= 0 (0 = off), got {self.cutout}")
        train.check_dtype(self.dtype, "--dtype")

    def data_image_size(self) -> int:
        """The size of the job's images: ``image_size`` for the generated set, the dataset's otherwise."""
        return self.image_size if self.dataset == "synthetic" else data.IMAGE_SIZES[self.dataset]

    def resolved_cutout(self) -> int:
        """The cutout size trained with: ``cutout``, or by default half the image (0 below 16 px images)."""
        return data.default_cutout(self.data_image_size()) if self.cutout is None else self.cutout

    def train_config(self) -> train.TrainConfig:
        """The optimiser / augmentation / checkpoint settings of this job."""
        return train.TrainConfig(
            lr=self.lr, lr_min=self.lr_min, momentum=self.momentum, weight_decay=self.weight_decay,
            epochs=self.epochs, batch_size=self.batch_size, grad_clip=self.grad_clip, cutout=self.resolved_cutout(),
            seed=self.seed, checkpoint_every=self.checkpoint_every, keep_checkpoints=self.keep_checkpoints,
            dtype=self.dtype, crop_padding=data.CROP_PADDINGS[self.dataset],
        )


def load_data(job: SupernetJob) -> data.Dataset:
    """The job's dataset: generated, or CIFAR (tfds) / ImageNet16-120 with ``heldout`` train images kept for search rewards."""
    if job.dataset == "synthetic":
        return data.synthetic_dataset(seed=job.seed, n=job.synthetic_size, image_size=job.image_size,
                                      num_classes=job.synthetic_classes)
    return data.load_dataset(job.dataset, data_dir=job.data_dir, heldout=job.heldout, seed=job.seed)


def heldout_eval_fn(job: SupernetJob, space: Space, model: Any,
                    dataset: data.Dataset) -> Callable[[train.TrainState], Mapping[str, float]] | None:
    """Per-epoch held-out accuracy (mean, max) of ``job.eval_archs`` fixed random paths; None when off."""
    if job.eval_archs <= 0 or jax.process_count() != 1 or len(dataset.heldout_labels) == 0:
        return None
    base = jax.random.fold_in(jax.random.key(job.seed), _EVAL_ARCHS_SALT)
    archs = [space.random_arch(jax.random.fold_in(base, i)) for i in range(job.eval_archs)]
    m = min(job.eval_images, len(dataset.heldout_labels))
    images, labels = dataset.normalize(dataset.heldout_images[:m]), dataset.heldout_labels[:m]

    def eval_fn(state: train.TrainState) -> dict[str, float]:
        accs = [float(train.evaluate_accuracy(model, train.state_variables(state), a, images, labels,
                                              fast_compile=job.fast_compile, dtype=job.dtype))
                for a in archs]
        return {"heldout_acc_mean": float(np.mean(accs)), "heldout_acc_max": float(np.max(accs))}

    return eval_fn


def train_supernet(job: SupernetJob) -> train.FitResult:
    """Train as ``job`` says, write supernet.json (process 0); return the :class:`~l2nas_jax.supernet.train.FitResult`."""
    unroll_on_cpu()
    out = Path(job.out)
    replaced = outdir.check_out_dir(out, resume=job.resume, overwrite=job.overwrite)
    space = get_space(job.space)
    if space.nets_module is None:
        raise ValueError(f"the {job.space} space has no networks, so no supernet to train (a table-only space)")
    dataset = load_data(job)
    data.check_cutout(job.resolved_cutout(), dataset.image_size)
    net_kw = {"channels": job.channels, "layers": job.layers, "num_classes": dataset.num_classes}
    model = space.supernet(**net_kw)
    config = job.train_config()
    meta = {"space": job.space, "net": {k: v for k, v in net_kw.items() if v is not None},
            "dataset": dataset.summary()}
    outdir.replace_earlier_run(replaced)  # --overwrite, now that the job's settings are known to be valid
    result = train.fit(model, dataset, config, arch_fn=space.random_arch, out_dir=out, resume=job.resume,
                       stop_after_steps=job.max_steps, progress=job.progress,
                       eval_fn=heldout_eval_fn(job, space, model, dataset), metadata=meta,
                       fast_compile=job.fast_compile)
    summary = {
        **meta,
        "train_config": config.to_dict(),
        "seed": job.seed,
        "finished": result.finished,
        "resumed_from_step": result.start_step,
        "step": int(jax.device_get(result.state.step)),
        "final_epoch": result.history[-1] if result.history else None,
        "eval_archs": job.eval_archs,
        "command": job.command,
        "provenance": provenance(),
    }
    if jax.process_index() == 0:
        io.write_json(out / SUMMARY_FILE, summary)
    return result
