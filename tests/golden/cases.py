"""Golden cases: fixed-seed runs of every method, mode and space, recorded before the layout redesign.

``record.py`` writes their arrays to ``golden.npz``; ``tests/test_golden.py`` recomputes them
and compares bit for bit, so moving code between modules can never change a result unnoticed.
Only the accessors at the top of this file name internal modules.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

import jax
import numpy as np

import l2nas_jax
from l2nas_jax.experiments.compare import compare
from l2nas_jax.experiments.sweep import sweep
from l2nas_jax.experiments.transfer import transfer
from l2nas_jax.spaces import get_space

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden.npz")
TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)
Q, SEEDS, SEED = 40, 2, 7


def _traj(prefix: str, r) -> dict[str, np.ndarray]:
    t = r.trajectory
    return {f"{prefix}/{k}": np.asarray(getattr(t, k)) for k in
            ("archs", "observed", "report", "is_repeat", "incumbent_index")}


def search_cases() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for method in ("l2nas", "rea", "random", "reinforce"):
        r = l2nas_jax.search("nb201", "cifar10", queries=Q, seeds=SEEDS, seed=SEED, method=method)
        out.update(_traj(f"search_{method}", r))
    env = l2nas_jax.build_env("nb201", "cifar100", noise_sigma=0.5)
    out.update(_traj("noisy_l2nas", l2nas_jax.run_method(env, "l2nas", queries=Q, seeds=SEEDS, seed=SEED,
                                                          config=dict(TINY), free_repeats=True)))
    env = l2nas_jax.build_env("nb201", "cifar10", max_params="0.6M")
    out.update(_traj("constrained_l2nas", l2nas_jax.run_method(env, "l2nas", queries=Q, seeds=SEEDS, seed=SEED,
                                                                config=dict(TINY))))
    env = l2nas_jax.build_env("nb201", "imagenet16-120")
    r = l2nas_jax.run_method(env, "l2nas", queries=Q, seeds=SEEDS, seed=SEED, config=dict(TINY), pareto=True)
    out.update(_traj("pareto_l2nas", r))
    out["pareto_l2nas/lambda"] = np.asarray(r.metrics["lambda"])
    return out


def experiment_cases() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    env = l2nas_jax.build_env("nb201", "cifar10")
    cmp = compare(env, ("l2nas", "rea"), queries=Q, seeds=SEEDS, seed=SEED, budgets=(10, Q),
                  configs={"l2nas": dict(TINY)})
    for name, r in cmp.results.items():
        out.update(_traj(f"compare_{name}", r))
    from l2nas_jax.agent.search import L2NASConfig

    sw = sweep(env, {"tau": [0.8, 0.95], "batch_size": [4]}, queries=Q, seeds=SEEDS, seed=SEED,
               base=L2NASConfig(**TINY), budgets=(Q,))
    for i, (label, r) in enumerate(sorted(sw.results.items())):
        out.update(_traj(f"sweep_{i}", r))
    tr = transfer(("nb201", "cifar10"), ("nb201", "cifar100"), queries_from=Q, queries_to=24, seeds=SEEDS,
                  seed=SEED, config=dict(TINY), carry_replay=True, budgets=(24,))
    for name, r in tr.comparison.results.items():
        out.update(_traj(f"transfer_{name.replace('+', '_')}", r))
    return out


def space_cases() -> dict[str, np.ndarray]:
    """Codec and cost of every space on fixed keys (DARTS/OFA have no table to search)."""
    out: dict[str, np.ndarray] = {}
    for name in ("nb201", "darts", "ofa"):
        sp = get_space(name)
        keys = jax.random.split(jax.random.key(11), 4)
        archs = jax.vmap(sp.random_arch)(keys)
        mutated = jax.vmap(sp.mutate)(keys, archs)
        alpha = jax.random.uniform(jax.random.key(3), (4, *sp.alpha_shape))
        disc = jax.vmap(sp.discretize)(alpha)
        params, macs = jax.vmap(sp.cost)(archs)
        out.update({f"space_{name}/archs": np.asarray(archs), f"space_{name}/mutated": np.asarray(mutated),
                    f"space_{name}/discretized": np.asarray(disc), f"space_{name}/ids": np.asarray(jax.vmap(sp.arch_id)(archs)),
                    f"space_{name}/encoded": np.asarray(jax.vmap(sp.encode)(disc)),
                    f"space_{name}/params": np.asarray(params), f"space_{name}/macs": np.asarray(macs)})
    return out


def supernet_cases() -> dict[str, np.ndarray]:
    """Two single-path training steps of a tiny NB201 supernet on generated data (train/supernet.py)."""
    sys.path.insert(0, str(ROOT / "train"))
    try:
        import supernet as script  # train/supernet.py
    finally:
        sys.path.pop(0)
    with tempfile.TemporaryDirectory() as tmp:
        args = script.build_parser().parse_args([
            "--space", "nb201", "--dataset", "synthetic", "--epochs", "1", "--channels", "4", "--layers", "1",
            "--image-size", "8", "--batch-size", "16", "--synthetic-size", "64", "--cutout", "0",
            "--eval-archs", "0", "--max-steps", "2", "--fast-compile", "--no-progress", "--seed", "3",
            "--out", os.path.join(tmp, "run")])
        result = script.run(args)
    leaves = jax.tree_util.tree_leaves_with_path(result.state.params)
    return {f"supernet/{jax.tree_util.keystr(p)}": np.asarray(v) for p, v in leaves}


CASES: dict[str, Callable[[], dict[str, np.ndarray]]] = {
    "search": search_cases, "experiments": experiment_cases, "spaces": space_cases, "supernet": supernet_cases,
}
