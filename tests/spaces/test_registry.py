"""The shared codec protocol: every space round-trips through it the same way."""

import jax
import numpy as np
import pytest

from l2nas_jax.spaces import HASH_BUCKETS, get_space as get_codec


@pytest.mark.slow
@pytest.mark.parametrize("space", ["nb201", "darts", "ofa"])
def test_codec_round_trips_and_ids_in_range(space):
    codec = get_codec(space)
    archs = jax.vmap(codec.random_arch)(jax.random.split(jax.random.key(0), 16))
    assert archs.shape == (16, *codec.arch_shape)
    codes = jax.vmap(codec.encode)(archs)
    assert codes.shape == (16, *codec.alpha_shape)
    np.testing.assert_array_equal(jax.vmap(codec.discretize)(codes), archs)
    ids = np.asarray(jax.vmap(codec.arch_id)(archs))
    assert ids.min() >= 0 and ids.max() < codec.num_archs
    assert len(set(ids.tolist())) == 16  # 16 random archs of these spaces are distinct
    for a in np.asarray(archs)[:4]:
        np.testing.assert_array_equal(codec.from_string(codec.to_string(a)), a)
    mutated = jax.vmap(codec.mutate)(jax.random.split(jax.random.key(1), 16), archs)
    assert not np.any(np.all((np.asarray(mutated) == np.asarray(archs)).reshape(16, -1), axis=1))
    params, macs = jax.jit(jax.vmap(codec.cost))(archs)
    assert params.shape == macs.shape == (16,) and np.all(np.asarray(params) > 0) and np.all(np.asarray(macs) > 0)


def test_large_spaces_use_hash_ids_small_space_exact_codes():
    assert get_codec("nb201").exact_ids and get_codec("nb201").num_archs == 15625
    for space in ("darts", "ofa"):
        assert not get_codec(space).exact_ids and get_codec(space).num_archs == HASH_BUCKETS


def test_unknown_space_is_named():
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        get_codec("nope")
