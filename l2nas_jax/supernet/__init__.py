"""Supernet and fixed-network training: data, the jitted step, sharding, checkpoints, and the two jobs.

Submodules: :mod:`data` (CIFAR via tfds, NB201's ImageNet16-120 via :mod:`imagenet16`, generated
data, augmentation), :mod:`prefetch` (batches placed on the devices one step ahead), :mod:`train`
(TrainConfig with the compute dtype, TrainState, make_train_step, evaluate_accuracy, fit),
:mod:`sharding` (mesh + data-parallel jit; multi-host notes), :mod:`ckpt` (orbax checkpoints), :mod:`state`
(TrainState), :mod:`fixed_net` (the fixed network of a found architecture, built and counted),
:mod:`genotype` (where that architecture comes from), :mod:`outdir` (an earlier run in ``--out``
is refused unless resumed or overwritten), and the jobs behind the ``train/``
scripts: :mod:`supernet_job` (``SupernetJob`` -> ``train_supernet``) and :mod:`evaluate_job`
(``EvaluateJob`` -> ``train_and_evaluate``). Space knowledge (networks, sampling, training
protocols) comes from :mod:`l2nas_jax.spaces`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and the submodule that defines each: imported on first use, so that importing one
#: submodule (e.g. ``fixed_net`` for latency measurements) does not load the trainer and its progress bars.
_EXPORTS = {
    "Dataset": "data", "load_dataset": "data", "load_imagenet16": "data", "load_tfds": "data",
    "synthetic_dataset": "data", "prefetch_to_device": "prefetch",
    "EvaluateJob": "evaluate_job", "EvaluateResult": "evaluate_job", "train_and_evaluate": "evaluate_job",
    "SupernetJob": "supernet_job", "train_supernet": "supernet_job",
    "FitResult": "train", "TrainConfig": "train", "TrainState": "train", "create_train_state": "train",
    "evaluate_accuracy": "train", "fit": "train", "make_eval_fn": "train", "make_train_step": "train",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'l2nas_jax.supernet' has no attribute {name!r}")
    return getattr(importlib.import_module(f"l2nas_jax.supernet.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
