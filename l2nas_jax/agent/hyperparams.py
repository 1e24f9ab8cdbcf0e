"""L2NAS hyper-parameters that enter the search only as values, as a pytree (traceable, sweepable).

In the spirit of ``optax.inject_hyperparams``: the learning rates, the critic's
quantile, the action noise and the epsilon end points are *data*, not part of the
compiled program.  :func:`~l2nas_jax.agent.search.make_l2nas` takes a
:class:`HyperParams` whose leaves may be traced (e.g. ``vmap``-ed over a grid), so
one compilation serves every grid point; ``hparams=None`` takes the config's
concrete values, compiled in as constants.  Everything else in
:class:`~l2nas_jax.agent.search.L2NASConfig` (widths, batch size, schedule lengths)
fixes shapes or loop bounds and stays static.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import chex
from flax import struct


@struct.dataclass
class HyperParams:
    """The traceable hyper-parameters of L2NAS (Python floats or scalar arrays)."""

    actor_lr: chex.Numeric  # Adam learning rate of the actor (kept in its optimizer state)
    critic_lr: chex.Numeric  # Adam learning rate of the critic (kept in its optimizer state)
    tau: chex.Numeric  # quantile the critic models
    action_noise: chex.Numeric  # half-width of the uniform noise on the actor's alpha
    eps_start: chex.Numeric  # epsilon-greedy probability at query 0
    eps_end: chex.Numeric  # ... and at the end of its decay


#: Names of the :class:`HyperParams` fields (the L2NASConfig fields a sweep can trace).
TRACEABLE: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(HyperParams))


def hyperparams_of(config: Any) -> HyperParams:
    """The traceable values of ``config`` (an ``L2NASConfig``) as given: concrete, so compiled in as constants."""
    return HyperParams(**{name: getattr(config, name) for name in TRACEABLE})


def with_values(hparams: HyperParams, values: Mapping[str, chex.Numeric]) -> HyperParams:
    """``hparams`` with some fields replaced by (possibly traced) ``values``; an unknown name is a ValueError."""
    unknown = sorted(set(values) - set(TRACEABLE))
    if unknown:
        raise ValueError(f"not a traceable L2NAS hyper-parameter: {', '.join(unknown)}; valid: {', '.join(TRACEABLE)}")
    return hparams.replace(**values)
