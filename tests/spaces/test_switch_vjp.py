"""recompute_switch: the values and gradients of lax.switch, with a backward pass that reruns one branch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2nas_jax.spaces.switch_vjp import recompute_switch


def _branches():
    """Three branches of different structure: a nonlinear map of both params, an aux update, a param-free one."""

    def scale_tanh(p, aux, x):
        return jnp.tanh(x * p["w"]) + p["b"], {"count": aux["count"] + 1.0, "mean": jnp.mean(x, 0)}

    def square(p, aux, x):
        return jnp.square(x) * p["b"], {"count": aux["count"], "mean": aux["mean"] * 0.5}

    def negate(p, aux, x):
        del p
        return -x, aux

    return [scale_tanh, square, negate]


def _inputs():
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3,)), jnp.float32), "b": jnp.asarray(rng.normal(size=(3,)), jnp.float32)}
    aux = {"count": jnp.zeros(()), "mean": jnp.asarray(rng.normal(size=(3,)), jnp.float32)}
    x = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    return params, aux, x, g


def _loss(switch):
    def loss(params, aux, x, index, g):
        y, new_aux = switch(index, _branches(), params, aux, x)
        return jnp.sum(y * g), new_aux
    return loss


@pytest.mark.parametrize("index", [0, 1, 2])
def test_values_gradients_and_aux_equal_the_plain_switch(index):
    params, aux, x, g = _inputs()
    traces = []

    def counted(*args):
        traces.append(1)
        return recompute_switch(*args)

    ours = jax.jit(jax.grad(_loss(counted), argnums=(0, 2), has_aux=True))
    ref = jax.jit(jax.grad(_loss(jax.lax.switch), argnums=(0, 2), has_aux=True))
    for i in range(3):  # the index is traced: one program for every branch
        (dp, dx), new_aux = ours(params, aux, x, jnp.int32(i), g)
        (rp, rx), ref_aux = ref(params, aux, x, jnp.int32(i), g)
        for a, b in zip(jax.tree.leaves((dp, dx, new_aux)), jax.tree.leaves((rp, rx, ref_aux))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert len(traces) == 1
    (dp, dx), _ = ours(params, aux, x, jnp.int32(index), g)
    if index == 2:  # the parameter-free branch: zero parameter gradient, dx = -g
        assert all(float(jnp.abs(a).max()) == 0.0 for a in jax.tree.leaves(dp))
        np.testing.assert_array_equal(np.asarray(dx), -np.asarray(g))
    else:
        assert float(jnp.abs(dp["b"]).max()) > 0


def test_aux_carries_no_gradient_and_backward_saves_no_branch_residuals():
    """The backward pass is a function of the inputs only: its jaxpr's residuals are (params, aux, x, index)."""
    params, aux, x, g = _inputs()

    def loss_aux(aux):
        y, new_aux = recompute_switch(jnp.int32(0), _branches(), params, aux, x)
        return jnp.sum(y * g) + jnp.sum(new_aux["mean"])  # new_aux's own gradient path is cut

    grads = jax.grad(loss_aux)(aux)
    assert all(float(jnp.abs(a).max()) == 0.0 for a in jax.tree.leaves(grads))
    _, vjp = jax.vjp(lambda p, h: recompute_switch(jnp.int32(1), _branches(), p, aux, h)[0], params, x)
    residual_sizes = sorted(int(np.size(a)) for a in jax.tree.leaves(vjp))
    inputs_sizes = sorted(int(np.size(a)) for a in jax.tree.leaves((params, aux, x, jnp.int32(1))))
    assert residual_sizes == inputs_sizes
