"""Train a single-path weight-sharing supernet of a registered search space (NB201, DARTS, OFA).

Each training step samples one architecture uniformly and updates only that path; the path is
an input of one compiled, data-parallel step (all local devices; all hosts with --distributed).

Examples::

    # CIFAR-10 (prepared offline with `tfds build cifar10 --data_dir DIR`), DARTS setting
    python train/supernet.py --space darts --dataset cifar10 --epochs 50 --out runs/darts_c10 --data-dir DIR
    # quick CPU demo on generated data
    python train/supernet.py --space nb201 --dataset synthetic --epochs 2 --channels 4 --layers 1 \\
        --image-size 8 --batch-size 16 --fast-compile --out /tmp/nb201_demo
    # continue a killed run from its last checkpoint (same seed => same final weights)
    python train/supernet.py ... --out runs/darts_c10 --resume
    # bfloat16 mixed precision on a GPU/TPU (a search of this supernet evaluates its paths in bfloat16 too)
    python train/supernet.py --space darts --dataset cifar10 --epochs 50 --out runs/darts_bf16 --dtype bfloat16
    # an --out holding an earlier run is refused; --overwrite removes that run's files first

Multi-host (jax.distributed): start the same command on every host with --distributed and, unless
the cluster is auto-detected (TPU pods, SLURM, Open MPI), --coordinator HOST:PORT
--num-processes N --process-id I (I = 0..N-1). --batch-size is the global batch; each process
loads its slice, process 0 writes the logs. See l2nas_jax/supernet/sharding.py.

Writes to --out: metrics.jsonl (one record per epoch: loss, accuracy, lr, images/s, held-out
accuracy of a few fixed random archs), checkpoints/ (orbax, last few kept), supernet.json
(space, net config, dataset, train config, seed, final metrics, provenance).
The library behind it: l2nas_jax.supernet.supernet_job (SupernetJob, train_supernet).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from l2nas_jax.spaces import space_names
from l2nas_jax.supernet.data import DATASETS
from l2nas_jax.supernet.sharding import initialize_distributed
from l2nas_jax.supernet.supernet_job import SupernetJob, train_supernet
from l2nas_jax.supernet.train import DTYPES, FitResult

DISTRIBUTED_FLAGS = ("distributed", "coordinator", "num_processes", "process_id")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train/supernet.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, choices=space_names())
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    p.add_argument("--lr", type=float, default=0.025)
    p.add_argument("--lr-min", type=float, default=0.001)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=3e-4)
    p.add_argument("--grad-clip", type=float, default=5.0)
    p.add_argument("--cutout", type=int, default=None,
                   help="cutout size, 0 = off (default: half the image, 16 on 32 px CIFAR; off below 16 px images)")
    p.add_argument("--channels", type=int, default=None, help="initial channels (NB201/DARTS C; default: the net's)")
    p.add_argument("--layers", type=int, default=None, help="cells per stage (NB201 N) / total cells (DARTS)")
    p.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints (default 1)")
    p.add_argument("--keep-checkpoints", type=int, default=3)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="--out holds an earlier run: remove its files first (default: refuse; other files are kept)")
    p.add_argument("--data-dir", default=None,
                   help="cifar10/cifar100: the tensorflow-datasets data dir holding the prepared dataset; "
                        "imagenet16-120: the directory of NB201's ImageNet16 files (train_data_batch_1..10, val_data)")
    p.add_argument("--heldout", type=int, default=5000, help="train images held out for search rewards (tfds)")
    p.add_argument("--synthetic-size", type=int, default=1024, help="examples in the generated dataset")
    p.add_argument("--image-size", type=int, default=32, help="image size of the generated dataset")
    p.add_argument("--synthetic-classes", type=int, default=10, help="classes of the generated dataset")
    p.add_argument("--eval-archs", type=int, default=4,
                   help="per epoch, held-out accuracy of this many fixed random archs (0 = off)")
    p.add_argument("--eval-images", type=int, default=2000, help="held-out images used by that evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this global step without finishing (time-boxed demo / kill simulation)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--fast-compile", action="store_true",
                   help="CPU: compile ~10x faster, run slower (tests and small demos)")
    p.add_argument("--dtype", default="float32", metavar="{" + ",".join(DTYPES) + "}",
                   help="compute dtype (default float32). bfloat16 is mixed precision for GPU/TPU: params and optimizer "
                        "state stay float32, no loss scaling needed; on CPU bfloat16 is emulated and slower")
    p.add_argument("--distributed", action="store_true", help="multi-host: call jax.distributed.initialize()")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (with --distributed)")
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    return p


def make_job(args: argparse.Namespace) -> SupernetJob:
    """The typed job of parsed flags (the multi-host flags act on the process, not the job)."""
    flags = {k: v for k, v in vars(args).items() if k not in DISTRIBUTED_FLAGS}
    return SupernetJob(**flags, command=" ".join(["python", "train/supernet.py", *sys.argv[1:]]))


def run(args: argparse.Namespace) -> FitResult:
    """Train as ``args`` say, write supernet.json; return the :class:`~l2nas_jax.supernet.train.FitResult`."""
    if args.distributed:  # before any JAX computation (importing the library computes nothing)
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    job = make_job(args)
    return train_supernet(job)


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
