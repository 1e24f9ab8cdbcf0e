"""Supernet and fixed-network training: data, the jitted step, sharding, checkpoints, and the two jobs.

Submodules: :mod:`data` (CIFAR via tfds, generated data, augmentation), :mod:`train`
(TrainConfig, TrainState, make_train_step, evaluate_accuracy, fit), :mod:`sharding` (mesh +
data-parallel jit; multi-host notes), :mod:`ckpt` (orbax checkpoints), :mod:`state`
(TrainState), :mod:`fixed_net` (the fixed network of a found architecture, built and counted),
:mod:`genotype` (where that architecture comes from), :mod:`outdir` (an earlier run in ``--out``
is refused unless resumed or overwritten), and the jobs behind the ``train/``
scripts: :mod:`supernet_job` (``SupernetJob`` -> ``train_supernet``) and :mod:`evaluate_job`
(``EvaluateJob`` -> ``train_and_evaluate``). Space knowledge (networks, sampling, training
protocols) comes from :mod:`l2nas_jax.spaces`.
"""

from l2nas_jax.supernet.data import Dataset, load_dataset, load_tfds, synthetic_dataset
from l2nas_jax.supernet.evaluate_job import EvaluateJob, EvaluateResult, train_and_evaluate
from l2nas_jax.supernet.supernet_job import SupernetJob, train_supernet
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
    "Dataset", "EvaluateJob", "EvaluateResult", "FitResult", "SupernetJob", "TrainConfig", "TrainState",
    "create_train_state", "evaluate_accuracy", "fit", "load_dataset", "load_tfds", "make_eval_fn",
    "make_train_step", "synthetic_dataset", "train_and_evaluate", "train_supernet",
]
