"""Hyper-parameter sweeps of L2NAS: a grid x seeds, vmapped, summarized like ``compare``.

Numeric hyper-parameters that only enter the computation as values (learning
rates, tau, noise, epsilon end points) are swept *inside* one compiled program
(a ``vmap`` over grid points around the ``vmap`` over seeds); the others (widths,
batch size, schedule lengths) change shapes or static schedules and get one
compiled program per value.  Every grid point uses the same seed keys.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io

#: L2NASConfig fields that can be traced (vmapped) rather than recompiled.
TRACEABLE = ("actor_lr", "critic_lr", "tau", "action_noise", "eps_start", "eps_end")
FILES = ("sweep.md", "sweep.json", "best_so_far.png")


def _label(values: Mapping[str, Any]) -> str:
    return "l2nas[" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()) + "]"


def _with_values(cfg: Any, values: Mapping[str, Any]) -> Any:
    """A copy of ``cfg`` with (possibly traced) values set, skipping validation (done on concrete values)."""
    out = copy.copy(cfg)
    for k, v in values.items():
        object.__setattr__(out, k, v)
    return out


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
):
    """Run L2NAS for every grid point x seed; returns a ``compare.ComparisonResult`` (one row per point)."""
    import jax

    from l2nas_jax.wrappers import repeats
    from l2nas_jax.agent.search import L2NASConfig, make_l2nas
    from l2nas_jax.api import make_result
    from l2nas_jax.experiments.compare import ComparisonResult
    from l2nas_jax.runner import batched_trajectories, check_finite, check_queries, seed_keys, shard_seeds
    from l2nas_jax.searcher import run_searcher

    queries = check_queries(queries)
    base = base or L2NASConfig()
    if not grid:
        raise ValueError("empty grid: give at least one key=v1,v2,... to sweep")
    traced = [k for k in grid if k in TRACEABLE]
    static = [k for k in grid if k not in TRACEABLE]
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    configs = [dataclasses.replace(base, **p) for p in points]  # validates every point up front
    keys = shard_seeds(seed_keys(seed, seeds))
    results = {}
    for static_combo in itertools.product(*(list(dict.fromkeys(grid[k])) for k in static)):
        fixed = dict(zip(static, static_combo))
        group = [i for i, p in enumerate(points) if all(p[k] == v for k, v in fixed.items())]
        cfg_static = dataclasses.replace(base, **fixed)
        hp = {k: np.asarray([points[i][k] for i in group], np.float32) for k in traced}

        def run_one(values, key, cfg_static=cfg_static):
            searcher = make_l2nas(env, _with_values(cfg_static, values), queries)
            if free_repeats:
                searcher = repeats.free_repeats(searcher, env)
            return run_searcher(searcher, key, queries)[1]

        run_seeds = jax.vmap(run_one, in_axes=(None, 0))
        if traced:
            out = jax.jit(jax.vmap(run_seeds, in_axes=(0, None)))(hp, keys)
        else:
            out = jax.tree.map(lambda x: x[None], jax.jit(functools.partial(run_seeds, {}))(keys))
        # [points, seeds, queries, ...] -> one batch of runs for the shared trajectory code, then back.
        flat = lambda x: x.reshape(-1, *x.shape[2:])  # noqa: E731
        check_finite(np.asarray(flat(out.observed)))
        trajs = jax.tree.map(np.asarray, batched_trajectories(env, flat(out.arch), flat(out.observed)))
        for j, i in enumerate(group):
            traj = jax.tree.map(lambda x: x[j * seeds:(j + 1) * seeds], trajs)
            results[_label(points[i])] = make_result(env, "l2nas", configs[i], traj, seed=seed,
                                                     meta={"free_repeats": free_repeats})
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
