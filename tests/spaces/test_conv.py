"""The canonical-layout convolution: same values and gradients as lax, canonical convs only under a switch."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from l2nas_jax.spaces import conv as conv_lib

DN = ("NHWC", "HWIO", "NHWC")

CASES = [  # (H, W, c_in, c_out, k, stride, dilation, padding, groups)
    (8, 8, 3, 5, 3, 1, 1, 1, 1),
    (9, 7, 4, 6, 3, 2, 1, 1, 1),
    (8, 8, 4, 4, 1, 2, 1, 0, 1),
    (10, 10, 3, 2, 5, 1, 2, 4, 1),
    (11, 9, 2, 3, 5, 2, 1, 2, 1),
    (8, 8, 6, 6, 3, 1, 1, 1, 6),
    (9, 9, 4, 4, 5, 2, 1, 2, 4),
    (10, 8, 5, 5, 3, 1, 2, 2, 5),
    (12, 12, 3, 3, 7, 2, 1, 3, 3),
    (7, 7, 4, 4, 3, 2, 2, 1, 4),
]


def _inputs(h, w, c_in, c_out, k, groups, seed=0):
    kx, kw, ky = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (2, h, w, c_in))
    kernel = jax.random.normal(kw, (k, k, c_in // groups, c_out))
    return x, kernel, ky


@pytest.mark.parametrize("taps", [True, False], ids=["cpu-taps", "conv-op"])
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_values_and_gradients_equal_lax(case, taps, monkeypatch):
    """Both depthwise forms (taps on the CPU, the canonical convolution elsewhere) and dense convs."""
    h, w, c_in, c_out, k, stride, dilation, pad, groups = case
    if groups == 1 and not taps:
        pytest.skip("dense convolutions have one form")
    monkeypatch.setattr(conv_lib, "_taps_here", lambda: taps)
    x, kernel, ky = _inputs(h, w, c_in, c_out, k, groups)
    args = ((stride, stride), ((pad, pad), (pad, pad)))
    kw = {"rhs_dilation": (dilation, dilation), "dimension_numbers": DN, "feature_group_count": groups}

    def loss(fn, x, kernel):
        y = fn(x, kernel, *args, **kw)
        return jnp.sum(y * jax.random.normal(ky, y.shape)), y

    (l_ref, y_ref), g_ref = jax.value_and_grad(lambda a, b: loss(lax.conv_general_dilated, a, b), (0, 1), has_aux=True)(x, kernel)
    (l_new, y_new), g_new = jax.value_and_grad(lambda a, b: loss(conv_lib.conv_general_dilated, a, b), (0, 1), has_aux=True)(x, kernel)
    np.testing.assert_allclose(y_new, y_ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_new, g_ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_unsupported_shapes_fall_back_to_lax():
    """Grouped (not depthwise) convs and input dilation take JAX's own path, with the same results."""
    x, kernel, _ = _inputs(8, 8, 4, 6, 3, groups=2)
    args = ((1, 1), ((1, 1), (1, 1)))
    for kw in ({"feature_group_count": 2}, {"feature_group_count": 2, "lhs_dilation": (2, 2)}):
        f_ref = jax.grad(lambda k: jnp.sum(lax.conv_general_dilated(x, k, *args, dimension_numbers=DN, **kw) ** 2))
        f_new = jax.grad(lambda k: jnp.sum(conv_lib.conv_general_dilated(x, k, *args, dimension_numbers=DN, **kw) ** 2))
        np.testing.assert_allclose(f_new(kernel), f_ref(kernel), rtol=1e-5)


def _dim_labels(fn, *args) -> set[str]:
    text = jax.jit(fn).lower(*args).compile().as_text()
    return set(re.findall(r"dim_labels=([a-z0-9_>-]+)", text))


@pytest.mark.parametrize("groups,taps", [(1, True), (4, False), (4, True)])
def test_gradient_inside_a_switch_uses_canonical_convolutions_only(groups, taps, monkeypatch):
    """The reason for the module: under lax.switch XLA leaves JAX's permuted gradient convs as they are.
    A depthwise conv on the CPU (taps) has no convolution op left at all."""
    monkeypatch.setattr(conv_lib, "_taps_here", lambda: taps)
    x, kernel, _ = _inputs(8, 8, 4, 4, 3, groups)
    args = ((1, 1), ((1, 1), (1, 1)))

    def grads(fn):
        def loss(x, kernel, i):
            branches = [lambda a, b: jnp.zeros_like(a),
                        lambda a, b: fn(a, b, *args, dimension_numbers=DN, feature_group_count=groups)]
            return jnp.sum(lax.switch(i, branches, x, kernel) ** 2)

        return jax.grad(loss, (0, 1))

    want = set() if (groups > 1 and taps) else {"b01f_01io->b01f"}
    assert _dim_labels(grads(conv_lib.conv_general_dilated), x, kernel, 1) == want
    if groups == 1:  # the layouts the plain gradient leaves inside the conditional (what this module avoids)
        assert _dim_labels(grads(lax.conv_general_dilated), x, kernel, 1) - {"b01f_01io->b01f"}
