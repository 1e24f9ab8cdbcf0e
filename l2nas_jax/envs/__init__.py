"""Evaluators built from a :class:`~l2nas_jax.spaces.base.Space` (table, supernet, predictor) and wrappers.

Space knowledge lives in :mod:`l2nas_jax.spaces`; this package only evaluates architectures.
"""

from __future__ import annotations

from typing import Any

from l2nas_jax.envs.base import Environment
from l2nas_jax.envs.table import TableEnv, make_nb201_env, make_table_env


def make_env(space: str, **kwargs: Any) -> Environment:
    """The table environment of a space by name (``nb201``, or any registered space with a table)."""
    return make_table_env(space, **kwargs)


__all__ = ["Environment", "TableEnv", "make_env", "make_nb201_env", "make_table_env"]
