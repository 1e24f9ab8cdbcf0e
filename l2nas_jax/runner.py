"""Run a searcher for many seeds at once: one compiled program per chunk of queries.

The seeds are a ``vmap`` over the whole run; the queries are a ``lax.scan``.  With
``chunk=None`` the run is a single compiled call; a chunk size splits the scan so
a host loop can show progress and save checkpoints between chunks -- the numbers
are the same either way (tested bit for bit).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable

import chex
import jax
import numpy as np

from l2nas_jax.core import compile_cache, validate
from l2nas_jax.core.threefry import unroll_on_cpu
from l2nas_jax.envs.base import Environment
from l2nas_jax.searcher import Searcher, StepOutput, scan_steps
from l2nas_jax.trajectory import IncumbentRule, Trajectory, make_trajectory


#: The query index is an int32 inside the compiled search.
MAX_QUERIES = 2**31 - 1


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """The per-run keys of a sweep: run ``i`` uses ``split(key(seed), num_seeds)[i]``."""
    if num_seeds < 1:
        raise ValueError(f"number of seeds must be >= 1, got {num_seeds}")
    return jax.random.split(jax.random.key(seed), num_seeds)


def check_queries(queries: int) -> int:
    """``queries`` as a positive ``int`` that fits the int32 query index of the compiled search."""
    return validate.positive_int("queries", queries, hi=MAX_QUERIES)


#: 4-byte values kept per seed and query besides the architecture (observation, method metrics, trajectory).
PER_QUERY_VALUES = 8


def run_memory_bytes(seeds: int, queries: int, arch_size: int, *, replay_rows: int = 0, alpha_size: int = 0) -> int:
    """A lower estimate of the memory a batched run needs: every query's outputs (the architecture and
    :data:`PER_QUERY_VALUES` more) for every seed, plus ``replay_rows`` (action, reward) rows of
    ``alpha_size + 1`` values per seed (L2NAS's replay buffer); all 4-byte values.  Pure arithmetic."""
    outputs = int(seeds) * int(queries) * (int(arch_size) + PER_QUERY_VALUES)
    replay = int(seeds) * int(replay_rows) * (int(alpha_size) + 1)
    return 4 * (outputs + replay)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable, else free pages); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_run_memory(seeds: int, queries: int, arch_size: int, *, replay_rows: int = 0, alpha_size: int = 0,
                     available: int | None = None) -> None:
    """Refuse, before anything is compiled or allocated, a run whose :func:`run_memory_bytes` exceeds the
    ``available`` memory (default: :func:`available_memory`; no check where that is unknown)."""
    need = run_memory_bytes(seeds, queries, arch_size, replay_rows=replay_rows, alpha_size=alpha_size)
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise ValueError(f"{seeds} seeds x {queries} queries need about {need / 2**30:,.1f} GiB of memory, more than "
                         f"the {available / 2**30:,.1f} GiB available: pass fewer --seeds (run the rest with another "
                         f"--seed) or fewer --queries")


#: Rough wall time of a search on the reference machine (the project's 2-core CPU, default configs,
#: benchmarks/results/nb201_speed.json): compiling the search, then seconds per seed and query.
COMPILE_SECONDS = 7.0
STEP_SECONDS = 1.7e-4  # L2NAS's default config in a 16-seed batch (0.17 s per 1000-query seed)
#: A baseline's step relative to L2NAS's default (no network updates: sampling, sorting, table lookups).
BASELINE_STEP_FRACTION = 0.1


def estimate_run_seconds(seeds: int, queries: int, step_fraction: float = 1.0) -> float:
    """Rough wall time of a batched run on the reference CPU: compile + seeds x queries x step cost.

    ``step_fraction`` is the method's step cost relative to L2NAS's default config.  Pure arithmetic,
    for a "this will take about N minutes" line before a long run; machines differ by several times.
    """
    return COMPILE_SECONDS + int(seeds) * int(queries) * STEP_SECONDS * float(step_fraction)


class BatchedRun:
    """Compiled init/advance functions of one searcher over a batch of seeds."""

    def __init__(self, searcher: Searcher):
        unroll_on_cpu()  # the same bits, compiled faster (a no-op after the first call)
        # The persistent cache for any entry point (the package's lazy exports turn it on too, submodules did not):
        # a no-op once the CLI, the API or the user configured it.
        compile_cache.ensure_enabled()
        self.searcher = searcher
        self.init = jax.jit(jax.vmap(searcher.init))
        self._advance: dict[int, Callable] = {}

    def _advance_fn(self, length: int) -> Callable:
        if length not in self._advance:
            self._advance[length] = jax.jit(
                jax.vmap(functools.partial(self._scan, length=length), in_axes=(0, None))
            )
        return self._advance[length]

    def advance(self, state: Any, start: int, length: int) -> tuple[Any, StepOutput]:
        # One canonical input sharding, so the state returned by init and by advance hit the same compilation.
        return self._advance_fn(length)(jax.tree.map(shard_seeds, state), np.int32(start))

    def _scan(self, state: Any, start: chex.Array, *, length: int) -> tuple[Any, StepOutput]:
        return scan_steps(self.searcher, state, start, length)


