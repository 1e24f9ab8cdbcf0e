"""``l2nas search``: one method on one environment, many seeds at once; resumable.

The flags become one :class:`~l2nas_jax.runspec.RunSpec` (validated once; errors name the
flags), written to ``OUT/run.json`` before the search starts; ``--resume DIR`` reads that
file back and runs exactly the saved spec, refusing any flag it would ignore.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from l2nas_jax.cli.common import (CLIError, RunOutputs, add_common_args, announce_duration, flag_label,
                                  method_overrides, prepare_out_dir, progress_bar)

if TYPE_CHECKING:  # the library loads JAX; ``l2nas --help`` must not
    from l2nas_jax.envs.base import Environment
    from l2nas_jax.runspec import RunSpec

RUN_FILE, CHECKPOINT_FILE = "run.json", "checkpoint.npz"
#: Flags that still apply with ``--resume`` (every other one would be ignored, so it is refused).
RESUME_FLAGS = ("resume", "no_progress")


def add_search_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``search`` on the CLI's subparsers."""
    s = sub.add_parser("search", help="search a space with L2NAS (or a baseline), many seeds at once")
    add_search_args(s)
    s.set_defaults(func=cmd_search)
    return s


def add_search_args(s: argparse.ArgumentParser) -> None:
    """Every flag of ``l2nas search``."""
    add_common_args(s)
    s.add_argument("--method", default="l2nas", help="l2nas (default), random, rea, reinforce, ls (local search)")
    s.add_argument("--out", default="runs/search", help="output directory (default runs/search)")
    s.add_argument("--config", default=None, help="JSON file of method config overrides")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    s.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="save the complete search state to OUT/checkpoint.npz every K queries "
                        "(default 0: no checkpoints)")
    s.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the checkpointed run in DIR exactly as saved in DIR/run.json (no other flags "
                        "but --no-progress)")
    s.add_argument("--max-params", default=None, metavar="BUDGET",
                   help="only architectures with at most this many parameters (e.g. 0.6M, 300k, 5e5); "
                        "over-budget ones get a penalty and are never returned")
    s.add_argument("--max-macs", default=None, metavar="BUDGET",
                   help="only architectures with at most this many multiply-adds (e.g. 600M, 1.2G)")
    s.add_argument("--pareto", nargs="?", const=True, default=False, metavar="COLUMN",
                   help="multi-objective: each seed trades accuracy against log2(MACs) with its own weight; "
                        "writes the accuracy-vs-MACs front of all queried architectures (pareto.json, pareto.png); "
                        "with --space table, COLUMN names the cost column (default: the table's MACs); "
                        "'--pareto latency' with --latency-model: against the modelled latency")
    s.add_argument("--latency-model", default=None, metavar="FILE",
                   help="a latency model fitted on this machine (l2nas latency --model FILE): adds the 'latency' "
                        "column (ms) for --max-latency, --max latency=V and --pareto latency")
    s.add_argument("--reduce-space", nargs="?", const="", default=None, metavar="DATASET",
                   help="with --latency-model: drop the choices that are slower on this machine and no more accurate "
                        "than another choice of their decision (accuracy scored by the table of DATASET, default "
                        "--dataset: that uses the table being searched, so name another dataset for a fair "
                        "comparison); the dropped choices are listed")
    s.add_argument("--max-latency", default=None, metavar="BUDGET",
                   help="only architectures whose modelled latency is at most this (e.g. 5ms, 800us); the returned "
                        "architectures are measured again after the search")
    s.add_argument("--predictor", default=None, metavar="FILE",
                   help="search a fitted accuracy predictor (l2nas_jax.envs.predictor.save_predictor) instead of "
                        "the space's evaluator")
    s.add_argument("--supernet", default=None, metavar="DIR",
                   help="search a supernet trained by train/supernet.py (reward: the path's held-out accuracy), "
                        "or an OFA supernet converted by l2nas convert-ofa (with --data); the way to search the "
                        "darts and ofa spaces")
    s.add_argument("--supernet-images", type=int, default=2048, metavar="N",
                   help="held-out images per supernet evaluation (default 2048)")
    s.add_argument("--data-dir", default=None, help="tensorflow-datasets dir of the supernet's dataset (CIFAR)")
    s.add_argument("--data", dest="data_dir", metavar="imagenet:ROOT",
                   help="the ImageNet of a converted OFA supernet (l2nas convert-ofa): ROOT/train and ROOT/val "
                        "class-folder trees, or a tfds data dir holding imagenet2012; each subnet is scored at its "
                        "resolution after BN re-calibration on 2000 training images (--supernet-images: training "
                        "images searched, and validation images reported)")
    s.set_defaults(dataset=None)  # not given: cifar10, or with --supernet the supernet's own (see spec_from_args)


