"""Train a found architecture from scratch: DARTS evaluation network, NB201 cell network, OFA subnet.

The last step of a search: the architecture written by ``l2nas search`` (or a named genotype,
or one typed by hand) is built as a FIXED network and trained with the supernet machinery (one
jitted, data-parallel step over all devices, orbax checkpoints and exact resume, per-epoch
metrics.jsonl, progress bars), under the space's standard protocol unless flags override it.

Examples::

    # the DARTS-V2 cell, DARTS CIFAR-10 protocol (600 epochs; CIFAR prepared offline with tfds)
    python train/evaluate.py --space darts --genotype DARTS_V2 --dataset cifar10 --data-dir DIR --out runs/eval_v2
    # the best architecture of a search (results.json of `l2nas search`: best run's best_arch)
    python train/evaluate.py --space nb201 --genotype runs/search/results.json --dataset cifar10 --out runs/eval_nb201
    # an OFA subnet (string, JSON config or file) at its own resolution (CIFAR images resized to r)
    python train/evaluate.py --space ofa --genotype subnet.json --dataset cifar10 --out runs/eval_ofa
    # look only: resolve the genotype, count params/MACs, write evaluate.json, no training
    python train/evaluate.py --space darts --genotype DARTS_V2 --dry-run --out /tmp/v2
    # quick CPU demo on generated data, tiny net
    python train/evaluate.py --space darts --genotype DARTS_V2 --dataset synthetic --channels 4 --layers 3 \\
        --epochs 2 --batch-size 16 --fast-compile --out /tmp/darts_demo
    # continue a killed run from its last checkpoint (same seed => same final weights)
    python train/evaluate.py ... --out runs/eval_v2 --resume
    # bfloat16 mixed precision on a GPU/TPU (params and optimizer state stay float32)
    python train/evaluate.py --space darts --genotype DARTS_V2 --dataset cifar10 --data-dir DIR --out runs/v2_bf16 \\
        --dtype bfloat16
    # an --out holding an earlier run (a dry run too) is refused; --overwrite removes that run's files first
    python train/evaluate.py --space darts --genotype DARTS_V1 --dry-run --out /tmp/v2 --overwrite
    # no training: a subnet of a published OFA supernet (l2nas convert-ofa) on ImageNet, as OFA evaluates it
    # (BN statistics re-calibrated on 2000 training images, then the validation images; ROOT/train, ROOT/val)
    python train/evaluate.py --space ofa --supernet runs/ofa_w10 --subnet "r224 d=4,4,4,4,4 | ..." \
        --data imagenet:ROOT --out runs/ofa_eval

``--genotype`` accepts: the architecture string of the space (DARTS ``Genotype(normal=[...], ...)``,
NB201 ``|op~0|+|...|``, OFA ``r224 d=... | k3e4 ...`` or OFA's JSON ``{"ks", "e", "d", "r"}``), a
named DARTS genotype (DARTS_V2, DARTS_V1, PC_DARTS_cifar, PDARTS, GDAS_V1), a file holding any of
these, an ``l2nas search`` results.json (the best architecture of the run with the best reported
metric), or an evaluate.json written by this script.

The schedule is cosine per step (DARTS/NB201 anneal per epoch: the curves differ by < 1 step's
worth). On CIFAR the whole training split trains the weights (``--heldout 0``, the standard
protocol) and the test split is reported; ``--heldout N`` keeps N training images apart.

Writes to --out: metrics.jsonl (one record per epoch: loss, accuracy, lr, images/s, test / held-out
accuracy every --eval-every epochs), checkpoints/ (orbax, last few kept), run.json (what a resume
must match), arch.txt (the canonical architecture string) and evaluate.json (space, arch,
where it came from, params/MACs from the analytic counter AND from the instantiated network, the
protocol and train config, seed, final accuracies, provenance).
The library behind it: l2nas_jax.supernet.evaluate_job (EvaluateJob, train_and_evaluate).

Protocols (every value can be overridden by its flag):
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from l2nas_jax.supernet.data import DATASETS
from l2nas_jax.supernet.evaluate_job import EvaluateJob, evaluation_spaces, protocols_help, train_and_evaluate
from l2nas_jax.supernet.sharding import initialize_distributed
from l2nas_jax.supernet.train import DTYPES

DISTRIBUTED_FLAGS = ("distributed", "coordinator", "num_processes", "process_id")
CONVERTED_FLAGS = ("supernet", "data", "calib_images", "max_images")


def _heldout(value: str) -> int | float:
    """``--heldout``: an integer count or a fraction in [0, 1)."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return v if 0 < v < 1 else int(v)


