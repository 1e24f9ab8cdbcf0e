"""l2nas-jax: L2NAS neural architecture search in JAX, built for speed.

Public API::

    import l2nas_jax
    result = l2nas_jax.search("nb201", "cifar10", queries=1000, seeds=16)
    print(result.table())
"""

from l2nas_jax.api import build_env, run_method, search
from l2nas_jax.envs import make_env
from l2nas_jax.results import SearchResult
from l2nas_jax.searcher import Searcher, StepOutput

__version__ = "0.1.0"

__all__ = ["Searcher", "SearchResult", "StepOutput", "build_env", "make_env", "run_method", "search"]
