"""Helpers shared by the baselines: per-query keys and config validation.

Every baseline keeps one PRNG key in its state and splits it at every step
(:func:`next_keys`), so a run is reproducible from its init key alone and a step
repeated at the same query index (see :mod:`l2nas_jax.wrappers.repeats`) draws new numbers.
"""

from __future__ import annotations

import math
from typing import Callable

import chex
import jax


def next_keys(key: chex.PRNGKey, num: int) -> tuple[jax.Array, jax.Array]:
    """``(key for the next step, num keys for this step)`` from one split of ``key``."""
    keys = jax.random.split(key, num + 1)
    return keys[0], keys[1:]


def check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is an int >= 1 (bools are refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}.{name} must be an integer >= 1, got {value!r}")


def check_positive_float(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a finite number > 0."""
    _check_number(owner, name, value, lambda v: 0 < v < math.inf, "a finite number > 0")


def check_nonnegative_float(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a finite number >= 0."""
    _check_number(owner, name, value, lambda v: 0 <= v < math.inf, "a finite number >= 0")


def check_unit_interval(owner: str, name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is a number in ``[0, 1)`` (a decay or momentum)."""
    _check_number(owner, name, value, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _check_number(owner: str, name: str, value: object, ok: Callable[[float], bool], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
        raise ValueError(f"{owner}.{name} must be {what}, got {value!r}")


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(choices)}; got {value!r}")