def _widths(value: str) -> tuple[int, ...]:
    """``--base-widths``: comma-separated ints."""
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train/evaluate.py", description=__doc__ + protocols_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, choices=evaluation_spaces())
    p.add_argument("--genotype", "--subnet", dest="genotype", required=True,
                   help="architecture string, named DARTS genotype, file, l2nas search results.json or evaluate.json")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets data dir holding the prepared dataset")
    p.add_argument("--heldout", type=_heldout, default=None,
                   help="training images kept apart (count or fraction); default 0 for CIFAR, 0.25 synthetic")
    p.add_argument("--synthetic-size", type=int, default=512, help="examples in the generated dataset")
    p.add_argument("--image-size", type=int, default=32, help="image size of the generated dataset")
    g = p.add_argument_group("protocol (default: the space's standard protocol, see above)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None, help="global batch, split over devices")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (cosine-annealed per step)")
    g.add_argument("--lr-min", type=float, default=None)
    g.add_argument("--momentum", type=float, default=None)
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--grad-clip", type=float, default=None, help="global-norm clip, 0 = off")
    g.add_argument("--cutout", type=int, default=None, help="cutout size, 0 = off")
    g.add_argument("--aux-weight", type=float, default=None, help="DARTS auxiliary loss weight")
    g.add_argument("--label-smoothing", type=float, default=None)
    g.add_argument("--drop-path", type=float, default=None, help="DARTS drop-path probability (final value)")
    g.add_argument("--drop-path-schedule", choices=("linear", "constant"), default=None,
                   help="linear: epoch e uses drop_path*e/epochs (DARTS); constant: always drop_path")
    g.add_argument("--dropout", type=float, default=None, help="OFA dropout before the classifier")
    n = p.add_argument_group("network size")
    n.add_argument("--channels", type=int, default=None, help="DARTS/NB201 initial channels C (36 / 16)")
    n.add_argument("--layers", type=int, default=None, help="DARTS total cells (20) / NB201 cells per stage N (5)")
    n.add_argument("--auxiliary", action=argparse.BooleanOptionalAction, default=True,
                   help="DARTS auxiliary head (default on; needs 32 px inputs)")
    n.add_argument("--width", type=float, default=1.0, help="OFA width multiplier (1.0 or 1.2)")
    n.add_argument("--base-widths", type=_widths, default=None, help="OFA: 9 stage widths (tiny CPU nets)")
    n.add_argument("--resolution", type=int, default=None, help="OFA input resolution (default: the subnet's r)")
    o = p.add_argument_group("a converted OFA supernet (no training; l2nas convert-ofa)")
    o.add_argument("--supernet", default=None, metavar="DIR",
                   help="evaluate --subnet of this converted supernet on ImageNet instead of training it")
    o.add_argument("--data", default=None, metavar="imagenet:ROOT",
                   help="ROOT/train and ROOT/val class-folder trees, or a tfds data dir holding imagenet2012")
    o.add_argument("--calib-images", type=int, default=2000, help="training images for BN re-calibration (2000)")
    o.add_argument("--max-images", type=int, default=None,
                   help="validation images evaluated (default all; kept in memory, ~150 KB each at 224 px)")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--max-steps", type=int, default=None,
                   help="stop after this global step without finishing (time-boxed run / kill simulation)")
    r.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    r.add_argument("--overwrite", action="store_true",
                   help="--out holds an earlier run: remove its files first (default: refuse; other files are kept)")
    r.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints (default 1)")
    r.add_argument("--keep-checkpoints", type=int, default=3)
    r.add_argument("--eval-every", type=int, default=1, help="epochs between test/held-out evaluations (0 = end only)")
    r.add_argument("--eval-batch-size", type=int, default=256)
    r.add_argument("--dry-run", action="store_true",
                   help="resolve the genotype, count params/MACs, write arch.txt + evaluate.json; no data, no training")
    r.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    r.add_argument("--fast-compile", action="store_true",
                   help="CPU: compile ~10x faster, run slower (tests and small demos)")
    r.add_argument("--dtype", default="float32", metavar="{" + ",".join(DTYPES) + "}",
                   help="compute dtype (default float32). bfloat16 is mixed precision for GPU/TPU: params and optimizer "
                        "state stay float32, no loss scaling needed; on CPU bfloat16 is emulated and slower")
    r.add_argument("--distributed", action="store_true", help="multi-host: call jax.distributed.initialize()")
    r.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (with --distributed)")
    r.add_argument("--num-processes", type=int, default=None)
    r.add_argument("--process-id", type=int, default=None)
    return p