def flag_defaults() -> dict[str, Any]:
    """``{dest: default}`` of every ``search`` flag (from a fresh parser, so it never drifts from the flags)."""
    p = argparse.ArgumentParser(add_help=False)
    add_search_args(p)
    return vars(p.parse_args([]))


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The RunSpec the flags describe; a bad value is one error line naming its flag."""
    from l2nas_jax.runspec import RunSpec

    dataset = args.dataset
    if dataset is None and args.predictor and not args.supernet and os.path.isfile(args.predictor):
        from l2nas_jax.envs.predictor import load_predictor  # a predictor is searched on its own dataset

        dataset = load_predictor(args.predictor)[1].get("dataset") or "cifar10"
    if dataset is None and not args.supernet:
        dataset = "cifar10"
    elif dataset is None:  # --dataset left out: a supernet is searched on its own dataset (a given one must match)
        from l2nas_jax.envs.supernet import read_supernet_meta  # flax networks and orbax: only for a supernet

        dataset = read_supernet_meta(args.supernet)["dataset"]["name"]
    return RunSpec.create(
        flag_label, space=args.space, dataset=dataset, method=args.method,
        config=method_overrides(args.method, args.config, args.set), queries=args.queries, seeds=args.seeds,
        seed=args.seed, table=args.table, supernet=args.supernet, supernet_images=args.supernet_images,
        data_dir=args.data_dir, predictor=args.predictor, noise_sigma=args.noise_sigma,
        noise_model=args.noise_model, incumbent=args.incumbent, reevaluate=args.reevaluate, max_params=args.max_params,
        max_macs=args.max_macs, pareto=bool(args.pareto), free_repeats=args.free_repeats,
        checkpoint_every=args.checkpoint_every, search_metric=args.search_metric, report_metric=args.report_metric,
        decisions=args.decisions, limits=tuple(args.limits),
        pareto_column=args.pareto if isinstance(args.pareto, str) else None, latency_model=args.latency_model,
        max_latency=args.max_latency, reduce_space=(args.reduce_space or dataset) if args.reduce_space is not None
        else None)


def ignored_with_resume(args: argparse.Namespace) -> list[str]:
    """The flags given (not at their defaults) that ``--resume`` would ignore."""
    defaults = flag_defaults()
    return [flag_label(k) for k, v in vars(args).items()
            if k in defaults and k not in RESUME_FLAGS and v != defaults[k]]


def resume_spec(args: argparse.Namespace) -> RunSpec:
    """The RunSpec saved in ``--resume DIR/run.json``, checked to be the run its checkpoint continues."""
    ignored = ignored_with_resume(args)
    if ignored:
        raise CLIError(f"--resume continues the run exactly as saved in {Path(args.resume) / RUN_FILE}; "
                       f"drop {', '.join(ignored)} (it would be ignored)")
    from l2nas_jax.checkpoint import read_info
    from l2nas_jax.runspec import RunSpec

    run_dir = Path(args.resume)
    try:
        spec = RunSpec.load(run_dir / RUN_FILE)
        if not spec.checkpoint_every or not (run_dir / CHECKPOINT_FILE).exists():
            raise ValueError(f"no {CHECKPOINT_FILE} (the run finished or never saved)")
        diff = spec.differences(read_info(run_dir / CHECKPOINT_FILE).spec)
    except ValueError as e:
        raise CLIError(f"cannot resume from {args.resume}: {e}") from None
    if diff:
        raise CLIError(f"cannot resume from {args.resume}: its {CHECKPOINT_FILE} is from a different run than "
                       f"{RUN_FILE} (differs in: {', '.join(diff)})")
    return spec


def print_notes(spec: RunSpec, env: Environment) -> None:
    """What the reported numbers are, when they are not plain table accuracies; what a reduced space dropped."""
    if spec.reduce_space is not None:
        gone = getattr(env, "dropped_choices", ())
        same = " (the table being searched: the reduction has seen it)" if spec.reduce_space == spec.dataset else ""
        print(f"reduced space: {len(gone)} choice(s) dropped as slower on this machine and no more accurate on "
              f"{spec.reduce_space}{same}: {', '.join(gone) or 'none'}")
    if spec.predictor:
        print(f"note: searching the accuracy predictor {spec.predictor}: every accuracy below is a prediction, "
              f"not a measurement.", file=sys.stderr)
    elif spec.supernet:
        print(f"note: reward = the path's accuracy on {env.search_split} images of the supernet's training set; "
              f"reported = accuracy on {env.report_split} images (weight-sharing estimates, not stand-alone "
              f"accuracies: train the result with train/evaluate.py).", file=sys.stderr)
    elif env.search_split == env.report_split:
        print(f"note: this table has only {env.report_split} accuracy, so the search optimizes the metric it "
              f"reports; use the official NAS-Bench-201 file (--table) to search on validation accuracy.",
              file=sys.stderr)


def latency_check(spec: RunSpec, env: Environment, result: Any) -> list[dict[str, Any]]:
    """Measure the returned architectures as the latency model's measurements were made; print both figures."""
    from l2nas_jax.api import modelled_latency
    from l2nas_jax.latency.measure import recheck
    from l2nas_jax.latency.model import load_model

    archs = sorted({a for a in result.best_archs if a is not None})
    if not archs:
        return []
    meta = load_model(spec.latency_model).meta
    if "measured_with" not in meta:
        print(f"note: {spec.latency_model} does not say how its measurements were made (it was not written by "
              f"l2nas latency --model), so the returned architectures are not measured again.", file=sys.stderr)
        return []
    print(f"measuring the {len(archs)} returned architecture(s) on this machine ...", file=sys.stderr)
    checks = recheck(_space(spec.space), archs, meta["measured_with"], modelled_latency(env, archs))
    print("latency of the returned architectures (modelled / measured median [10-90%]):")
    for c in checks:
        print(f"  {c['modelled_ms']:8.3f} ms / {c['measured_ms']:8.3f} ms [{c['q10_ms']:.3f}-{c['q90_ms']:.3f}]  "
              f"{c['arch']}")
    if checks and not checks[0]["device_matches"]:
        print(f"note: the latency model was fitted on {meta['measured_with'].get('device_kind')}, not on this "
              f"machine; the measured figures are this machine's.", file=sys.stderr)
    return checks


