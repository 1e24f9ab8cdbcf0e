"""Random search, regularized evolution and REINFORCE as pure, vmappable searchers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.api import run_method
from l2nas_jax.baselines import REAConfig, ReinforceConfig, make_rea, make_reinforce
from l2nas_jax.spaces.nb201 import codec as codec
from l2nas_jax.envs.table import TableEnv
from l2nas_jax.spaces import get_space
from l2nas_jax.runner import seed_keys
from l2nas_jax.searcher import run_searcher

BASELINES = ("random", "rea", "reinforce")
QUERIES, SEEDS, SEED = 40, 4, 7  # an even seed count: the runner shards seeds over the 2 test devices
RADIX = codec.NUM_OPS ** np.arange(codec.NUM_EDGES - 1, -1, -1)  # mixed-radix code weights, computed here


@pytest.fixture(scope="module")
def env(cifar10_env):
    return cifar10_env


@pytest.fixture(scope="module")
def runs(env):
    return {m: run_method(env, m, queries=QUERIES, seeds=SEEDS, seed=SEED) for m in BASELINES}


@pytest.mark.slow
@pytest.mark.parametrize("method", BASELINES)
def test_only_valid_archs(runs, method):
    r = runs[method]
    archs = np.asarray(r.trajectory.archs)
    assert archs.shape == (SEEDS, QUERIES, codec.NUM_EDGES)
    assert archs.dtype == np.int32
    assert archs.min() >= 0 and archs.max() < codec.NUM_OPS
    assert np.isfinite(r.trajectory.observed).all()
    for v in r.metrics.values():
        assert v.shape == (SEEDS, QUERIES) and np.isfinite(v).all()


@pytest.mark.slow
@pytest.mark.parametrize("method", BASELINES)
def test_seeds_differ_and_a_seed_reproduces_outside_vmap(env, runs, method):
    archs = np.asarray(runs[method].trajectory.archs)
    for i in range(SEEDS):
        for j in range(i + 1, SEEDS):
            assert not np.array_equal(archs[i], archs[j]), f"{method}: seeds {i} and {j} gave the same run"
    cls, make = methods.get_method(method)
    searcher = make(env, cls(), QUERIES)
    _, out = jax.jit(lambda k: run_searcher(searcher, k, QUERIES))(seed_keys(SEED, SEEDS)[1])
    np.testing.assert_array_equal(np.asarray(out.arch), archs[1])
    np.testing.assert_allclose(np.asarray(out.observed), runs[method].trajectory.observed[1], rtol=1e-6)


@pytest.mark.slow
def test_random_search_matches_numpy_reference(env, runs):
    acc = np.asarray(env.search_acc, np.float64)
    rep = np.asarray(env.report_acc, np.float64)
    r = runs["random"]
    for s, key in enumerate(seed_keys(SEED, SEEDS)):
        draws = []
        for _ in range(QUERIES):  # each query splits the state key into (next key, arch key, eval key)
            key, k_arch, _ = jax.random.split(key, 3)
            draws.append(np.asarray(env.random_arch(k_arch)))
        archs = np.stack(draws)
        codes = (archs * RADIX).sum(1)
        obs = acc[codes]
        incumbent = [int(np.argmax(obs[: t + 1])) for t in range(QUERIES)]  # argmax: ties keep the earlier
        np.testing.assert_array_equal(r.trajectory.archs[s], archs)
        np.testing.assert_allclose(r.trajectory.observed[s], obs, rtol=1e-6)
        np.testing.assert_allclose(r.curves[s], rep[codes][incumbent], rtol=1e-6)
        # The embedded table searches and reports the same metric, so the curve is the running max.
        np.testing.assert_allclose(r.curves[s], np.maximum.accumulate(obs), rtol=1e-6)


def test_rea_population_ages(env):
    pop = 5
    searcher = make_rea(env, REAConfig(population=pop, sample_size=2), 0)
    step = jax.jit(searcher.step)
    state = searcher.init(jax.random.key(3))
    assert (np.asarray(state.born) == -1).all()
    for t in range(pop + 15):
        prev_born, prev_archs = np.asarray(state.born), np.asarray(state.archs)
        state, out = step(state, jnp.int32(t))
        born, archs, fitness = np.asarray(state.born), np.asarray(state.archs), np.asarray(state.fitness)
        if t < pop:
            slot = t  # filling: the first empty slot
            assert prev_born[slot] == -1
        else:
            slot = int(np.argmin(prev_born))  # the oldest member is the one removed
            assert prev_born[slot] == t - pop
            assert ((prev_archs != np.asarray(out.arch)).sum(1) == 1).any(), "child is not a one-edge mutation"
        changed = np.flatnonzero(born != prev_born)
        assert changed.tolist() == [slot]
        assert born[slot] == t
        np.testing.assert_array_equal(archs[slot], out.arch)
        assert fitness[slot] == out.observed
        np.testing.assert_array_equal(np.delete(archs, slot, 0), np.delete(prev_archs, slot, 0))
        alive = np.sort(born[born >= 0])
        np.testing.assert_array_equal(alive, np.arange(max(0, t - pop + 1), t + 1))


def _toy_env() -> TableEnv:
    """A table where op 3 is best on every edge: accuracy = 50 + 10 * (edges using op 3)."""
    ops = codec.code_to_ops(np.arange(codec.NUM_ARCHS))
    acc = jnp.asarray(50.0 + 10.0 * (ops == 3).sum(1), jnp.float32)
    return TableEnv(search_acc=acc, report_acc=acc, noise_sigma=jnp.float32(0.0), space=get_space("nb201"))


@pytest.mark.parametrize("config", [ReinforceConfig(learning_rate=0.05),
                                    ReinforceConfig(learning_rate=2.0, optimizer="sgd")], ids=["adam", "sgd"])
@pytest.mark.slow
def test_reinforce_moves_toward_rewarded_op(config):
    env, queries = _toy_env(), 150
    searcher = make_reinforce(env, config, queries)
    keys = seed_keys(0, 2)
    p0 = jax.nn.softmax(jax.vmap(searcher.init)(keys).logits, axis=-1)[..., 3]
    state, out = jax.jit(jax.vmap(lambda k: run_searcher(searcher, k, queries)))(keys)
    p = jax.nn.softmax(state.logits, axis=-1)[..., 3]
    np.testing.assert_allclose(p0, 0.2, atol=0.01)
    # From 0.2 to (almost always) > 0.5 per edge; allow one stuck edge of 12 so the test is not RNG-brittle.
    assert float(p.mean()) > 0.7 and int((p > 0.5).sum()) >= p.size - 1, p
    arch = np.asarray(out.arch)
    assert (arch[:, -30:] == 3).mean() > (arch[:, :30] == 3).mean() + 0.2


@pytest.mark.parametrize("cls, kwargs", [
    (REAConfig, {"population": 0}),
    (REAConfig, {"sample_size": 1.5}),
    (ReinforceConfig, {"learning_rate": 0.0}),
    (ReinforceConfig, {"baseline_decay": 1.0}),
    (ReinforceConfig, {"optimizer": "rmsprop"}),
    (ReinforceConfig, {"init_scale": -1.0}),
])
def test_bad_config_raises(cls, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        cls(**kwargs)


def test_registry_builds_baseline_configs():
    assert methods.make_config("rea", {"population": 20}) == REAConfig(population=20)
    with pytest.raises(ValueError, match="unknown rea config key"):
        methods.make_config("rea", {"populaton": 20})
