"""Hyper-parameter sweeps of L2NAS: a grid x seeds, vmapped, summarized like ``compare``.

Numeric hyper-parameters that only enter the computation as values (the agent's
:data:`~l2nas_jax.agent.hyperparams.TRACEABLE`: learning rates, tau, noise, epsilon
end points) are swept *inside* one compiled program: a ``vmap`` over grid points of
a traced :class:`~l2nas_jax.agent.hyperparams.HyperParams`, around the ``vmap`` over
seeds.  The others (widths, batch size, schedule lengths) change shapes or static
schedules and get one compiled program per value.  Every grid point uses the same
seed keys.  The compiled programs are cached: another sweep on the same environment
object with the same static config and grid size compiles nothing.
Importing this module does not import JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io

FILES = ("sweep.md", "sweep.json", "best_so_far.png")


def _label(values: Mapping[str, Any]) -> str:
    return "l2nas[" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()) + "]"


class _ByIdentity:
    """Hashes and compares by the wrapped object's identity: an environment as a static ``jit`` argument.

    The environment stays closed over (its tables compiled in as constants, exactly as in a
    single run), and the compilation is reused for the same environment object.
    """

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByIdentity) and other.obj is self.obj


def _grid_outputs(values: Mapping[str, Any], keys: Any, *, env: _ByIdentity, config: Any, queries: int,
                  free_repeats: bool) -> Any:
    """Step outputs ``[points, seeds, queries, ...]``: L2NAS with ``config`` and each point's traced ``values``."""
    import jax

    from l2nas_jax.agent import hyperparams_of, make_l2nas, with_values
    from l2nas_jax.searcher import run_searcher
    from l2nas_jax.wrappers import repeats

    def run_one(vals: Mapping[str, Any], key: Any) -> Any:
        def build(e: Any) -> Any:
            return make_l2nas(e, config, queries, hparams=with_values(hyperparams_of(config), vals))

        searcher = repeats.free_repeats(build, env.obj) if free_repeats else build(env.obj)
        return run_searcher(searcher, key, queries)[1]

    run_seeds = jax.vmap(run_one, in_axes=(None, 0))
    if not values:  # nothing traced: one point
        return jax.tree.map(lambda x: x[None], run_seeds({}, keys))
    return jax.vmap(run_seeds, in_axes=(0, None))(values, keys)


@functools.cache
def _grid_program() -> Callable[..., Any]:
    """:func:`_grid_outputs` jitted once per process, so its compilations are cached across sweeps."""
    import jax

    return jax.jit(_grid_outputs, static_argnames=("env", "config", "queries", "free_repeats"))


def sweep(
    env: Any,
    grid: Mapping[str, Sequence[Any]],
    *,
    queries: int = 500,
    seeds: int = 10,
    seed: int = 0,
    base: Any = None,
    budgets: Sequence[int] = (50, 100, 200, 500, 1000),
    progress: Any = None,
    free_repeats: bool = False,
    incumbent: str = "denoised",
):
    """Run L2NAS for every grid point x seed; returns a ``compare.ComparisonResult`` (one row per point)."""
    import jax

    from l2nas_jax.agent import TRACEABLE, L2NASConfig
    from l2nas_jax.api import make_result
    from l2nas_jax.experiments.compare import ComparisonResult
    from l2nas_jax.runner import batched_trajectories, check_finite, check_queries, seed_keys, shard_seeds

    queries = check_queries(queries)
    base = base or L2NASConfig()
    if not grid:
        raise ValueError("empty grid: give at least one key=v1,v2,... to sweep")
    traced = [k for k in grid if k in TRACEABLE]
    static = [k for k in grid if k not in TRACEABLE]
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    configs = [dataclasses.replace(base, **p) for p in points]  # validates every point up front
    keys = shard_seeds(seed_keys(seed, seeds))
    program = _grid_program()
    # The swept fields' config values are never read (the traced ones replace them): fix them to the
    # defaults, so the static config -- and with it the compilation -- does not depend on them.
    unread = {f.name: f.default for f in dataclasses.fields(L2NASConfig) if f.name in traced}
    results = {}
    for static_combo in itertools.product(*(list(dict.fromkeys(grid[k])) for k in static)):
        fixed = dict(zip(static, static_combo))
        group = [i for i, p in enumerate(points) if all(p[k] == v for k, v in fixed.items())]
        hp = {k: np.asarray([points[i][k] for i in group], np.float32) for k in traced}
        static_cfg = dataclasses.replace(base, **fixed, **unread)
        out = program(hp, keys, env=_ByIdentity(env), config=static_cfg, queries=queries, free_repeats=free_repeats)
        # [points, seeds, queries, ...] -> one batch of runs for the shared trajectory code, then back.
        flat = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
        check_finite(np.asarray(flat(out.observed)))
        trajs = jax.tree.map(np.asarray, batched_trajectories(env, flat(out.arch), flat(out.observed),
                                                              incumbent=incumbent))
        for j, i in enumerate(group):
            traj = jax.tree.map(lambda x: x[j * seeds:(j + 1) * seeds], trajs)
            results[_label(points[i])] = make_result(env, "l2nas", configs[i], traj, seed=seed,
                                                     meta={"free_repeats": free_repeats, "incumbent": incumbent})
        if progress is not None:
            progress(len(results), len(points))
    return ComparisonResult.build(results, budgets)


def save_sweep(result: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write ``sweep.md``, ``sweep.json`` and ``best_so_far.png`` atomically."""
    from l2nas_jax.report.plots import save_curves_png

    out = Path(out_dir)
    paths = {name: out / name for name in FILES}
    io.write_text(paths["sweep.md"], result.to_markdown())
    io.write_json(paths["sweep.json"], {**result.to_json(curves=False), "kind": "l2nas-sweep"})
    save_curves_png(result.results, paths["best_so_far.png"])
    return paths
