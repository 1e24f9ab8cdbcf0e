"""Helpers shared by the baselines: per-query keys and config validation.

Every baseline keeps one PRNG key in its state and derives the keys of query ``t``
as ``split(fold_in(key, t), n)``, so a step needs no key threading and a run is
reproducible from its init key alone.
"""

from __future__ import annotations

import math
from typing import Callable

import chex
import jax


def query_keys(key: chex.PRNGKey, t: chex.Array, num: int) -> jax.Array:
    """``num`` independent keys for query ``t`` of the run started from ``key``."""
    return jax.random.split(jax.random.fold_in(key, t), num)


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
