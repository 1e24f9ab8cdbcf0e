"""Test set-up: two CPU devices, so the seed-sharding path is exercised too; a private compilation cache.

The persistent compilation cache (l2nas_jax.core.compile_cache) of the whole test session, and of
the processes its tests start, is a temporary directory removed at the end: tests never read or
write the user's ~/.cache.  Set L2NAS_COMPILE_CACHE yourself to keep one between sessions (or off).
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("MPLBACKEND", "Agg")
if "L2NAS_COMPILE_CACHE" not in os.environ:
    _session_cache = tempfile.mkdtemp(prefix="l2nas-test-compile-cache-")
    os.environ["L2NAS_COMPILE_CACHE"] = _session_cache
    atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)

import pytest  # noqa: E402

from l2nas_jax.core.threefry import unroll_on_cpu  # noqa: E402

unroll_on_cpu()  # as the CLI and the API do: the same random bits, compiled about twice as fast


@pytest.fixture(autouse=True)
def _session_compile_cache():
    """Every test compiles through the session's persistent cache (shared by the xdist workers and the
    processes tests start), so a program compiled by one test is loaded, not compiled, by the next; a test
    that points the cache elsewhere gets the session's back afterwards."""
    from l2nas_jax.core import compile_cache

    _, wanted = compile_cache.requested_location(None)  # the session's directory, or None for 'off'
    if compile_cache.active_dir() != (wanted.absolute() if wanted else None):
        compile_cache.enable()
    yield


@pytest.fixture(scope="session")
def cifar10_env():
    from l2nas_jax.api import build_env

    return build_env("nb201", "cifar10")
