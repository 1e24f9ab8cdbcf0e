"""``l2nas convert-ofa``: a once-for-all PyTorch checkpoint (supernet or accuracy predictor) for this package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from l2nas_jax.cli.common import CLIError, parse_positive_ints


def add_convert_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``convert-ofa`` on the CLI's subparsers."""
    p = sub.add_parser(
        "convert-ofa", help="convert a published once-for-all MobileNetV3 supernet or accuracy predictor (PyTorch)",
        description="Read a once-for-all (mit-han-lab/once-for-all) PyTorch checkpoint and write it for this package. "
                    "An OFA MobileNetV3 supernet (e.g. ofa_mbv3_d234_e346_k357_w1.0 / w1.2: kernels 3/5/7, expand "
                    "3/4/6, depth 2/3/4) becomes a supernet directory for l2nas search --space ofa --supernet DIR "
                    "--data imagenet:ROOT; its accuracy predictor (acc_predictor.pth) becomes a predictor file for "
                    "l2nas search --space ofa --predictor FILE. Every tensor is converted exactly (kernel-transform "
                    "matrices, channel order, BN statistics); a checkpoint of another configuration is refused with "
                    "the difference named. Needs PyTorch (pip install 'l2nas-jax[ofa]'; the CPU build is enough).")
    p.add_argument("checkpoint", metavar="CKPT", help="the PyTorch checkpoint (.pth / .pt: a state_dict, or "
                                                      "{'state_dict': ...})")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="supernet: output directory; predictor: output file (.npz is added when missing)")
    p.add_argument("--width", type=float, default=None, choices=(1.0, 1.2),
                   help="supernet width multiplier the checkpoint must have (default: read off its shapes)")
    p.add_argument("--image-sizes", default=None, metavar="R,R,...",
                   help="predictor: the image sizes of its encoding (default OFA's 128,132,...,224)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=cmd_convert)
    return p


def cmd_convert(args: argparse.Namespace) -> int:
    from l2nas_jax.spaces.ofa import convert

    sd = convert.read_torch_checkpoint(args.checkpoint)
    if "base_acc" in sd:
        return _predictor(args, sd)
    if args.image_sizes is not None:
        raise CLIError("--image-sizes is for an accuracy predictor; CKPT holds a supernet")
    from l2nas_jax.supernet import ofa_published

    net_kwargs, variables = convert.convert_state_dict(sd, width=args.width)
    out = ofa_published.write_converted(args.out, net_kwargs, variables, source=args.checkpoint,
                                        overwrite=args.overwrite)
    print(f"converted OFA MobileNetV3 supernet (width {net_kwargs['width']:g}, {net_kwargs['num_classes']} classes, "
          f"{len(sd)} tensors) -> {out}")
    print(f"next: l2nas search --space ofa --supernet {out} --data imagenet:ROOT --max-macs 600M", file=sys.stderr)
    return 0


def _predictor(args: argparse.Namespace, sd: dict) -> int:
    from l2nas_jax.envs import predictor as predictor_lib

    if args.width is not None:
        raise CLIError("--width is for a supernet; CKPT holds an accuracy predictor")
    out = Path(args.out)
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    if out.exists() and not args.overwrite:
        raise CLIError(f"--out {out} exists; pass --overwrite to replace it")
    pred, meta = predictor_lib.from_ofa_predictor(sd, parse_positive_ints(args.image_sizes, "--image-sizes"))
    meta["source"] = {"checkpoint": str(Path(args.checkpoint).absolute())}
    predictor_lib.save_predictor(out, pred, meta)
    print(f"converted OFA accuracy predictor (MLP {list(pred.hidden)}, {pred.input_shape[1]} input features, "
          f"image sizes {pred.image_sizes[0]}..{pred.image_sizes[-1]}) -> {out}")
    print(f"next: l2nas search --space ofa --predictor {out} --max-macs 600M", file=sys.stderr)
    return 0
