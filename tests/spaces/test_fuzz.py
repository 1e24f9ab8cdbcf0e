"""Property-based tests of the NB201 parsers, encoders and discretization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2nas_jax.envs import make_env
from l2nas_jax.spaces.nb201 import codec as codec

ops_strategy = st.lists(st.integers(0, codec.NUM_OPS - 1), min_size=6, max_size=6)


@given(ops_strategy)
def test_valid_ops_round_trip(ops):
    s = codec.format_arch(ops)
    np.testing.assert_array_equal(codec.parse_arch(s), ops)
    code = codec.ops_to_code(np.asarray(ops))
    np.testing.assert_array_equal(codec.code_to_ops(code), ops)


@given(st.text(max_size=120))
@settings(max_examples=300)
def test_arbitrary_text_parses_or_raises_value_error(text):
    try:
        ops = codec.parse_arch(text)
    except ValueError as e:
        assert str(e)
    else:
        assert codec.format_arch(ops) == text.strip()


@given(ops_strategy, st.integers(0, 200), st.sampled_from(list("|+~_0123456789abcz ")))
@settings(max_examples=300)
def test_corrupted_valid_string_parses_or_raises_value_error(ops, pos, ch):
    s = codec.format_arch(ops)
    pos = pos % len(s)
    corrupted = s[:pos] + ch + s[pos + 1:]
    try:
        out = codec.parse_arch(corrupted)
    except ValueError:
        return
    assert codec.format_arch(out) == corrupted.strip()


_ENV = make_env("nb201")
_DISCRETIZE = jax.jit(jax.vmap(_ENV.discretize))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=30, max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_finite_alpha_gives_a_valid_architecture(values):
    alpha = jnp.asarray(values, jnp.float32).reshape(1, 6, 5)
    arch = np.asarray(_DISCRETIZE(alpha))[0]
    assert arch.shape == (6,) and arch.min() >= 0 and arch.max() < codec.NUM_OPS
    codec.parse_arch(codec.format_arch(arch))  # a real cell


@pytest.mark.slow
def test_nan_reward_is_refused():
    from l2nas_jax.api import run_method

    env = make_env("nb201")
    broken = env.replace(search_acc=env.search_acc.at[::7].set(jnp.nan))  # one cell in 7: a search meets one
    with pytest.raises(ValueError, match="non-finite reward"):
        run_method(broken, "l2nas", queries=400, seeds=1,
                   config={"actor_hidden": (8,), "critic_hidden": (8,), "batch_size": 4})
