"""``l2nas sweep``: an L2NAS hyper-parameter grid x seeds in one vmapped program per static group."""

from __future__ import annotations

import argparse
import dataclasses
import functools
from typing import Any, Sequence

import numpy as np

from l2nas_jax.cli.common import (CLIError, RunOutputs, add_common_args, announce_duration, coerce_value,
                                  parse_assignment, parse_budgets, prepare_out_dir, table_kwargs)
from l2nas_jax.experiments.compare import clip_budgets
from l2nas_jax.experiments.sweep import FILES, save_sweep, sweep


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["tau=0.8,0.9", "batch_size=32,64"]`` -> typed value lists (unknown keys and bad values raise)."""
    from l2nas_jax.agent.search import L2NASConfig


    defaults = {f.name: f.default for f in dataclasses.fields(L2NASConfig)}
    grid: dict[str, list[Any]] = {}
    for item in items:
        k, vals = parse_assignment(item, "--grid", defaults, "l2nas")
        parts = [v for v in vals.split(";" if isinstance(defaults[k], tuple) else ",") if v]
        if not parts:
            raise ValueError(f"--grid {k}: no values")
        grid[k] = [coerce_value(p, defaults[k], f"--grid {k}") for p in parts]
    return grid


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:

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
    from l2nas_jax.api import build_env, check_memory, estimate_seconds
    from l2nas_jax.report.plots import preload as preload_plots

    grid = parse_grid(args.grid)
    if not grid:
        raise CLIError("give at least one --grid KEY=V1,V2")
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    budgets = clip_budgets(parse_budgets(args.budgets), args.queries)
    if args.reevaluate:
        raise CLIError("--reevaluate is not supported by sweep (use compare or search)")
    env = build_env(args.space, args.dataset, table=args.table, noise_sigma=args.noise_sigma,
                    noise_model=args.noise_model, **table_kwargs(args))
    n_points = int(np.prod([len(v) for v in grid.values()]))
    check_memory(env, "l2nas", args.seeds * n_points, args.queries)  # every grid point's seeds run at once
    announce_duration(estimate_seconds("l2nas", args.seeds * n_points, args.queries))
    out = prepare_out_dir(args.out, args.overwrite, FILES)
    print(f"sweeping {n_points} grid point(s) x {args.seeds} seeds x {args.queries} queries", flush=True)
    preload_plots()  # matplotlib's import overlaps the search
    with RunOutputs(out) as outputs:
        result = sweep(env, grid, queries=args.queries, seeds=args.seeds, seed=args.seed, budgets=budgets,
                       progress=None if args.no_progress else functools.partial(_report, n=n_points),
                       free_repeats=args.free_repeats, incumbent=args.incumbent)
        print(result.table())
        paths = save_sweep(result, out)
        outputs.complete()
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _report(done: int, total: int, n: int) -> None:
    print(f"  {done}/{n} grid points done", flush=True)
