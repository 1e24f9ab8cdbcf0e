"""Budgeted re-evaluation: every re-measurement is a query, a noise-free table costs one probe, noise is averaged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax import methods
from l2nas_jax.runner import batched_trajectories
from l2nas_jax.searcher import run_searcher
from l2nas_jax.trajectory import estimates
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


@pytest.mark.slow
def test_l2nas_keeps_the_denoised_estimates_in_its_top_k_and_critic_targets(cifar10_env):
    """After a noisy run with re-evaluation, L2NAS's top-k are the wrapper's best estimated architectures (not
    the best single draws) and each replay row's reward is its architecture's current estimate over the scale."""
    env = cifar10_env.replace(noise_sigma=jnp.float32(1.0))
    q = 120
    cfg, make = methods.get_method("l2nas")
    s = reevaluate(make(env, cfg(), q), env, q, ReevaluateConfig(every=3, start=10))
    st, out = jax.jit(lambda k: run_searcher(s, k, q))(jax.random.key(4))
    re = np.asarray(out.metrics["reevaluated"])
    assert re.sum() >= 10 and np.asarray(st.own_count) == q - re.sum()
    est = np.asarray(estimates(st.moments))
    top = np.argsort(-est, kind="stable")[:5]
    np.testing.assert_allclose(np.asarray(st.inner.topk.values), est[top], rtol=1e-6)
    ids = np.asarray(jax.vmap(env.arch_id)(st.inner.topk.archs))
    np.testing.assert_array_equal(ids, np.asarray(st.ids)[top])
    # the shrunk estimates differ from the single draws they replaced: the test sees the swap
    obs = np.asarray(out.observed)
    first = {int(i): obs[t] for t, i in reversed(list(enumerate(np.asarray(jax.vmap(env.arch_id)(out.arch)))))}
    assert not np.allclose(np.asarray(st.inner.topk.values), [first[int(i)] for i in ids])
    # replay row i holds L2NAS's own i-th query: its reward is the current estimate of that architecture / 100
    own_ids = np.asarray(jax.vmap(env.arch_id)(out.arch))[~re]
    slot_of = {int(i): k for k, i in enumerate(np.asarray(st.ids)) if i >= 0}
    want = np.array([est[slot_of[int(i)]] for i in own_ids]) / 100.0
    np.testing.assert_allclose(np.asarray(st.inner.buffer.rewards)[: len(own_ids)], want, rtol=1e-6)

