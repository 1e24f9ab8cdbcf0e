"""Traceable hyper-parameters: a traced value gives exactly the numbers of the same value in the config."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState

from l2nas_jax.agent import TRACEABLE, HyperParams, L2NASConfig, hyperparams_of, make_l2nas, with_values
from l2nas_jax.agent.learner import adam, agent_init, learning_rate, make_update
from l2nas_jax.agent.networks import Critic
from l2nas_jax.agent.schedules import cosine_epsilon
from l2nas_jax.searcher import run_searcher

TINY = dict(actor_hidden=(8,), critic_hidden=(8,), batch_size=8, max_updates=1, learning_starts=4,
            num_actor_candidates=2, num_mutations=4, num_random_candidates=4)


def test_hyperparams_are_the_config_values_and_names_are_checked():
    cfg = L2NASConfig(tau=0.7, actor_lr=2e-3)
    hp = hyperparams_of(cfg)
    assert TRACEABLE == ("actor_lr", "critic_lr", "tau", "action_noise", "eps_start", "eps_end")
    assert {k: getattr(hp, k) for k in TRACEABLE} == {k: getattr(cfg, k) for k in TRACEABLE}
    assert all(type(getattr(hp, k)) is float for k in TRACEABLE)  # concrete: compiled in as constants
    assert set(TRACEABLE) <= {f.name for f in dataclasses.fields(L2NASConfig)}
    assert len(jax.tree.leaves(hp)) == len(TRACEABLE)  # a pytree: vmap/jit see every value
    assert with_values(hp, {"tau": 0.5}).tau == 0.5 and hp.tau == 0.7
    with pytest.raises(ValueError, match="not a traceable L2NAS hyper-parameter: batch_size"):
        with_values(hp, {"batch_size": 4})
    with pytest.raises(ValueError, match="hparams must be a HyperParams"):
        make_l2nas(None, cfg, 10, hparams={"tau": 0.5})


def test_injected_adam_is_optax_adam_bit_for_bit_with_a_traced_rate():
    critic = Critic((8,))
    params = critic.init(jax.random.key(0), jnp.zeros((6, 5)))
    grads = jax.tree.map(lambda p: jnp.sin(jnp.arange(p.size, dtype=jnp.float32).reshape(p.shape)), params)

    def three_steps(tx, params, grads):
        st = TrainState.create(apply_fn=critic.apply, params=params, tx=tx)
        for _ in range(3):
            st = st.apply_gradients(grads=grads)
        return st

    want = jax.jit(lambda p, g: three_steps(optax.adam(3e-3), p, g))(params, grads)  # the rate a constant
    got = jax.jit(lambda p, g, lr: three_steps(adam(lr), p, g))(params, grads, jnp.float32(3e-3))  # traced, in state
    assert float(learning_rate(got)) == np.float32(3e-3)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_update_with_traced_tau_and_rates_equals_concrete():
    shape = (6, 5)
    kw = dict(actor_hidden=(8,), critic_hidden=(8,), actor_out="softmax")
    actions = jax.random.uniform(jax.random.key(1), (8, *shape))
    rewards = jax.random.uniform(jax.random.key(2), (8,))
    state = jnp.full((30,), 0.2)

    def one(data, actor_lr, critic_lr, tau):  # data are arguments: nothing is folded at compile time
        agent = agent_init(jax.random.key(0), shape, actor_lr=actor_lr, critic_lr=critic_lr, **kw)
        return make_update(tau=tau)(agent, *data)

    data = (actions, rewards, state)
    want = jax.jit(lambda d: one(d, 1e-3, 3e-3, 0.7))(data)
    got = jax.jit(one)(data, jnp.float32(1e-3), jnp.float32(3e-3), jnp.float32(0.7))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(a, b)


def test_cosine_epsilon_with_traced_end_points():
    t = jnp.arange(12)
    want = cosine_epsilon(t, start=0.5, end=0.25, decay_steps=8)
    got = jax.jit(lambda s, e: cosine_epsilon(t, start=s, end=e, decay_steps=8))(jnp.float32(0.5), jnp.float32(0.25))
    np.testing.assert_array_equal(got, want)
    assert float(got[0]) == 0.5 and np.all(np.asarray(got[8:]) == 0.25)


@pytest.mark.slow
def test_vmapped_hyperparams_equal_separate_runs(cifar10_env):
    """One compiled search vmapped over two points of every traced value = two runs with those configs."""
    queries, key = 24, jax.random.key(4)
    points = [dict(actor_lr=2e-3, critic_lr=1e-3, tau=0.7, action_noise=0.3, eps_start=0.5, eps_end=0.25),
              dict(actor_lr=1e-3, critic_lr=3e-3, tau=0.9, action_noise=0.1, eps_start=1.0, eps_end=0.0)]
    base = L2NASConfig(**TINY)
    stacked = HyperParams(**{k: jnp.asarray([p[k] for p in points], jnp.float32) for k in TRACEABLE})

    def run(hp):
        return run_searcher(make_l2nas(cifar10_env, base, queries, hparams=hp), key, queries)[1]

    batched = jax.jit(jax.vmap(run))(stacked)
    for i, p in enumerate(points):
        single = jax.jit(lambda: run_searcher(make_l2nas(cifar10_env, dataclasses.replace(base, **p), queries),
                                              key, queries)[1])()
        np.testing.assert_array_equal(batched.arch[i], single.arch)
        np.testing.assert_array_equal(batched.metrics["epsilon"][i], single.metrics["epsilon"])
        # (batched matmuls may round differently in the last bit; the choices above are exact)
        np.testing.assert_allclose(batched.metrics["critic_loss"][i], single.metrics["critic_loss"], rtol=1e-5,
                                   atol=1e-6)
    assert not np.array_equal(batched.arch[0], batched.arch[1])
