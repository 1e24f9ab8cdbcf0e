"""Search-space environments and their registry."""

from __future__ import annotations

from typing import Any, Callable

from l2nas_jax.envs.base import Environment
from l2nas_jax.envs.nb201 import NB201Env, make_nb201_env

_REGISTRY: dict[str, Callable[..., Any]] = {"nb201": make_nb201_env}


def register_environment(name: str, factory: Callable[..., Any]) -> None:
    """Make ``make_env(name, ...)`` build environments with ``factory``."""
    _REGISTRY[name] = factory


def make_env(space: str, **kwargs: Any) -> Environment:
    """Build an environment by space name (``nb201``, ...)."""
    if space not in _REGISTRY:
        raise ValueError(f"unknown search space {space!r}; valid: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[space](**kwargs)


__all__ = ["Environment", "NB201Env", "make_env", "make_nb201_env", "register_environment"]
