"""The agent's hand-over pieces: replay carried into another capacity, the target config, shape checks."""

import jax
import numpy as np
import pytest

from l2nas_jax.agent import L2NASConfig, handover, make_l2nas, replay_carry, target_config
from l2nas_jax.agent.replay import replay_init, replay_insert


def _ring(capacity: int, n: int):
    buf = replay_init(capacity, (1, 2))
    for i in range(n):
        buf = replay_insert(buf, np.full((1, 2), i, np.float32), np.float32(i))
    return buf


def test_replay_carry_keeps_newest_entries_oldest_first():
    buf = _ring(4, 6)  # ring buffer wrapped: holds 2, 3, 4, 5 with the oldest (2) at insert_pos 2
    big = replay_carry(buf, 6)
    np.testing.assert_array_equal(big.rewards, [2, 3, 4, 5, 0, 0])
    assert int(big.size) == 4 and int(big.insert_pos) == 4
    small = replay_carry(buf, 3)  # smaller target capacity: the newest 3, and the buffer is full
    np.testing.assert_array_equal(small.rewards, [3, 4, 5])
    assert int(small.size) == 3 and int(small.insert_pos) == 0
    np.testing.assert_array_equal(small.actions[:, 0, 0], [3, 4, 5])
    with pytest.raises(ValueError, match="capacity"):
        replay_carry(buf, 0)


def test_replay_carry_of_a_partly_filled_buffer_and_vmapped():
    part = replay_carry(_ring(5, 2), 3)  # not wrapped: entries 0, 1 stay at the front
    np.testing.assert_array_equal(part.rewards, [0, 1, 0])
    assert int(part.size) == 2 and int(part.insert_pos) == 2
    batched = jax.tree.map(lambda a, b: np.stack([a, b]), _ring(4, 6), _ring(4, 1))
    out = jax.vmap(replay_carry, in_axes=(0, None))(batched, 5)
    np.testing.assert_array_equal(out.rewards, [[2, 3, 4, 5, 0], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out.size, [4, 1])


def test_target_config_sets_epsilon_and_room_for_the_carried_replay():
    cfg = L2NASConfig()
    plain = target_config(cfg, queries_from=30, queries_to=10, carry_replay=False, eps_start=0.0)
    assert plain.eps_start == 0.0 and plain.buffer_size == 0 and plain.tau == cfg.tau
    carried = target_config(cfg, queries_from=30, queries_to=10, carry_replay=True, eps_start=0.25)
    assert carried.eps_start == 0.25 and carried.buffer_size == 40
    fixed = target_config(L2NASConfig(buffer_size=16), queries_from=30, queries_to=10, carry_replay=True,
                          eps_start=0.0)
    assert fixed.buffer_size == 16  # an explicit capacity is kept (replay_carry keeps the newest entries)
    with pytest.raises(ValueError, match="eps_start"):
        target_config(cfg, queries_from=1, queries_to=1, carry_replay=False, eps_start=1.5)


@pytest.mark.slow
def test_handover_carries_the_agent_and_refuses_other_shapes(cifar10_env):
    cfg = L2NASConfig(actor_hidden=(8,), critic_hidden=(8,))
    keys = jax.random.split(jax.random.key(0), 2)
    fresh = jax.vmap(make_l2nas(cifar10_env, cfg, 10).init)(keys)
    source = jax.vmap(make_l2nas(cifar10_env, cfg, 30).init)(keys[::-1])
    st = handover(fresh, source)
    for a, b in zip(jax.tree.leaves(st.agent), jax.tree.leaves(source.agent)):
        np.testing.assert_array_equal(a, b)
    assert st.buffer.rewards.shape == (2, 10)  # the target's own (empty) buffer
    carried = handover(fresh, source, carry_replay=True)
    assert carried.buffer.rewards.shape == (2, 10) and not np.asarray(carried.buffer.size).any()
    wider = jax.vmap(make_l2nas(cifar10_env, L2NASConfig(actor_hidden=(16,), critic_hidden=(8,)), 30).init)(keys)
    with pytest.raises(ValueError, match="cannot hand over"):
        handover(fresh, wider)
    with pytest.raises(ValueError, match="cannot hand over"):
        handover(fresh, jax.tree.map(lambda x: x[:1], source))  # another seed count
