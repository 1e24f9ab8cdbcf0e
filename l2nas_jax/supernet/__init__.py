"""Supernet and fixed-network training: search-space specs, data, the jitted step, sharding, checkpoints.

Submodules: :mod:`data` (CIFAR via tfds, generated data,
augmentation), :mod:`train` (TrainConfig, TrainState, make_train_step, evaluate_accuracy, fit),
:mod:`sharding` (mesh + data-parallel jit; multi-host notes), :mod:`ckpt` (orbax checkpoints),
:mod:`state` (TrainState). Space knowledge (networks, sampling) comes from :mod:`l2nas_jax.spaces`.
"""

from l2nas_jax.supernet.data import Dataset, load_dataset, load_tfds, synthetic_dataset
from l2nas_jax.supernet.train import (
    FitResult,
    TrainConfig,
    TrainState,
    create_train_state,
    evaluate_accuracy,
    fit,
    make_eval_fn,
    make_train_step,
)

__all__ = [
    "Dataset", "FitResult", "TrainConfig", "TrainState",
    "create_train_state", "evaluate_accuracy", "fit", "load_dataset", "load_tfds",
    "make_eval_fn", "make_train_step", "synthetic_dataset",
]
