"""Expose every CPU core as a JAX device, so seed sweeps shard across cores.

XLA's CPU backend runs one small batched matmul on few threads; splitting the
seed axis over one device per core runs the seeds' programs side by side
(measured ~2x on 2 cores, see benchmarks/nb201_speed.py).  Must run before JAX
initializes its backends; a no-op if the user set the flag already.
"""

from __future__ import annotations

import os

_FLAG = "--xla_force_host_platform_device_count"


def use_all_cpu_cores() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if _FLAG in flags:
        return
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n > 1:
        os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={n}".strip()