def _space(name: str) -> Any:
    from l2nas_jax.spaces import get_space

    return get_space(name)


def cmd_search(args: argparse.Namespace) -> int:
    """``l2nas search``: build (or, resuming, read) the RunSpec, run it, print and write the results."""
    from l2nas_jax import api
    from l2nas_jax.report import plots as plotting
    from l2nas_jax.runner import progress_chunk

    resuming = args.resume is not None
    spec = resume_spec(args) if resuming else spec_from_args(args)
    env = api.spec_env(spec)
    api.check_memory(env, spec.method, spec.seeds, spec.queries, spec.config)  # before --out is touched
    announce_duration(api.estimate_seconds(spec.method, spec.seeds, spec.queries, spec.config))
    files = ("results.json", "best_so_far.png") + (("pareto.json", "pareto.png") if spec.pareto else ())
    out = Path(args.resume) if resuming else prepare_out_dir(args.out, args.overwrite, (RUN_FILE, *files))
    checkpoint = out / CHECKPOINT_FILE if spec.checkpoint_every else None

    def resume_hint() -> str | None:
        """Interrupted: keep a resumable run (its checkpoint), else remove this run's files."""
        if checkpoint is not None and checkpoint.exists():
            return f"resume with: l2nas search --resume {out}"
        return f"{out} is left as it was" if resuming else None

    with RunOutputs(out, resume_hint) as outputs:
        if not resuming:
            spec.save(out / RUN_FILE)
        plotting.preload()  # matplotlib's import overlaps the search
        print_notes(spec, env)
        bar, update = progress_bar(spec.queries, f"{spec.method} {spec.dataset} x{spec.seeds}", not args.no_progress)
        with bar:
            result = api.run_spec(spec, env=env, progress=update, checkpoint=checkpoint, resume=resuming,
                                  chunk=progress_chunk(spec.queries))
        if spec.supernet:
            result.meta["supernet"] = spec.supernet
        print(result.table())
        if spec.latency_model is not None:
            result.meta["latency_check"] = latency_check(spec, env, result)
        result.save_json(out / files[0])
        plotting.save_curves_png({spec.method: result}, out / files[1])
        if spec.pareto:
            from l2nas_jax.report.pareto import pareto_table, write_pareto

            print(pareto_table(write_pareto(env, result, out / files[2], out / files[3])))
        outputs.complete()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the results are complete; nothing left to resume
    print(f"wrote {', '.join(str(out / f) for f in (RUN_FILE, *files))} ({result.meta['wall_s']:.1f} s)")
    return 0
