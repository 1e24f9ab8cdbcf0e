"""The vmapped hyper-parameter sweep: same numbers as separate runs, no recompilation, clear errors."""

import contextlib

import jax
import numpy as np
import pytest

from l2nas_jax.agent import L2NASConfig
from l2nas_jax.api import run_method
from l2nas_jax.cli.sweep import parse_grid
from l2nas_jax.experiments.sweep import sweep

pytestmark = pytest.mark.slow  # compiles whole searches (quick tier: pytest -m 'not slow')

BASE = dict(actor_hidden=(16, 16), critic_hidden=(16, 16), batch_size=8, learning_starts=5, updates_per=10,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)  # small pools: compiled faster
TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)
#: JAX's monitoring events of a new trace and of a backend compilation.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration")


@contextlib.contextmanager
def compilations():
    """Collect the names of the traces and compilations JAX runs inside the block."""
    events: list[str] = []

    def listener(event: str, duration_secs: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _archs(res) -> dict[str, np.ndarray]:
    return {label: r.trajectory.archs for label, r in res.results.items()}


@pytest.fixture(scope="module")
def separate_run(cifar10_env):
    """``run(**config_overrides)``: run_method's L2NAS (BASE config, 40 queries x 2 seeds, seed 5), each config run
    once per module: the grid-point test and the static-only test compare with the same separate runs."""
    runs = {}

    def run(**overrides):
        key = tuple(sorted(overrides.items()))
        if key not in runs:
            runs[key] = run_method(cifar10_env, "l2nas", queries=40, seeds=2, seed=5, config={**BASE, **overrides})
        return runs[key]

    return run


@pytest.mark.slow
def test_second_sweep_compiles_nothing_and_seeds_matter(cifar10_env):
    kw = dict(queries=16, seeds=2, budgets=(16,))
    grid = {"tau": [0.8, 0.9], "eps_start": [0.5, 1.0]}
    with compilations() as first_events:
        first = sweep(cifar10_env, grid, seed=0, base=L2NASConfig(**TINY), **kw)
    assert COMPILE_EVENTS[0] in first_events  # the counter sees the first call's traces
    # Other traced values (and other base values of the swept fields), then another seed: same program.
    with compilations() as events:
        other = sweep(cifar10_env, {"tau": [0.7, 0.95], "eps_start": [0.0, 0.2]}, seed=0,
                      base=L2NASConfig(**TINY, tau=0.6), **kw)
        reseeded = sweep(cifar10_env, grid, seed=1, base=L2NASConfig(**TINY), **kw)
    assert events == [], events
    a, b, c = _archs(first), _archs(other), _archs(reseeded)
    assert list(a) == list(c) and len(a) == len(b) == 4
    for (la, x), y, z in zip(a.items(), b.values(), c.values()):
        assert not np.array_equal(x, y), la  # other hyper-parameter values search differently
        assert not np.array_equal(x, z), la  # ... and so does another seed
        assert not np.array_equal(x[0], x[1]), la  # the two seeds of one point differ too
    # The traced values reached the search: epsilon 0.5 vs 1.0 changes the queried architectures.
    assert not np.array_equal(a["l2nas[tau=0.8,eps_start=0.5]"], a["l2nas[tau=0.8,eps_start=1]"])


def test_sweep_points_match_separate_runs(cifar10_env, separate_run):
    grid = {"eps_start": [0.0, 1.0], "max_updates": [1, 2]}
    res = sweep(cifar10_env, grid, queries=40, seeds=2, seed=5, base=L2NASConfig(**BASE), budgets=(20, 40))
    assert len(res.results) == 4
    for label, r in res.results.items():
        single = separate_run(eps_start=r.config["eps_start"], max_updates=r.config["max_updates"])
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


def test_static_only_grid_matches_separate_run(cifar10_env, separate_run):
    # No traced key: one static group, its value replacing the base's (max_updates 1 -> 2).  The separate run is
    # one of the grid-point test's (the same config and budget), so it is run once.
    res = sweep(cifar10_env, {"max_updates": [2]}, queries=40, seeds=2, seed=5,
                base=L2NASConfig(**BASE, eps_start=1.0, max_updates=1), budgets=(40,))
    (r,) = res.results.values()
    single = separate_run(eps_start=1.0, max_updates=2)
    np.testing.assert_array_equal(r.trajectory.archs, single.trajectory.archs)
    # the grid's value, not the base's, was compiled in (the base's own max_updates searches differently)
    assert not np.array_equal(r.trajectory.archs, separate_run(eps_start=1.0, max_updates=1).trajectory.archs)
