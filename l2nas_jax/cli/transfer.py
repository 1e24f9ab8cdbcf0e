"""``l2nas transfer``: pre-train on one dataset, continue on another, compare with a search from scratch."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from l2nas_jax import methods
from l2nas_jax.cli.common import (DATASETS, SPACES, CLIError, RunOutputs, add_table_args, announce_duration, method_overrides,
                                  parse_budgets, prepare_out_dir, progress_bar, table_kwargs)
from l2nas_jax.experiments.compare import clip_budgets
from l2nas_jax.experiments.transfer import (DEFAULT_TRANSFER_BUDGETS, FILES, SCRATCH, TRANSFER, TRANSFER_EPS_START,
                                            TRANSFER_REPLAY, check_budget, check_pair, run_source, transfer)


def add_transfer_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``transfer`` on the CLI's subparsers (``func``: :func:`cmd_transfer`)."""

    p = subparsers.add_parser(
        "transfer",
        help="pre-train L2NAS on one dataset, continue on another; compare with a search from scratch",
        description="Run L2NAS on --from for --queries-from queries (free pre-training), carry the agent "
                    "(and with --carry-replay its replay buffer) over to --to and search it for --queries-to "
                    "queries; compare with L2NAS from scratch on --to at the same budget and seeds. Prints a "
                    f"table and writes {', '.join(FILES)} to --out.",
    )
    p.add_argument("--space", default="nb201", help=f"search space: {', '.join(SPACES)} (default nb201)")
    p.add_argument("--from", dest="from_dataset", default="cifar10",
                   help=f"source dataset: {', '.join(DATASETS)} (default cifar10)")
    p.add_argument("--to", dest="to_dataset", default="cifar100",
                   help="target dataset, different from --from (default cifar100)")
    p.add_argument("--queries-from", type=int, default=500, help="source queries, not counted (default 500)")
    p.add_argument("--queries-to", type=int, default=100, help="target queries, the compared budget (default 100)")
    p.add_argument("--seeds", type=int, default=20, help="independent runs, vmapped (default 20)")
    p.add_argument("--seed", type=int, default=0, help="base seed; run i uses split(key(seed), seeds)[i]")
    p.add_argument("--carry-replay", action="store_true",
                   help="also run 'transfer+replay': the source replay buffer is carried over too")
    p.add_argument("--target-eps-start", type=float, default=TRANSFER_EPS_START,
                   help=f"epsilon at the first target query of a transferred agent (default {TRANSFER_EPS_START:g})")
    p.add_argument("--budgets", default=",".join(map(str, DEFAULT_TRANSFER_BUDGETS)),
                   help="comma-separated target budgets of the table, clipped to --queries-to "
                        f"(default {','.join(map(str, DEFAULT_TRANSFER_BUDGETS))})")
    p.add_argument("--table", default=None,
                   help="NB201 table: .csv, .npz, or the official .pth (default: embedded); with --space table, a "
                        "table file of your own with both datasets' columns (e.g. --search-metric '{dataset}_acc')")
    p.add_argument("--to-table", default=None, metavar="FILE",
                   help="the target's table file (default: --table): the same space (decisions and choices) "
                        "trained with another recipe or measured on another device; --from and --to may then be "
                        "the same dataset")
    p.add_argument("--noise-sigma", type=float, default=0.0, help="Gaussian noise (accuracy points) on the search metric")
    add_table_args(p)
    p.add_argument("--config", default=None, help="JSON file of L2NAS config overrides (both phases)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one L2NAS config value")
    p.add_argument("--out", default="runs/transfer", help="output directory (default runs/transfer)")
    p.add_argument("--overwrite", action="store_true", help="replace results in a non-empty --out directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_transfer)
    return p


def cmd_transfer(args: argparse.Namespace) -> int:
    """``l2nas transfer``: validate everything (and refuse a non-empty --out) before running; print; write."""
    from l2nas_jax.api import build_env, check_memory, estimate_seconds
    from l2nas_jax.runner import progress_chunk

    q_from = check_budget("--queries-from", args.queries_from)
    q_to = check_budget("--queries-to", args.queries_to)
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    if not 0.0 <= args.target_eps_start <= 1.0:
        raise CLIError(f"--target-eps-start must be in [0, 1], got {args.target_eps_start}")
    budgets = clip_budgets(parse_budgets(args.budgets), q_to)
    config = methods.make_config("l2nas", method_overrides("l2nas", args.config, args.set))
    try:
        env_from = build_env(args.space, args.from_dataset, table=args.table, noise_sigma=args.noise_sigma,
                             **table_kwargs(args))
        to_table = args.table if args.to_table is None else args.to_table
        env_to = build_env(args.space, args.to_dataset, table=to_table, noise_sigma=args.noise_sigma,
                           **table_kwargs(args))
    except OSError as e:
        raise CLIError(f"cannot load the table: {e}") from None
    check_pair(env_from, env_to)
    # the source phase, then each target variant; a carried replay buffer holds both phases' samples
    check_memory(env_to, "l2nas", args.seeds, q_from + q_to)
    announce_duration(3 * estimate_seconds("l2nas", args.seeds, q_from + q_to))  # source, transfer, scratch
    out = prepare_out_dir(args.out, args.overwrite, FILES)
    phases = ["source", SCRATCH, TRANSFER] + ([TRANSFER_REPLAY] if args.carry_replay else [])
    offsets = {ph: (0 if i == 0 else q_from + (i - 1) * q_to) for i, ph in enumerate(phases)}
    bar, update = progress_bar(q_from + q_to * (len(phases) - 1),
                               f"transfer {env_from.dataset}->{env_to.dataset} x{args.seeds}", not args.no_progress)
    chunk_from, chunk_to = progress_chunk(q_from), progress_chunk(q_to)
    with RunOutputs(out) as outputs:
        with bar:
            src = run_source(env_from, config, q_from, _keys(args.seed, args.seeds), seed=args.seed,
                             chunk=chunk_from, progress=lambda n: update(n))
            result = transfer(env_from, env_to, queries_from=q_from, queries_to=q_to, seeds=args.seeds,
                              seed=args.seed, config=config, carry_replay=args.carry_replay,
                              target_eps_start=args.target_eps_start, budgets=budgets, chunk=chunk_to, source=src,
                              progress=lambda ph, n: update(offsets[ph] + n))
            result = dataclasses.replace(result, tables=(args.table, to_table))
        print(result.table())
        paths = result.save(out)
        outputs.complete()
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _keys(seed: int, seeds: int) -> Any:
    from l2nas_jax.runner import seed_keys

    return seed_keys(seed, seeds)
