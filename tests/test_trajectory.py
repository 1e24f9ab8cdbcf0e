"""The incumbent rules: the best single observation vs the denoised (shrunk-mean) estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.trajectory import (best_estimated, estimates, first_occurrence, make_trajectory, moments_add,
                                  moments_init, noise_variance)


def _run(ids, values):
    ids = jnp.asarray(ids, jnp.int32)
    return best_estimated(jnp.asarray(values, jnp.float32), first_occurrence(ids))


def test_first_occurrence_points_at_the_first_query_of_each_architecture():
    ids = np.array([7, 3, 7, 9, 3, 3, 7, 1])
    np.testing.assert_array_equal(np.asarray(first_occurrence(jnp.asarray(ids))), [0, 1, 0, 3, 1, 1, 0, 7])


def test_a_lucky_single_draw_does_not_beat_a_well_measured_better_architecture():
    # Architecture 1 is truly better (94.2) and measured 6 times; 4 others are measured 3 times each (the
    # repeats that reveal a noise of ~0.5); 10 singletons make the population; architecture 2 (true ~93.6)
    # then gets one lucky draw of 94.9.
    dev = np.array([-0.5, 0.5, -0.3, 0.3, -0.6, 0.6])
    ids = [1] * 6 + [a for a in (3, 4, 5, 6) for _ in range(3)] + list(range(10, 20)) + [2]
    values = list(94.2 + dev) + [v + d for v in (93.0, 93.2, 93.4, 93.5) for d in (-0.55, 0.0, 0.55)] \
        + list(np.linspace(92.0, 93.8, 10)) + [94.9]
    inc_val, inc_idx = _run(ids, values)
    assert int(inc_idx[-1]) == 0, "the well-measured architecture (first queried at 0) must stay the incumbent"
    assert 93.5 < float(inc_val[-1]) < 94.2  # its mean, shrunk a little toward the population, never inflated
    assert np.argmax(values) == len(values) - 1  # ... while the best-single-observation rule takes the lucky draw


def test_without_differing_repeats_the_denoised_rule_is_the_observed_rule_bit_for_bit(cifar10_env):
    from l2nas_jax import methods
    from l2nas_jax.searcher import run_searcher

    cfg, make = methods.get_method("rea")
    out = jax.jit(lambda k: run_searcher(make(cifar10_env, cfg(), 300), k, 300)[1])(jax.random.key(4))
    ids = np.asarray(jax.vmap(cifar10_env.arch_id)(out.arch))
    assert len(np.unique(ids)) < len(ids), "REA repeats architectures: the check needs repeats"
    a = make_trajectory(cifar10_env, out.arch, out.observed, "denoised")
    b = make_trajectory(cifar10_env, out.arch, out.observed, "observed")
    for field in ("incumbent_observed", "incumbent_report", "incumbent_index"):
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)


@pytest.mark.slow
def test_the_noise_estimate_converges_to_the_tables_sigma(cifar10_env):
    env = cifar10_env.replace(noise_sigma=jnp.float32(0.5))
    archs = jax.vmap(env.random_arch)(jax.random.split(jax.random.key(0), 200))
    reps = 10
    keys = jax.random.split(jax.random.key(1), 200 * reps).reshape(200, reps)
    obs = jax.vmap(lambda a, ks: jax.vmap(lambda k: env.evaluate(k, a))(ks))(archs, keys)  # [200, reps]
    m = moments_init(200)
    for r in range(reps):
        for i in range(200):
            m = moments_add(m, i, obs[i, r])
    assert np.sqrt(float(noise_variance(m))) == pytest.approx(0.5, rel=0.05)
    # the estimates of 10-times measured architectures are close to their true values
    true = np.asarray(jax.vmap(lambda a: env.search_acc[env.arch_id(a)])(archs))
    assert np.abs(np.asarray(estimates(m)) - true).mean() < 0.5 / np.sqrt(reps) * 1.2


def test_unknown_incumbent_rule_is_refused(cifar10_env):
    a = jnp.zeros((3, 6), jnp.int32)
    with pytest.raises(ValueError, match="unknown incumbent rule 'best'"):
        make_trajectory(cifar10_env, a, jnp.zeros(3), "best")
