"""l2nas-jax: L2NAS neural architecture search in JAX, built for speed.

Public API::

    import l2nas_jax
    result = l2nas_jax.search("nb201", "cifar10", queries=1000, seeds=16)
    print(result.table())

Names are imported lazily, so ``import l2nas_jax`` (and the CLI's ``--help``) does
not start JAX; the CLI uses this to configure CPU devices before JAX loads.  The first
use of one of them turns on the persistent compilation cache
(:mod:`l2nas_jax.core.compile_cache`; ``L2NAS_COMPILE_CACHE=off`` or a directory) and the
faster-compiling threefry lowering on CPU (:mod:`l2nas_jax.core.threefry`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The public surface, one name a line: searching, experiments, spaces, and the protocols to extend.
_EXPORTS = {
    # search
    "search": "l2nas_jax.api",
    "run_method": "l2nas_jax.api",
    "run_spec": "l2nas_jax.api",
    "build_env": "l2nas_jax.api",
    "RunSpec": "l2nas_jax.runspec",
    "SearchResult": "l2nas_jax.results",
    # experiments
    "compare": "l2nas_jax.experiments.compare",
    "sweep": "l2nas_jax.experiments.sweep",
    "transfer": "l2nas_jax.experiments.transfer",
    # spaces and evaluators
    "Space": "l2nas_jax.spaces",
    "get_space": "l2nas_jax.spaces",
    "register_space": "l2nas_jax.spaces",
    "space_names": "l2nas_jax.spaces",
    "register_table_space": "l2nas_jax.spaces.table",
    "make_env": "l2nas_jax.envs",
    "Environment": "l2nas_jax.envs.base",
    # methods
    "Searcher": "l2nas_jax.searcher",
    "StepOutput": "l2nas_jax.searcher",
    "L2NASConfig": "l2nas_jax.agent.search",
    "method_names": "l2nas_jax.methods",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from l2nas_jax.core.compile_cache import ensure_enabled
        from l2nas_jax.core.threefry import unroll_on_cpu

        unroll_on_cpu()
        ensure_enabled()
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'l2nas_jax' has no attribute {name!r}")
