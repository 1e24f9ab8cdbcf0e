"""A new space added in a test -- a few decisions and a generated table -- is searchable by every method.

Nothing outside this file changes: the space is one ``Space`` record given to the public
registry (:func:`l2nas_jax.spaces.register_space`), and the table environment, every method,
the budget constraint and the Pareto mode work on it unchanged.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import l2nas_jax
from l2nas_jax import methods
from l2nas_jax.spaces import Space, TableValues, get_space, register_space, space_names, unregister_space

pytestmark = pytest.mark.slow

DECISIONS, CHOICES = 4, 3  # 81 architectures
NUM = CHOICES**DECISIONS
RADIX = jnp.asarray([CHOICES ** (DECISIONS - 1 - d) for d in range(DECISIONS)], jnp.int32)
TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)


def _all_archs() -> np.ndarray:
    return np.asarray(list(itertools.product(range(CHOICES), repeat=DECISIONS)), np.int32)  # row i has id i


def _table(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Generated accuracies per id: a smooth landscape plus a dataset-specific perturbation."""
    rng = np.random.default_rng({"easy": 0, "hard": 1}[dataset])
    archs = _all_archs()
    base = 60.0 + 5.0 * (archs == 2).sum(1) + rng.normal(0, 1.0, NUM)
    return base.astype(np.float32), (base + rng.normal(0, 0.3, NUM)).astype(np.float32)


def _table_values(dataset, table=None, *, search_split=None, report_split="test"):
    if dataset not in ("easy", "hard"):
        raise ValueError(f"unknown toy dataset {dataset!r}")
    search, report = _table(dataset)
    return TableValues(search=search, report=report, dataset=dataset, search_split="valid", report_split="test")


def _mutate(key, arch):
    k_pos, k_shift = jax.random.split(key)
    pos = jax.random.randint(k_pos, (), 0, DECISIONS)
    return arch.at[pos].set((arch[pos] + jax.random.randint(k_shift, (), 1, CHOICES)) % CHOICES)


def _cost(arch, dataset=None):
    arch = jnp.asarray(arch)
    return 0.1 * (1.0 + jnp.sum(arch, -1)), 10.0 * (1.0 + jnp.sum(arch**2, -1))


def toy_space() -> Space:
    return Space(
        name="toy", alpha_shape=(DECISIONS, CHOICES), arch_shape=(DECISIONS,), num_archs=NUM,
        discretize=lambda a: jnp.argmax(a, -1).astype(jnp.int32),
        encode=lambda a: jax.nn.one_hot(a, CHOICES, dtype=jnp.float32),
        random_arch=lambda k: jax.random.randint(k, (DECISIONS,), 0, CHOICES, jnp.int32),
        mutate=_mutate, arch_id=lambda a: jnp.sum(jnp.asarray(a) * RADIX).astype(jnp.int32),
        to_string=lambda a: "-".join(str(int(v)) for v in np.asarray(a)),
        from_string=lambda s: np.asarray([int(v) for v in s.split("-")], np.int32),
        cost=_cost, datasets=("easy", "hard"), enumerate_archs=lambda: jnp.asarray(_all_archs()),
        table_values=_table_values,
    )


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_space("toy", toy_space)
    yield
    unregister_space("toy")


def _check_trajectory(result, dataset: str) -> None:
    """Every reported number is the table's value of the queried architecture; the incumbent is right."""
    search, report = _table(dataset)
    archs = result.trajectory.archs
    ids = np.asarray(archs) @ np.asarray(RADIX)
    np.testing.assert_array_equal(np.asarray(result.trajectory.report), report[ids])
    np.testing.assert_array_equal(np.asarray(result.trajectory.observed), search[ids])
    inc = np.asarray(result.trajectory.incumbent_index)[:, -1]
    best = np.array([ids[s, :][np.argmax(search[ids[s, :]])] for s in range(ids.shape[0])])
    np.testing.assert_array_equal(ids[np.arange(len(inc)), inc], best)
    for s, arch in enumerate(result.best_archs):
        assert arch == get_space("toy").to_string(_all_archs()[best[s]])


def test_registry_lists_the_new_space():
    assert "toy" in space_names() and get_space("toy").num_archs == NUM
    with pytest.raises(ValueError, match="cannot unregister the built-in space"):
        unregister_space("nb201")


@pytest.mark.parametrize("method", methods.method_names())
def test_every_method_searches_the_toy_space(method):
    config = dict(TINY) if method == "l2nas" else None
    r = l2nas_jax.search("toy", "hard", queries=60, seeds=2, seed=1, method=method, config=config)
    assert r.space == "toy" and r.dataset == "hard" and r.search_metric == "valid" and r.report_metric == "test"
    assert r.optimum == pytest.approx(float(_table("hard")[1].max()))
    _check_trajectory(r, "hard")
    assert np.all(r.best_report <= r.optimum)


def test_constrained_and_pareto_modes_on_the_toy_space():
    space = get_space("toy")
    r = l2nas_jax.search("toy", "easy", queries=40, seeds=2, seed=2, max_params="0.45M", config=dict(TINY))
    params, _ = jax.vmap(space.cost)(jnp.asarray(_all_archs()))
    search, report = _table("easy")
    feasible = np.asarray(params) <= 0.45 + 1e-9
    assert r.optimum == pytest.approx(float(report[feasible].max()))  # exact constrained optimum by enumeration
    for arch in r.best_archs:
        assert arch is None or float(space.cost(space.from_string(arch))[0]) <= 0.45 + 1e-9
    p = l2nas_jax.search("toy", "easy", queries=40, seeds=2, seed=2, pareto=True, config=dict(TINY))
    assert p.pareto["true_front_size"] >= 1 and 0 < p.pareto["hypervolume_ratio"] <= 1 + 1e-9


def test_unknown_toy_dataset_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown toy dataset 'svhn'"):
        l2nas_jax.build_env("toy", "svhn")
