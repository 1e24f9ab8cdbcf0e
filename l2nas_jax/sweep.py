"""Hyper-parameter sweeps of L2NAS: a grid x seeds, vmapped, summarized like ``compare``.

Numeric hyper-parameters that only enter the computation as values (learning
rates, tau, noise, epsilon end points) are swept *inside* one compiled program
(a ``vmap`` over grid points around the ``vmap`` over seeds); the others (widths,
batch size, schedule lengths) change shapes or static schedules and get one
compiled program per value.  Every grid point uses the same seed keys.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import itertools
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from l2nas_jax import io

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


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["tau=0.8,0.9", "batch_size=32,64"]`` -> typed value lists (unknown keys and bad values raise)."""
    from l2nas_jax.agent.search import L2NASConfig

    from l2nas_jax.cli import coerce_value, parse_assignment

    defaults = {f.name: f.default for f in dataclasses.fields(L2NASConfig)}
    grid: dict[str, list[Any]] = {}
    for item in items:
        k, vals = parse_assignment(item, "--grid", defaults, "l2nas")
        parts = [v for v in vals.split(";" if isinstance(defaults[k], tuple) else ",") if v]
        if not parts:
            raise ValueError(f"--grid {k}: no values")
        grid[k] = [coerce_value(p, defaults[k], f"--grid {k}") for p in parts]
    return grid


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

    from l2nas_jax import repeats
    from l2nas_jax.agent.search import L2NASConfig, make_l2nas
    from l2nas_jax.api import make_result
    from l2nas_jax.compare import ComparisonResult
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
    from l2nas_jax.plotting import save_curves_png

    out = Path(out_dir)
    paths = {name: out / name for name in FILES}
    io.write_text(paths["sweep.md"], result.to_markdown())
    io.write_json(paths["sweep.json"], {**result.to_json(curves=False), "kind": "l2nas-sweep"})
    save_curves_png(result.results, paths["best_so_far.png"])
    return paths


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    from l2nas_jax.cli import add_common_args

    p = subparsers.add_parser("sweep", help="sweep L2NAS hyper-parameters on a grid, vmapped",
                              description=__doc__.splitlines()[0])
    add_common_args(p)
    p.set_defaults(queries=500, seeds=10)
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a hyper-parameter and its values (repeatable; tuples separated by ';')")
    p.add_argument("--budgets", default="50,100,200,500", help="budgets of the table (default 50,100,200,500)")
    p.add_argument("--out", default="runs/sweep", help="output directory (default runs/sweep)")
    p.set_defaults(func=cmd_sweep)
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    from l2nas_jax.api import build_env
    from l2nas_jax.cli import CLIError, prepare_out_dir
    from l2nas_jax.compare import clip_budgets, parse_budgets

    grid = parse_grid(args.grid)
    if not grid:
        raise CLIError("give at least one --grid KEY=V1,V2")
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    budgets = clip_budgets(parse_budgets(args.budgets), args.queries)
    env = build_env(args.space, args.dataset, table=args.table, noise_sigma=args.noise_sigma)
    out = prepare_out_dir(args.out, args.overwrite, FILES)
    n_points = int(np.prod([len(v) for v in grid.values()]))
    print(f"sweeping {n_points} grid point(s) x {args.seeds} seeds x {args.queries} queries", flush=True)
    result = sweep(env, grid, queries=args.queries, seeds=args.seeds, seed=args.seed, budgets=budgets,
                   progress=None if args.no_progress else functools.partial(_report, n=n_points),
                   free_repeats=args.free_repeats)
    print(result.table())
    paths = save_sweep(result, out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _report(done: int, total: int, n: int) -> None:
    print(f"  {done}/{n} grid points done", flush=True)
