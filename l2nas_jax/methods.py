"""Registry of search methods: name -> (config dataclass, searcher factory).

Every factory has the signature ``make(env, config, queries) -> Searcher``
(:mod:`l2nas_jax.searcher`); modules are imported lazily so a method's
dependencies load only when it is used.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: the registry is read by the CLI before JAX is needed
    from l2nas_jax.searcher import Searcher

_METHODS: dict[str, tuple[str, str, str]] = {
    "l2nas": ("l2nas_jax.agent.search", "L2NASConfig", "make_l2nas"),
    "random": ("l2nas_jax.baselines.random_search", "RandomSearchConfig", "make_random_search"),
    "rea": ("l2nas_jax.baselines.evolution", "REAConfig", "make_rea"),
    "reinforce": ("l2nas_jax.baselines.reinforce", "ReinforceConfig", "make_reinforce"),
    "ls": ("l2nas_jax.baselines.local_search", "LocalSearchConfig", "make_local_search"),
}


def method_names() -> tuple[str, ...]:
    """Names of every registered search method."""
    return tuple(_METHODS)


def check_method(name: str) -> str:
    """``name`` if it is a registered method; ValueError naming the valid ones otherwise."""
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(_METHODS)}")
    return name


def get_method(name: str) -> tuple[type, Callable[..., Searcher]]:
    """``(ConfigClass, make_fn)`` of a method."""
    mod, cfg, fn = _METHODS[check_method(name)]
    m = importlib.import_module(mod)
    return getattr(m, cfg), getattr(m, fn)


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The method's default config with ``overrides`` applied; unknown keys raise ValueError."""
    cls, _ = get_method(name)
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {name} config key(s): {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    return cls(**overrides)
