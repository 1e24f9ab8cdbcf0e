"""Unit tests of the agent's pieces: loss, schedules, replay, top-k state, critic fit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from l2nas_jax.agent.losses import quantile_loss
from l2nas_jax.agent.networks import Critic
from l2nas_jax.agent.replay import replay_init, replay_insert, replay_normalize, replay_query_index, replay_sample
from l2nas_jax.agent.schedules import cosine_epsilon, num_updates
from l2nas_jax.agent.topk import topk_filled, topk_init, topk_insert, topk_state


@pytest.mark.parametrize("jit", [False, True])
def test_quantile_loss_hand_values(jit):
    f = jax.jit(quantile_loss, static_argnames=()) if jit else quantile_loss
    preds = jnp.array([1.0, 2.0, 3.0, 0.5])
    targets = jnp.array([2.0, 2.0, 1.0, 0.0])
    # u = t - p = [1, 0, -2, -0.5]; rho(u) = u * (tau - 1[u<0]) with tau = 0.9
    # -> [0.9, 0, -2 * -0.1 = 0.2, -0.5 * -0.1 = 0.05]
    np.testing.assert_allclose(f(preds, targets, tau=0.9), [0.9, 0.0, 0.2, 0.05], rtol=1e-6)
    # tau = 0.5 is half the absolute error
    np.testing.assert_allclose(f(preds, targets, tau=0.5), 0.5 * np.abs(targets - preds), rtol=1e-6)


def test_quantile_loss_shape_mismatch_raises():
    with pytest.raises(AssertionError):
        quantile_loss(jnp.zeros(3), jnp.zeros(4), tau=0.9)


@pytest.mark.slow
def test_critic_converges_to_tau_quantile_not_mean():
    """A critic fit on fixed data with the pinball loss predicts the tau-quantile."""
    tau = 0.9
    rewards = jax.random.exponential(jax.random.key(1), (2048,))  # skewed: quantile far from mean
    action = jnp.full((6, 5), 0.5)
    critic = Critic((32, 32))
    params = critic.init(jax.random.key(0), action)
    st = TrainState.create(apply_fn=critic.apply, params=params, tx=optax.adam(3e-3))

    @jax.jit
    def train(st):
        def body(i, st):
            idx = jax.random.randint(jax.random.fold_in(jax.random.key(2), i), (256,), 0, rewards.shape[0])
            acts = jnp.broadcast_to(action, (256, 6, 5))
            g = jax.grad(lambda p: quantile_loss(critic.apply(p, acts), rewards[idx], tau=tau).mean())(st.params)
            return st.apply_gradients(grads=g)

        return jax.lax.fori_loop(0, 3000, body, st)

    pred = float(critic.apply(train(st).params, action))
    q = float(np.quantile(np.asarray(rewards), tau))
    mean = float(rewards.mean())
    assert abs(pred - q) < 0.1 * q, (pred, q)
    assert abs(pred - mean) > 0.5 * (q - mean)


def test_num_updates_schedule():
    sizes = jnp.arange(0, 1000)
    n = np.asarray(num_updates(sizes, max_updates=10, per=50, learning_starts=20))
    expected = np.where(np.arange(1000) >= 20, np.minimum(10, 1 + np.arange(1000) // 50), 0)
    np.testing.assert_array_equal(n, expected)
    assert n[19] == 0 and n[20] == 1 and n[100] == 3 and n[999] == 10


def test_cosine_epsilon():
    t = jnp.array([0, 50, 100, 200])
    eps = np.asarray(cosine_epsilon(t, start=1.0, end=0.1, decay_steps=100))
    np.testing.assert_allclose(eps, [1.0, 0.55, 0.1, 0.1], atol=1e-6)


def test_replay_ring_buffer_and_sampling():
    buf = replay_init(3, (2, 2))
    for i in range(5):
        buf = replay_insert(buf, jnp.full((2, 2), float(i)), jnp.float32(i))
    assert int(buf.size) == 3 and int(buf.insert_pos) == 2
    np.testing.assert_array_equal(np.sort(np.asarray(buf.rewards)), [2.0, 3.0, 4.0])  # oldest two overwritten
    acts, rews = replay_sample(buf, jax.random.key(0), 500)
    assert set(np.asarray(rews).tolist()) == {2.0, 3.0, 4.0}  # only filled slots, with replacement
    np.testing.assert_array_equal(np.asarray(acts)[:, 0, 0], np.asarray(rews))
    with pytest.raises(ValueError, match="capacity"):
        replay_init(0, (2, 2))


def test_replay_rows_know_which_insert_they_hold():
    """After n inserts into a ring of 4, row r holds the latest insert i with i % 4 == r."""
    buf = replay_init(4, (1, 1))
    for n in range(11):
        query, valid = map(np.asarray, replay_query_index(buf, jnp.int32(n)))
        for r in range(4):
            held = [i for i in range(n) if i % 4 == r]
            assert valid[r] == bool(held) and (not held or query[r] == held[-1]), (n, r, query, valid)
        buf = replay_insert(buf, jnp.full((1, 1), float(n)), jnp.float32(n))
        query, valid = map(np.asarray, replay_query_index(buf, jnp.int32(n + 1)))
        np.testing.assert_array_equal(np.asarray(buf.rewards)[valid], query[valid])  # each insert wrote its index


def test_replay_samples_only_filled_part():
    buf = replay_insert(replay_init(100, (1, 1)), jnp.ones((1, 1)), jnp.float32(7.0))
    _, rews = replay_sample(buf, jax.random.key(3), 64)
    assert np.all(np.asarray(rews) == 7.0)


def test_topk_keeps_best_distinct():
    tk = topk_init(2, (1, 3), (1,))
    assert np.all(np.asarray(topk_state(tk)) == 0) and int(topk_filled(tk)) == 0
    codes = [jnp.eye(3)[i][None] for i in range(3)]
    arch = [jnp.array([i]) for i in range(3)]
    tk = topk_insert(tk, codes[0], arch[0], jnp.float32(1.0), jnp.bool_(True))
    np.testing.assert_allclose(topk_state(tk), [1, 0, 0])
    tk = topk_insert(tk, codes[1], arch[1], jnp.float32(3.0), jnp.bool_(True))
    tk = topk_insert(tk, codes[1], arch[1], jnp.float32(3.0), jnp.bool_(False))  # a repeat is not inserted again
    np.testing.assert_allclose(topk_state(tk), [0.5, 0.5, 0])
    tk = topk_insert(tk, codes[2], arch[2], jnp.float32(2.0), jnp.bool_(True))  # evicts value 1.0
    np.testing.assert_allclose(topk_state(tk), [0, 0.5, 0.5])
    np.testing.assert_allclose(tk.values, [3.0, 2.0])
    np.testing.assert_array_equal(tk.archs[:, 0], [1, 2])  # archs move with their values
    assert int(topk_filled(tk)) == 2


def test_rank_and_standardized_rewards():
    buf = replay_init(8, (1, 1))
    for r in [0.9, 0.5, 0.7, 0.7]:
        buf = replay_insert(buf, jnp.zeros((1, 1)), jnp.float32(r))
    sample = jnp.array([0.5, 0.7, 0.9, 1.0])
    # empirical CDF among the 4 filled rewards (ties count half), centred: (less + eq/2)/4 - 0.5
    np.testing.assert_allclose(replay_normalize(buf, sample, "rank"), [-0.375, 0.0, 0.375, 0.5], atol=1e-6)
    filled = np.array([0.9, 0.5, 0.7, 0.7])
    np.testing.assert_allclose(replay_normalize(buf, sample, "standardize"),
                               (np.asarray(sample) - filled.mean()) / filled.std(), atol=1e-5)
    np.testing.assert_array_equal(replay_normalize(buf, sample, "none"), sample)
    with pytest.raises(ValueError, match="unknown reward normalization"):
        replay_normalize(buf, sample, "bogus")
