"""Helpers shared by the baselines: per-query keys and config validation.

Every baseline keeps one PRNG key in its state and splits it at every step
(:func:`next_keys`), so a run is reproducible from its init key alone and a step
repeated at the same query index (see :mod:`l2nas_jax.wrappers.repeats`) draws new numbers.
"""

from __future__ import annotations

import chex
import jax

from l2nas_jax.core import validate


def next_keys(key: chex.PRNGKey, num: int) -> tuple[jax.Array, jax.Array]:
    """``(key for the next step, num keys for this step)`` from one split of ``key``."""
    keys = jax.random.split(key, num + 1)
    return keys[0], keys[1:]


def check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is an int >= 1 (bools are refused)."""
    validate.positive_int(f"{owner}.{name}", value)


def check_positive_float(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a finite number > 0."""
    validate.positive_float(f"{owner}.{name}", value)


def check_nonnegative_float(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a finite number >= 0."""
    validate.nonnegative_float(f"{owner}.{name}", value)


def check_unit_interval(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a number in ``[0, 1)`` (a decay or momentum)."""
    validate.in_range(f"{owner}.{name}", value, 0.0, 1.0, hi_open=True)


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    validate.choice(f"{owner}.{name}", value, choices)
