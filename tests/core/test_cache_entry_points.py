"""The persistent compilation cache is on for every entry point, not only the package's lazy exports."""

import os
import subprocess
import sys

from l2nas_jax.core import compile_cache


def test_a_search_through_a_submodule_uses_the_cache_too(tmp_path):
    """`from l2nas_jax.api import search` (as the notebooks import it) writes its programs to the cache."""
    code = "from l2nas_jax.api import search\nsearch('nb201', 'cifar10', queries=5, seeds=1, method='random')\n"
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    proc = subprocess.run([sys.executable, "-c", code], env={**env, compile_cache.ENV_VAR: str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.glob(f"*{compile_cache.SUFFIX}"))