def make_job(args: argparse.Namespace) -> EvaluateJob:
    """The typed job of parsed flags (the multi-host flags act on the process, not the job)."""
    flags = {k: v for k, v in vars(args).items() if k not in DISTRIBUTED_FLAGS + CONVERTED_FLAGS}
    return EvaluateJob(**flags, command=" ".join(["python", "train/evaluate.py", *sys.argv[1:]]))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` say; return the summary written to evaluate.json."""
    if args.distributed:  # before any JAX computation (importing the library computes nothing)
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    if args.supernet is not None:
        return evaluate_converted(args)
    if args.data is not None:
        raise ValueError("--data is for a converted OFA supernet (--supernet DIR); training reads --dataset/--data-dir")
    job = make_job(args)
    return train_and_evaluate(job, log=lambda line: print(line, file=sys.stderr)).summary


def evaluate_converted(args: argparse.Namespace) -> dict[str, Any]:
    """``--supernet``: one subnet of a converted OFA supernet on ImageNet; writes --out/evaluate.json."""
    from pathlib import Path

    from l2nas_jax.core import io
    from l2nas_jax.supernet import outdir
    from l2nas_jax.supernet.evaluate_job import RESULT_FILE
    from l2nas_jax.supernet.genotype import resolve_genotype
    from l2nas_jax.supernet.ofa_published import evaluate_subnet

    if args.space != "ofa":
        raise ValueError(f"--supernet evaluates a converted OFA supernet: pass --space ofa, not {args.space}")
    if not args.data:
        raise ValueError("--supernet needs its ImageNet: --data imagenet:ROOT")
    replaced = outdir.check_out_dir(args.out, resume=False, overwrite=args.overwrite, can_resume=False)
    subnet, _, source = resolve_genotype("ofa", args.genotype)  # a string, OFA's JSON, a file, a results.json
    outdir.remove_run_files(replaced)
    out = Path(args.out) / RESULT_FILE
    summary = evaluate_subnet(args.supernet, subnet, args.data, calib_images=args.calib_images,
                              max_images=args.max_images, batch_size=args.eval_batch_size, seed=args.seed,
                              progress=args.progress, fast_compile=args.fast_compile)
    summary["subnet_source"] = source
    summary["command"] = " ".join(["python", "train/evaluate.py", *sys.argv[1:]])
    out.parent.mkdir(parents=True, exist_ok=True)
    io.write_json(out, summary)
    print(f"{summary['subnet']}: top-1 {summary['top1']:.2f} %, top-5 {summary['top5']:.2f} % on "
          f"{summary['images']} validation images ({summary['macs_M']:.0f}M MACs) -> {out}", file=sys.stderr)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
