"""How a network's one-off initialisation is run: jitted unless it draws too often (supernet/train.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from l2nas_jax.spaces import get_space
from l2nas_jax.supernet import train


def test_count_draws_sees_draws_inside_jit_vmap_and_scan():
    def f(key):
        a = jax.random.normal(key, (3,))
        b = jax.jit(lambda k: jax.random.uniform(k, (2,)))(key)
        c = jax.vmap(lambda k: jax.random.bernoulli(k, 0.5, (4,)))(jax.random.split(key, 5))
        d, _ = jax.lax.scan(lambda carry, k: (carry + jax.random.normal(k, ()), None), 0.0, jax.random.split(key, 7))
        return a, b, c, d

    assert train.count_draws(jax.make_jaxpr(f)(jax.random.key(0)).jaxpr) == 4
    assert train.count_draws(jax.make_jaxpr(lambda k: jnp.zeros(3) + 1.0)(jax.random.key(0)).jaxpr) == 0


def test_darts_supernet_init_is_jitted_and_draws_once_per_op_and_stride_group():
    """The supernet's edges are initialised vmapped over the edges: far fewer draws than arrays, so one jitted program."""
    space = get_space("darts")
    model = space.supernet(channels=2, layers=3, num_classes=10)
    arch = space.random_arch(jax.random.key(0))
    key = jax.eval_shape(lambda: jax.random.key(0))
    traced = train._jitted_init(model, False).trace({"params": key, "dropout": key},
                                                    jax.ShapeDtypeStruct((1, 8, 8, 3), jnp.float32),
                                                    jax.ShapeDtypeStruct(arch.shape, jnp.int32))
    draws, arrays = train.count_draws(traced.jaxpr.jaxpr), len(traced.jaxpr.out_avals)
    assert draws < train.EAGER_INIT_MIN_DRAWS < arrays
    assert not train._init_eagerly(traced)
    state = train.create_train_state(model, train.TrainConfig(epochs=1, batch_size=2), jax.random.key(1),
                                     (8, 8, 3), 10, space.random_arch)
    again = train.create_train_state(model, train.TrainConfig(epochs=1, batch_size=2), jax.random.key(1),
                                     (8, 8, 3), 10, space.random_arch)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(again.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
