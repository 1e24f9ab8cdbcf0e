"""Noise models, cached (per-run fixed) evaluations, and searches that never read the table beyond their queries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.envs.base import with_noise_key
from l2nas_jax.envs.table import hetero_noise_scale, make_table_env
from l2nas_jax.searcher import Searcher, StepOutput, reward_scale, run_searcher
from l2nas_jax.wrappers.repeats import free_repeats


def test_hetero_noise_is_sigma_at_the_best_net_and_grows_with_the_error():
    env = make_table_env("nb201", "cifar10", noise_sigma=0.5, noise_model="hetero")
    best = int(jnp.argmax(env.search_acc))
    worse = int(jnp.argmin(jnp.abs(env.search_acc - 88.0)))  # error ~12 vs ~5.6 at the top
    scale = np.asarray(env.noise_scale)
    assert scale[best] == pytest.approx(1.0)
    expect = (100 - float(env.search_acc[worse])) / (100 - float(env.search_acc[best]))
    assert scale[worse] == pytest.approx(expect, rel=1e-5) and expect > 2
    keys = jax.random.split(jax.random.key(0), 4000)
    for i, sd in ((best, 0.5), (worse, 0.5 * expect)):
        arch = env.space.enumerate_archs()[i]
        draws = np.asarray(jax.vmap(env.evaluate, (0, None))(keys, arch))
        assert draws.std() == pytest.approx(sd, rel=0.05)
        assert draws.mean() == pytest.approx(float(env.search_acc[i]), abs=4 * sd / np.sqrt(4000))


def test_hetero_noise_needs_accuracies_in_percent_and_a_known_model():
    with pytest.raises(ValueError, match="hetero noise model needs a search metric in %"):
        hetero_noise_scale(np.array([50.0, 120.0]))
    with pytest.raises(ValueError, match="unknown noise model 'laplace'; valid: gaussian, hetero"):
        make_table_env("nb201", "cifar10", noise_sigma=0.5, noise_model="laplace")


def test_a_noise_key_fixes_each_architectures_draw_for_the_run(cifar10_env):
    env = cifar10_env.replace(noise_sigma=jnp.float32(0.5))
    arch = env.space.enumerate_archs()[123]
    keys = jax.random.split(jax.random.key(0), 8)
    fresh = np.asarray(jax.vmap(env.evaluate, (0, None))(keys, arch))
    assert len(set(fresh.tolist())) == 8
    fixed = with_noise_key(env, jax.random.key(5))
    same = np.asarray(jax.vmap(fixed.evaluate, (0, None))(keys, arch))
    assert len(set(same.tolist())) == 1 and same[0] != float(env.search_acc[123])
    other = with_noise_key(env, jax.random.key(6))
    assert float(other.evaluate(keys[0], arch)) != same[0]  # another run, another draw


def _scripted(env, archs):
    """A searcher that proposes ``archs`` in order and keeps every value it was given (cached ones included)."""
    archs = jnp.asarray(archs, jnp.int32)

    def init(key):
        return {"i": jnp.int32(0), "seen": jnp.full((len(archs),), jnp.nan, jnp.float32), "key": key}

    def step(st, t):
        arch = archs[st["i"]]
        obs = env.evaluate(jax.random.fold_in(st["key"], st["i"]), arch)
        st = {"i": st["i"] + 1, "seen": st["seen"].at[st["i"]].set(obs), "key": st["key"]}
        return st, StepOutput(arch=arch, observed=obs, metrics={})

    return Searcher(init=init, step=step)


def test_free_repeats_under_noise_returns_the_cached_observation(cifar10_env):
    env = cifar10_env.replace(noise_sigma=jnp.float32(1.0))
    all_archs = np.asarray(env.space.enumerate_archs())
    a, b, c = all_archs[10], all_archs[20], all_archs[30]
    script = [a, a, b, a, c]  # query 1 is a, a repeat (free), b; query 2 is a again (free), c
    s = free_repeats(lambda e: _scripted(e, script), env)
    state, out = jax.jit(lambda k: run_searcher(s, k, 3))(jax.random.key(0))
    seen = np.asarray(state.inner["seen"])
    assert seen[0] == seen[1] == seen[3], "a repeat must be given the cached observation, not a fresh draw"
    np.testing.assert_array_equal(np.asarray(out.observed), seen[[0, 2, 4]])
    np.testing.assert_array_equal(np.asarray(out.metrics["proposals"]), [1, 2, 2])
    with pytest.raises(TypeError, match="a function env -> Searcher"):
        free_repeats(_scripted(env, script), env)


def test_reward_scale_is_fixed_or_the_running_max_of_observations():
    fixed, run = reward_scale(jnp.float32(3.0), jnp.float32(90.0), jnp.float32(100.0))
    assert float(fixed) == 100.0 and float(run) == 90.0
    scale, run = reward_scale(jnp.float32(0.0), jnp.float32(-2.5), jnp.float32(jnp.nan))
    assert float(scale) == 2.5 and float(run) == 2.5
    scale, _ = reward_scale(jnp.float32(0.0), jnp.float32(0.0), jnp.float32(jnp.nan))
    assert float(scale) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("method", methods.method_names())
def test_no_method_reads_the_table_outside_its_queries(cifar10_env, method):
    """Counterfactual: values of never-queried architectures changed -> every trajectory is bit-identical."""
    cfg, make = methods.get_method(method)
    q, keys = 60, jax.random.split(jax.random.key(11), 2)

    @jax.jit
    def run(env):  # the environment is an argument: every variant below reuses one compiled program
        return jax.vmap(lambda k: run_searcher(make(env, cfg(), q), k, q)[1])(keys)

    for noise in (0.0, 0.5):
        env = cifar10_env.replace(noise_sigma=jnp.float32(noise))
        out = run(env)
        queried = np.unique(np.asarray(jax.vmap(jax.vmap(env.arch_id))(out.arch)))
        never = np.setdiff1d(np.arange(env.num_archs), queried)
        # the table's optimum and worst value move: a method that reads max/min/mean of the table would change
        acc = np.asarray(env.search_acc).copy()
        acc[never] = np.linspace(0.0, 99.9, len(never))
        out2 = run(env.replace(search_acc=jnp.asarray(acc, jnp.float32),
                               report_acc=jnp.asarray(acc, jnp.float32)))
        np.testing.assert_array_equal(np.asarray(out2.arch), np.asarray(out.arch))
        np.testing.assert_array_equal(np.asarray(out2.observed), np.asarray(out.observed))
