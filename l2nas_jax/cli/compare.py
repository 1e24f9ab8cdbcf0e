"""``l2nas compare``: several methods, same environment, same seeds; a table and plots."""

from __future__ import annotations

import argparse
from typing import Any

from l2nas_jax.cli.common import (CLIError, RunOutputs, add_common_args, announce_duration, parse_budgets, parse_list,
                                  prepare_out_dir, progress_bar, table_kwargs)
from l2nas_jax.experiments.compare import (DEFAULT_BUDGETS, DEFAULT_METHODS, FILES, check_methods, clip_budgets,
                                           compare)


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``compare`` on the CLI's subparsers (same common flags as ``search``; ``func``: :func:`cmd_compare`)."""

    p = subparsers.add_parser(
        "compare",
        help="run several methods on the same environment and seeds, and tabulate them",
        description="Run several search methods with the same seeds on one environment; print a table "
                    "(mean +- std of the best reported accuracy at each budget, runs that reached the optimum, "
                    f"repeats) and write {', '.join(FILES)} to --out.",
    )
    add_common_args(p)
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help=f"comma-separated methods (default {','.join(DEFAULT_METHODS)})")
    p.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)),
                   help=f"comma-separated query budgets of the table, clipped to --queries "
                        f"(default {','.join(map(str, DEFAULT_BUDGETS))})")
    p.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")
    p.set_defaults(func=cmd_compare)
    return p


def cmd_compare(args: argparse.Namespace) -> int:
    """``l2nas compare``: validate everything (and refuse a non-empty --out) before running; print; write."""
    from l2nas_jax.api import build_env, check_memory, estimate_seconds
    from l2nas_jax.runner import check_queries, progress_chunk
    from l2nas_jax.report.plots import preload as preload_plots

    names = check_methods(parse_list(args.methods, "method"))
    queries = check_queries(args.queries)
    budgets = clip_budgets(parse_budgets(args.budgets), queries)
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    try:
        env = build_env(args.space, args.dataset, table=args.table, noise_sigma=args.noise_sigma,
                        noise_model=args.noise_model, **table_kwargs(args))
    except OSError as e:
        raise CLIError(f"cannot load the table: {e}") from None
    for name in names:  # each method's run on its own (run_method checks again); before --out is touched
        check_memory(env, name, args.seeds, queries)
    announce_duration(sum(estimate_seconds(name, args.seeds, queries) for name in names))
    out = prepare_out_dir(args.out, args.overwrite, FILES)
    bar, update = progress_bar(queries * len(names), f"{','.join(names)} {args.dataset} x{args.seeds}",
                                not args.no_progress)

    def progress(method: str, done: int) -> None:
        update(names.index(method) * queries + done)

    preload_plots()  # matplotlib's import overlaps the search
    with RunOutputs(out) as outputs:
        with bar:
            result = compare(env, names, queries=queries, seeds=args.seeds, seed=args.seed, budgets=budgets,
                             chunk=progress_chunk(queries), progress=progress, free_repeats=args.free_repeats,
                             incumbent=args.incumbent, reevaluate=args.reevaluate)
        print(result.table())
        paths = result.save(out)
        outputs.complete()
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
