"""Budgeted re-evaluation: every re-measurement is a query, a noise-free table costs one probe, noise is averaged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.runner import batched_trajectories
from l2nas_jax.searcher import run_searcher
from l2nas_jax.wrappers.reevaluate import ReevaluateConfig, reevaluate


def _run(env, method, q, seeds, every, seed=0):
    cfg, make = methods.get_method(method)
    s = make(env, cfg(), q)
    if every:
        s = reevaluate(s, env, q, ReevaluateConfig(every=every))
    return jax.jit(jax.vmap(lambda k: run_searcher(s, k, q)[1]))(jax.random.split(jax.random.key(seed), seeds))


def test_config_is_checked():
    with pytest.raises(ValueError, match="reevaluate every"):
        ReevaluateConfig(every=1)
    with pytest.raises(ValueError, match="reevaluate top"):
        ReevaluateConfig(top=0)
    with pytest.raises(ValueError, match="reevaluate start"):
        ReevaluateConfig(start=-1)


def test_noise_free_table_spends_one_probe_and_then_only_searches(cifar10_env):
    out = _run(cifar10_env, "random", 120, 2, every=4)  # re-evaluations start at query 50
    re = np.asarray(out.metrics["reevaluated"])
    assert re.shape == (2, 120) and (re.sum(1) == 1).all()
    t = int(np.argmax(re[0]))
    assert t % 4 == 3 and t >= 50
    # the probe measured again an architecture queried before, and got the same value
    ids = np.asarray(jax.vmap(cifar10_env.arch_id)(out.arch[0]))
    assert ids[t] in ids[:t]


def test_under_noise_reevaluations_count_toward_the_budget_and_target_top_candidates(cifar10_env):
    env = cifar10_env.replace(noise_sigma=jnp.float32(0.5))
    q = 200
    out = _run(env, "rea", q, 2, every=4)
    re = np.asarray(out.metrics["reevaluated"])
    assert out.observed.shape == (2, q)  # the budget: re-evaluations are queries like any other
    assert 0.8 * ((q - 50) // 4) <= re.sum(1).min() and re.sum(1).max() <= (q - 50) // 4 + 1
    assert not re[:, :50].any()
    ids = np.asarray(jax.vmap(jax.vmap(env.arch_id))(out.arch))
    true = np.asarray(env.search_acc)
    for s in range(2):
        for t in np.flatnonzero(re[s]):
            assert ids[s, t] in ids[s, :t]  # only architectures already measured
        # a re-measured architecture is among the best measured so far (by its true value: above the median)
        above = [true[ids[s, t]] >= np.median(true[ids[s, :t]]) for t in np.flatnonzero(re[s])]
        assert np.mean(above) > 0.9


@pytest.mark.slow
def test_reevaluation_with_the_denoised_incumbent_beats_the_best_single_observation(cifar10_env):
    env = cifar10_env.replace(noise_sigma=jnp.float32(0.5))
    q, seeds = 500, 32
    plain = _run(env, "rea", q, seeds, every=0, seed=3)
    again = _run(env, "rea", q, seeds, every=4, seed=3)
    base = batched_trajectories(env, plain.arch, plain.observed, incumbent="observed")
    new = batched_trajectories(env, again.arch, again.observed, incumbent="denoised")
    gain = np.asarray(new.incumbent_report[:, -1]) - np.asarray(base.incumbent_report[:, -1])
    t_stat = gain.mean() / (gain.std(ddof=1) / np.sqrt(seeds))  # paired: the same seeds with and without
    assert gain.mean() > 0.03 and t_stat > 2.5, (gain.mean(), t_stat)
