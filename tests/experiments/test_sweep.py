"""The vmapped hyper-parameter sweep: same numbers as separate runs, clear errors."""

import numpy as np
import pytest

from l2nas_jax.api import run_method
from l2nas_jax.cli.sweep import parse_grid
from l2nas_jax.experiments.sweep import sweep

BASE = dict(actor_hidden=(16, 16), critic_hidden=(16, 16), batch_size=8, learning_starts=5, updates_per=10)


def test_sweep_points_match_separate_runs(cifar10_env):
    from l2nas_jax.agent.search import L2NASConfig

    grid = {"eps_start": [0.0, 1.0], "max_updates": [1, 2]}
    res = sweep(cifar10_env, grid, queries=40, seeds=2, seed=5, base=L2NASConfig(**BASE), budgets=(20, 40))
    assert len(res.results) == 4
    for label, r in res.results.items():
        cfg = {**BASE, "eps_start": r.config["eps_start"], "max_updates": r.config["max_updates"]}
        single = run_method(cifar10_env, "l2nas", queries=40, seeds=2, seed=5, config=cfg)
        np.testing.assert_array_equal(r.trajectory.archs, single.trajectory.archs, err_msg=label)
        np.testing.assert_array_equal(r.curves, single.curves)
    # different epsilon values really change the search
    a, b = (res.results[f"l2nas[eps_start={e},max_updates=2]"].trajectory.archs for e in ("0", "1"))
    assert not np.array_equal(a, b)


def test_parse_grid_and_errors():
    g = parse_grid(["tau=0.8,0.9", "batch_size=16,32", "actor_hidden=64,64;128"])
    assert g == {"tau": [0.8, 0.9], "batch_size": [16, 32], "actor_hidden": [(64, 64), (128,)]}
    with pytest.raises(ValueError, match="unknown l2nas config key 'bogus'"):
        parse_grid(["bogus=1"])
    with pytest.raises(ValueError, match="expected a int"):
        parse_grid(["batch_size=a"])
    with pytest.raises(ValueError, match="invalid L2NAS config value"):
        sweep(None, {"tau": [1.5]}, queries=10, seeds=1)


def test_static_only_grid_matches_separate_run(cifar10_env):
    from l2nas_jax.agent.search import L2NASConfig

    res = sweep(cifar10_env, {"batch_size": [4]}, queries=20, seeds=2, seed=1, base=L2NASConfig(**BASE),
                budgets=(20,))
    (r,) = res.results.values()
    single = run_method(cifar10_env, "l2nas", queries=20, seeds=2, seed=1, config={**BASE, "batch_size": 4})
    np.testing.assert_array_equal(r.trajectory.archs, single.trajectory.archs)
