"""Command line: ``l2nas search``, ``compare``, ``sweep`` and ``transfer``; thin wrappers over the library.

Errors from bad input are printed as one line (``l2nas: error: ...``) with exit
code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from l2nas_jax.cpu import use_all_cpu_cores

SPACES = ("nb201", "darts", "ofa")
DATASETS = ("cifar10", "cifar100", "imagenet16-120")


class CLIError(ValueError):
    """A user-facing error: printed as one line, exit code 2."""


def prepare_out_dir(out: str | Path, overwrite: bool, produced: Sequence[str]) -> Path:
    """Create ``out``; refuse an existing non-empty directory unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CLIError(f"output directory {out} is not empty; pass --overwrite to replace {', '.join(produced)}")
    out.mkdir(parents=True, exist_ok=True)
    return out


def coerce_value(value: str, default: Any, what: str) -> Any:
    """Parse ``value`` to the type of ``default`` (bool, tuple of ints, int, float, str); ``what`` names it in errors."""
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(int(v) for v in value.split(",") if v)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise CLIError(f"{what}={value}: expected a {type(default).__name__}") from None
    return value


def parse_assignment(item: str, flag: str, defaults: dict[str, Any], method: str) -> tuple[str, str]:
    """Split ``key=value`` and check ``key`` is a config field."""
    if "=" not in item:
        raise CLIError(f"{flag} expects key=value, got {item!r}")
    k, v = item.split("=", 1)
    if k not in defaults:
        raise CLIError(f"unknown {method} config key {k!r}; valid: {', '.join(sorted(defaults))}")
    return k, v


def method_overrides(method: str, config_file: str | None, sets: Sequence[str]) -> dict[str, Any]:
    """Config overrides from a JSON file and ``--set key=value`` pairs (unknown keys are errors)."""
    from l2nas_jax import methods

    cls, _ = methods.get_method(method)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    if config_file:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CLIError(f"cannot read config file {config_file}: {e}") from None
        if not isinstance(loaded, dict):
            raise CLIError(f"config file {config_file} must hold a JSON object")
        out.update({k: tuple(v) if isinstance(v, list) else v for k, v in loaded.items()})
    for item in sets:
        k, v = parse_assignment(item, "--set", defaults, method)
        out[k] = coerce_value(v, defaults[k], f"--set {k}")
    unknown = sorted(set(out) - set(defaults))
    if unknown:
        raise CLIError(f"unknown {method} config key(s) {', '.join(unknown)}; valid: {', '.join(sorted(defaults))}")
    return out


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="query", disable=not enabled, file=sys.stderr)
    last = [0]

    def update(done: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    return bar, update


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="nb201", help=f"search space: {', '.join(SPACES)} (default nb201)")
    p.add_argument("--dataset", default="cifar10", help=f"dataset: {', '.join(DATASETS)} (default cifar10)")
    p.add_argument("--queries", type=int, default=1000, help="evaluations per run (default 1000)")
    p.add_argument("--seeds", type=int, default=8, help="independent runs, vmapped (default 8)")
    p.add_argument("--seed", type=int, default=0, help="base seed; run i uses split(key(seed), seeds)[i]")
    p.add_argument("--table", default=None, help="NB201 table: .csv, .npz, or the official .pth (default: embedded)")
    p.add_argument("--noise-sigma", type=float, default=0.0, help="Gaussian noise (accuracy points) on the search metric")
    p.add_argument("--free-repeats", action="store_true",
                   help="serve repeated architectures from a cache without spending budget (all methods alike)")
    p.add_argument("--overwrite", action="store_true", help="replace results in a non-empty --out directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


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
    from l2nas_jax import api, io, methods, plotting
    from l2nas_jax.runner import check_queries, progress_chunk

    resuming = args.resume is not None
    if resuming:
        args = _resume_args(args)

    queries = check_queries(args.queries)
    if args.seeds < 1:
        raise CLIError(f"--seeds must be >= 1, got {args.seeds}")
    config = methods.make_config(args.method, method_overrides(args.method, args.config, args.set))
    from l2nas_jax.constraints import parse_budget

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
        from l2nas_jax.pareto import pareto_table, write_pareto

        print(pareto_table(write_pareto(env, result, out / files[2], out / files[3])))
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the results are complete; nothing left to resume
    print(f"wrote {', '.join(str(out / f) for f in files)} ({result.meta['wall_s']:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l2nas", description="L2NAS neural architecture search in JAX")
    sub = p.add_subparsers(dest="command", required=True)
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
                   help="search a fitted accuracy predictor (l2nas_jax.predictor.save_predictor) instead of "
                        "the space's evaluator")
    s.add_argument("--supernet", default=None, metavar="DIR",
                   help="search a supernet trained by train/supernet.py (reward: the path's held-out accuracy); "
                        "the way to search the darts and ofa spaces")
    s.add_argument("--supernet-images", type=int, default=2048, metavar="N",
                   help="held-out images per supernet evaluation (default 2048)")
    s.add_argument("--data-dir", default=None, help="tensorflow-datasets dir of the supernet's dataset (CIFAR)")
    s.set_defaults(func=cmd_search)
    from l2nas_jax import compare, sweep, transfer

    compare.add_compare_parser(sub)
    sweep.add_sweep_parser(sub)
    transfer.add_transfer_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    use_all_cpu_cores()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as e:  # CLIError and validation errors from the library
        print(f"l2nas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("l2nas: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 -- one line, not a JAX traceback; L2NAS_DEBUG=1 shows it
        if os.environ.get("L2NAS_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"l2nas: internal error: {type(e).__name__}: {msg} (set L2NAS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
