"""Supernet and fixed-network training: search-space specs, data, the jitted step, sharding, checkpoints.

Submodules: :mod:`spec` (SpaceSpec registry), :mod:`data` (CIFAR via tfds, generated data,
augmentation), :mod:`train` (TrainConfig, TrainState, make_train_step, evaluate_accuracy, fit),
:mod:`sharding` (mesh + data-parallel jit; multi-host notes), :mod:`ckpt` (orbax checkpoints).
"""

from l2nas_jax.supernet.data import Dataset, load_dataset, load_tfds, synthetic_dataset
from l2nas_jax.supernet.spec import SpaceSpec, available_spaces, get_space
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
    "Dataset", "FitResult", "SpaceSpec", "TrainConfig", "TrainState", "available_spaces",
    "create_train_state", "evaluate_accuracy", "fit", "get_space", "load_dataset", "load_tfds",
    "make_eval_fn", "make_train_step", "synthetic_dataset",
]
