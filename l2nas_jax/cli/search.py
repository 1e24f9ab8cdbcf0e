"""``l2nas search``: one method on one environment, many seeds at once; resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from l2nas_jax.cli.common import CLIError, add_common_args, method_overrides, prepare_out_dir, progress_bar


def add_search_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``search`` on the CLI's subparsers."""
    s = sub.add_parser("search", help="search a space with L2NAS (or a baseline), many seeds at once")
    add_common_args(s)
    s.add_argument("--method", default="l2nas", help="l2nas (default), random, rea, reinforce")
    s.add_argument("--out", default="runs/search", help="output directory (default runs/search)")
    s.add_argument("--config", default=None, help="JSON file of method config overrides")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    s.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="save the complete search state to OUT/checkpoint.npz every K queries")
    s.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the checkpointed run in DIR (its saved arguments are used)")
    s.add_argument("--max-params", default=None, metavar="BUDGET",
                   help="only architectures with at most this many parameters (e.g. 0.6M, 300k, 5e5); "
                        "over-budget ones get a penalty and are never returned")
    s.add_argument("--max-macs", default=None, metavar="BUDGET",
                   help="only architectures with at most this many multiply-adds (e.g. 600M, 1.2G)")
    s.add_argument("--pareto", action="store_true",
                   help="multi-objective: each seed trades accuracy against log2(MACs) with its own weight; "
                        "writes the accuracy-vs-MACs front of all queried architectures (pareto.json, pareto.png)")
    s.add_argument("--predictor", default=None, metavar="FILE",
                   help="search a fitted accuracy predictor (l2nas_jax.envs.predictor.save_predictor) instead of "
                        "the space's evaluator")
    s.add_argument("--supernet", default=None, metavar="DIR",
                   help="search a supernet trained by train/supernet.py (reward: the path's held-out accuracy); "
                        "the way to search the darts and ofa spaces")
    s.add_argument("--supernet-images", type=int, default=2048, metavar="N",
                   help="held-out images per supernet evaluation (default 2048)")
    s.add_argument("--data-dir", default=None, help="tensorflow-datasets dir of the supernet's dataset (CIFAR)")
    s.set_defaults(func=cmd_search)
    return s


RUN_FILE, CHECKPOINT_FILE = "run.json", "checkpoint.npz"
_RUN_KEYS = ("space", "dataset", "queries", "seeds", "seed", "table", "noise_sigma", "method", "config", "set",
             "checkpoint_every", "free_repeats", "max_params", "max_macs", "pareto", "predictor", "supernet",
             "supernet_images", "data_dir")


def _resume_args(args: argparse.Namespace) -> argparse.Namespace:
    """Replace the run's arguments by those saved in ``--resume DIR/run.json``."""
    run_file = Path(args.resume) / RUN_FILE
    try:
        saved = json.loads(run_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CLIError(f"cannot resume from {args.resume}: {run_file} unreadable ({e})") from None
    if not (Path(args.resume) / CHECKPOINT_FILE).exists():
        raise CLIError(f"cannot resume from {args.resume}: no {CHECKPOINT_FILE} (the run finished or never saved)")
    return argparse.Namespace(**{**vars(args), **saved, "out": args.resume})


def cmd_search(args: argparse.Namespace) -> int:
    from l2nas_jax import api, methods
    from l2nas_jax.core import io
    from l2nas_jax.report import plots as plotting
    from l2nas_jax.runner import check_queries, progress_chunk

    resuming = args.resume is not None
    if resuming:
        args = _resume_args(args)

    queries = check_queries(args.queries)
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    config = methods.make_config(args.method, method_overrides(args.method, args.config, args.set))
    from l2nas_jax.envs.constrained import parse_budget

    max_params, max_macs = getattr(args, "max_params", None), getattr(args, "max_macs", None)
    pareto, predictor = getattr(args, "pareto", False), getattr(args, "predictor", None)
    parse_budget(max_params, "--max-params")
    parse_budget(max_macs, "--max-macs")
    if pareto and (max_params or max_macs):
        raise CLIError("--pareto cannot be combined with --max-params/--max-macs: the front already shows the "
                       "best accuracy found at every cost")
    env = api.build_env(args.space, args.dataset, table=args.table, noise_sigma=args.noise_sigma,
                        max_params=max_params, max_macs=max_macs, predictor=predictor,
                        supernet=getattr(args, "supernet", None), supernet_images=getattr(args, "supernet_images", 2048),
                        data_dir=getattr(args, "data_dir", None))
    files = ("results.json", "best_so_far.png") + (("pareto.json", "pareto.png") if pareto else ())
    out = Path(args.out) if resuming else prepare_out_dir(args.out, args.overwrite, files)
    checkpoint = None
    if args.checkpoint_every:
        if args.checkpoint_every < 1:
            raise CLIError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
        checkpoint = out / CHECKPOINT_FILE
        if not resuming:
            io.write_json(out / RUN_FILE, {k: getattr(args, k) for k in _RUN_KEYS})
    if predictor:
        print(f"note: searching the accuracy predictor {predictor}: every accuracy below is a prediction, "
              f"not a measurement.", file=sys.stderr)
    elif getattr(args, "supernet", None):
        print(f"note: reward = the path's accuracy on {env.search_split} images of the supernet's training set; "
              f"reported = accuracy on {env.report_split} images (weight-sharing estimates, not stand-alone "
              f"accuracies: train the result with train/evaluate.py).", file=sys.stderr)
    elif env.search_split == env.report_split:
        print(f"note: this table has only {env.report_split} accuracy, so the search optimizes the metric it "
              f"reports; use the official NAS-Bench-201 file (--table) to search on validation accuracy.",
              file=sys.stderr)
    bar, update = progress_bar(queries, f"{args.method} {args.dataset} x{args.seeds}", not args.no_progress)
    with bar:
        result = api.run_method(env, args.method, queries=queries, seeds=args.seeds, seed=args.seed,
                                config=config, progress=update, checkpoint=checkpoint, resume=resuming,
                                free_repeats=args.free_repeats, pareto=pareto,
                                chunk=args.checkpoint_every or progress_chunk(queries))
    if getattr(args, "supernet", None):
        result.meta["supernet"] = str(args.supernet)
    print(result.table())
    result.save_json(out / files[0])
    plotting.save_curves_png({args.method: result}, out / files[1])
    if pareto:
        from l2nas_jax.report.pareto import pareto_table, write_pareto

        print(pareto_table(write_pareto(env, result, out / files[2], out / files[3])))
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the results are complete; nothing left to resume
    print(f"wrote {', '.join(str(out / f) for f in files)} ({result.meta['wall_s']:.1f} s)")
    return 0
