"""Threefry on CPU as straight-line code: the same random bits, compiled about twice as fast.

JAX lowers its threefry2x32 hash on CPU as a rolled loop (5 iterations of 4 rounds) to keep
programs small; on other backends it emits the rounds unrolled.  A search draws random numbers
a dozen times per query, so its compiled step holds some 20 such ``while`` loops, and XLA's CPU
compiler spends most of a search's compile time on them (measured: the default L2NAS program
compiles in 8 s instead of 15 s unrolled, `benchmarks/cli_latency.py`).  The hash is integer
arithmetic, so both lowerings give the same bits (tested: every golden result is unchanged).

:func:`unroll_on_cpu` registers JAX's own unrolled lowering for CPU.  It reaches into JAX's
private modules; where they differ (another JAX version) it does nothing and JAX's default stays.
Set ``L2NAS_ROLLED_THREEFRY=1`` to keep JAX's default.

:func:`rolled` restores the rolled lowering for one block: a parameter initialisation is mostly
draws, one after another, and compiles several times faster rolled (DARTS search supernet: 26 s
rolled, 162 s unrolled).
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Iterator

ENV_VAR = "L2NAS_ROLLED_THREEFRY"


@functools.cache
def unroll_on_cpu() -> bool:
    """Use the unrolled threefry lowering on CPU for programs lowered from now on; True if it is in use.

    Idempotent and cheap; call it before the first compilation of a process (programs already
    compiled keep their lowering, with identical results).
    """
    if os.environ.get(ENV_VAR, "").strip() in ("1", "true", "yes"):
        return False
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as tf

        mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_lowering_rule, platform="cpu")
    except (ImportError, AttributeError, TypeError):  # another JAX layout: keep its default lowering
        return False
    return True


@contextlib.contextmanager
def rolled() -> Iterator[None]:
    """Programs lowered inside the block use JAX's rolled CPU lowering (same bits); the unrolled one after it."""
    if not unroll_on_cpu.cache_info().currsize or not unroll_on_cpu():
        yield
        return
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as tf

    mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_cpu_lowering_rule, platform="cpu")
    try:
        yield
    finally:
        mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_lowering_rule, platform="cpu")