def check_finite(observed: np.ndarray) -> None:
    """Refuse a run whose evaluator returned NaN/inf (a broken table, supernet or predictor)."""
    bad = ~np.isfinite(observed)
    if bad.any():
        seed, query = np.argwhere(bad)[0]
        raise ValueError(f"the evaluator returned a non-finite reward ({observed[seed, query]}) at query {query} "
                         f"of run {seed} ({int(bad.sum())} such queries); check the table or evaluator")


def concat_outputs(outs: list[StepOutput]) -> StepOutput:
    """Join per-chunk outputs along the query axis (axis 1, after the seed axis)."""
    # On the host: joining device arrays with jnp.concatenate would compile one program per output leaf.
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs], axis=1), *outs) if len(outs) > 1 \
        else outs[0]


def abstract_run(searcher: Searcher, keys: jax.Array) -> tuple[Any, StepOutput]:
    """Shapes/dtypes of the batched state and of one query's batched output (for restoring)."""
    br = BatchedRun(searcher)
    state = jax.eval_shape(br.init, keys)
    out = jax.eval_shape(lambda s: br._advance_fn(1)(s, np.int32(0)), state)[1]
    return state, out


def shard_seeds(keys: jax.Array) -> jax.Array:
    """Spread the seed axis over all local devices when it divides evenly (else leave it)."""
    n = jax.local_device_count()
    if n == 1 or keys.shape[0] % n:
        return keys
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("seeds",))
    return jax.device_put(keys, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds")))


def progress_chunk(queries: int, target_chunks: int = 10) -> int:
    """A chunk length that divides ``queries`` (one compiled program) giving ~``target_chunks`` updates."""
    lo, hi = max(1, queries // (5 * target_chunks)), max(1, queries // target_chunks)
    for c in range(hi, lo - 1, -1):
        if queries % c == 0:
            return c
    return -(-queries // target_chunks)


@functools.partial(jax.jit, static_argnames=("incumbent",))
def batched_trajectories(env: Environment, archs: jax.Array, observed: jax.Array,
                         incumbent: IncumbentRule = "denoised") -> Trajectory:
    """:func:`make_trajectory` over a leading run axis (``[runs, queries, ...]``)."""
    return jax.vmap(functools.partial(make_trajectory, incumbent=incumbent), in_axes=(None, 0, 0))(
        env, archs, observed)


def run_batched(
    searcher: Searcher,
    env: Environment,
    keys: jax.Array,
    queries: int,
    *,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_chunk: Callable[[Any, StepOutput, int], None] | None = None,
    resume: tuple[Any, StepOutput, int] | None = None,
    incumbent: IncumbentRule = "denoised",
) -> tuple[Any, Trajectory, dict[str, np.ndarray], dict[str, float]]:
    """Run ``searcher`` from each key for ``queries`` queries.

    Returns the final (batched) searcher state, the trajectories as NumPy arrays
    (``[seeds, queries, ...]``), the stacked method metrics, and wall-clock timings.
    ``progress(n)`` is called after each chunk with the number of queries done;
    ``on_chunk(state, outputs_so_far, n)`` too (for checkpoints); ``resume`` continues
    from such a ``(state, outputs, n)`` -- the result is the same as an uninterrupted run.
    ``incumbent`` is the rule that picks each run's answer (:mod:`l2nas_jax.trajectory`).
    """
    queries = check_queries(queries)
    chunk = queries if chunk is None else max(1, min(int(chunk), queries))
    br = BatchedRun(searcher)
    t0 = time.perf_counter()
    if resume is None:
        state, outs, done = br.init(shard_seeds(keys)), [], 0
    else:
        state, prev, done = resume
        outs = [prev] if done else []
    while done < queries:
        n = min(chunk, queries - done)
        state, out = br.advance(state, done, n)
        outs.append(out)
        done += n
        if on_chunk is not None:
            outs = [concat_outputs(outs)]
            on_chunk(state, outs[0], done)
        if progress is not None:
            jax.block_until_ready(out.observed)
            progress(done)
    out = concat_outputs(outs)
    check_finite(np.asarray(out.observed))
    traj = batched_trajectories(env, out.arch, out.observed, incumbent=incumbent)
    traj = jax.tree.map(np.asarray, jax.block_until_ready(traj))
    metrics = {k: np.asarray(v) for k, v in out.metrics.items()}
    return state, traj, metrics, {"wall_s": time.perf_counter() - t0}
