"""Search spaces: one package per space behind one :class:`~l2nas_jax.spaces.base.Space` registry.

Each ``l2nas_jax/spaces/<name>/`` holds the space's codec, cost counter, Flax networks and
(NB201) table loaders, and exposes ``space() -> Space``.  :func:`get_space` is the single
list of spaces that the CLI, the Python API, the ``train/`` scripts and the tests read;
:func:`register_space` adds one (a toy space in a test, a user's own space) without
touching any other module.  Spaces are built on first use, so importing this package
loads no JAX code.
"""

from __future__ import annotations

import importlib
from typing import Callable

from l2nas_jax.spaces.base import HASH_BUCKETS, Space, TableValues

_LOADERS: dict[str, Callable[[], Space]] = {}
_CACHE: dict[str, Space] = {}
_BUILTIN = ("nb201", "darts", "ofa", "table")


def _builtin_loader(name: str) -> Callable[[], Space]:
    return lambda: importlib.import_module(f"l2nas_jax.spaces.{name}").space()


for _name in _BUILTIN:
    _LOADERS[_name] = _builtin_loader(_name)


def space_names() -> tuple[str, ...]:
    """Names of every registered space, built-in first."""
    return tuple(_LOADERS)


def register_space(name: str, loader: Callable[[], Space]) -> None:
    """Make ``get_space(name)`` build its :class:`Space` with ``loader`` (called once, on first use)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a space name must be a non-empty string, got {name!r}")
    _LOADERS[name] = loader
    _CACHE.pop(name, None)


def unregister_space(name: str) -> None:
    """Remove a space added with :func:`register_space` (built-in spaces stay)."""
    if name in _BUILTIN:
        raise ValueError(f"cannot unregister the built-in space {name!r}")
    _LOADERS.pop(name, None)
    _CACHE.pop(name, None)


def check_space(name: str) -> str:
    """``name`` if it is a registered space; ValueError naming the valid ones otherwise."""
    if name not in _LOADERS:
        raise ValueError(f"unknown search space {name!r}; valid: {', '.join(space_names())}")
    return name


def get_space(name: str) -> Space:
    """The :class:`Space` of a registered space, built on first use."""
    check_space(name)
    if name not in _CACHE:
        _CACHE[name] = _LOADERS[name]()
    return _CACHE[name]


__all__ = ["HASH_BUCKETS", "Space", "TableValues", "check_space", "get_space", "register_space", "space_names",
           "unregister_space"]
