"""Hand a trained L2NAS agent over to a new environment (transfer across datasets).

Only what concerns the agent's state lives here: which parts of a source run's
:class:`~l2nas_jax.agent.search.L2NASState` a target run starts from, how a replay
buffer is carried into one of another capacity, and the target phase's config.  The
experiment around it (phases, keys, variants, tables) is
:mod:`l2nas_jax.experiments.transfer`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from l2nas_jax.agent.replay import ReplayState, replay_init
from l2nas_jax.agent.search import L2NASConfig, L2NASState


def target_config(config: L2NASConfig, *, queries_from: int, queries_to: int, carry_replay: bool,
                  eps_start: float) -> L2NASConfig:
    """The config of a transferred agent's target phase: its own epsilon start, room for the carried replay."""
    changes: dict[str, Any] = {"eps_start": float(eps_start)}
    if carry_replay and config.buffer_size == 0:  # 0 = "the budget": keep every source and target sample
        changes["buffer_size"] = queries_from + queries_to
    return dataclasses.replace(config, **changes)


def replay_carry(src: ReplayState, capacity: int) -> ReplayState:
    """The source buffer's entries, oldest first, in a buffer of ``capacity`` (the newest kept if smaller).

    Rewards are already divided by the metric's fixed scale (100 for accuracies in %), the
    same on the target.  Works on one (unbatched) buffer; ``vmap`` it over seeds.
    """
    if capacity < 1:
        raise ValueError(f"replay capacity must be >= 1, got {capacity}")
    cap_src = src.rewards.shape[0]
    order = (src.insert_pos - src.size + jnp.arange(cap_src)) % cap_src  # oldest first; valid: the first `size`
    actions, rewards = src.actions[order], src.rewards[order]
    pad = max(capacity - cap_src, 0)
    actions = jnp.concatenate([actions, jnp.zeros((pad, *actions.shape[1:]), actions.dtype)])
    rewards = jnp.concatenate([rewards, jnp.zeros((pad,), rewards.dtype)])
    start = jnp.maximum(src.size - capacity, 0)  # drop the oldest entries that do not fit
    actions = jax.lax.dynamic_slice_in_dim(actions, start, capacity)
    rewards = jax.lax.dynamic_slice_in_dim(rewards, start, capacity)
    size = jnp.minimum(src.size, capacity).astype(jnp.int32)
    fresh = replay_init(capacity, actions.shape[1:])
    return fresh.replace(actions=actions, rewards=rewards, size=size, insert_pos=(size % capacity).astype(jnp.int32))


def _shapes(tree: Any) -> list[tuple[tuple[int, ...], Any]]:
    return [(tuple(x.shape), x.dtype) for x in jax.tree.leaves(tree)]


def handover(fresh: L2NASState, source: L2NASState, *, carry_replay: bool = False) -> L2NASState:
    """The target run's initial state: ``fresh`` (a target ``init``) with the source agent (and replay) carried over.

    Carried: actor and critic parameters and their Adam states (which hold the
    source's learning rates); with ``carry_replay`` the source buffer's entries.  Kept
    from ``fresh``: the empty top-k, the empty ``seen`` set and the target run's key.
    Works batched (leading seed axis) or not; the two agents must have the same shapes.
    """
    if _shapes(fresh.agent) != _shapes(source.agent):
        raise ValueError("cannot hand over: the source agent's networks, optimizer states or seed count differ "
                         "from the target's (same widths, space and seeds needed)")
    if not carry_replay:
        return fresh.replace(agent=source.agent)
    capacity = fresh.buffer.rewards.shape[-1]
    batched = fresh.buffer.rewards.ndim == 2
    carry = jax.vmap(replay_carry, in_axes=(0, None)) if batched else replay_carry
    return fresh.replace(agent=source.agent, buffer=carry(source.buffer, capacity))
