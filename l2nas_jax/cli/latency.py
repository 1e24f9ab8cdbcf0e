"""``l2nas latency``: measure fixed networks on this machine, fit a latency model, report its held-out accuracy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from l2nas_jax.cli.common import SPACES, CLIError, parse_positive_ints, progress_bar

#: Fraction of the measurements held out to score the model (and MACs) before it is fitted on all of them.
HOLDOUT = 0.3
#: Random splits the held-out scores average over (one split of a few dozen noisy timings is itself noisy).
SPLITS = 5


def add_latency_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``latency`` on the CLI's subparsers."""
    p = sub.add_parser(
        "latency", help="measure inference latency of sampled architectures on this machine; fit a latency model",
        description="Build the fixed network of --archs architectures (stratified over MACs, so cheap and expensive "
                    "ones are both covered), compile each for this JAX backend and time its inference (compile time "
                    "excluded and recorded apart; warm-up, --repeats timed repeats, median and 10-90% spread). "
                    "The --out file is rewritten after every architecture: run the same command again to continue "
                    "an interrupted measurement. With --model, fit a latency model (per-choice look-up table, a "
                    "MACs term and a small correction), score it on held-out measurements against MACs, and save "
                    "it for l2nas search --latency-model.")
    p.add_argument("--space", default="nb201", help=f"search space: {', '.join(s for s in SPACES if s != 'table')} "
                                                     "(default nb201)")
    p.add_argument("--archs", type=int, default=60, help="architectures to measure (default 60)")
    p.add_argument("--batch", type=int, default=1, help="images per inference call (default 1)")
    p.add_argument("--out", required=True, metavar="FILE", help="measurement file (JSON); resumed if it exists")
    p.add_argument("--model", default=None, metavar="FILE", help="fit a latency model and save it here (.npz)")
    p.add_argument("--channels", type=int, default=None, help="network width (NB201 C / DARTS C; default: standard)")
    p.add_argument("--layers", type=int, default=None, help="NB201 cells per stage / DARTS cells (default: standard)")
    p.add_argument("--resolution", type=int, default=None,
                   help="OFA: measure every subnet at this input resolution (default: its own)")
    p.add_argument("--base-widths", default=None, metavar="W,W,...",
                   help="OFA: the 9 stage widths (small values give tiny networks)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    p.add_argument("--repeats", type=int, default=15, help="timed repeats per architecture (default 15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the architecture sample and the random weights")
    p.add_argument("--overwrite", action="store_true", help="replace an --out file made with other settings")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_latency)
    return p


def cmd_latency(args: argparse.Namespace) -> int:
    """Validate, measure (resuming), print the summary; fit, score and save the model when asked."""
    from l2nas_jax.latency import measure
    from l2nas_jax.spaces import check_space, get_space

    if args.space == "table":
        raise CLIError("--space table has no networks to measure; its latency is a column of the table (--max COLUMN=V)")
    check_space(args.space)
    space = get_space(args.space)
    if space.evaluation is None or space.nets_module is None:
        raise CLIError(f"the {args.space} space has no fixed networks to measure")
    for flag, value in (("--archs", args.archs), ("--batch", args.batch), ("--repeats", args.repeats)):
        if value < 1:
            raise CLIError(f"{flag} must be a positive integer, got {value}")
    if args.warmup < 0:
        raise CLIError(f"--warmup must be >= 0, got {args.warmup}")
    if args.model is not None and args.archs < 7:
        raise CLIError(f"--model needs --archs >= 7 (4 to fit, 3 held out to score it), got {args.archs}")
    if args.model is not None and Path(args.model).suffix != ".npz":
        raise CLIError(f"--model must name a .npz file, got {args.model}")
    net = measure.NetSpec(channels=args.channels, layers=args.layers, resolution=args.resolution,
                          base_widths=parse_positive_ints(args.base_widths, "--base-widths"))
    net.options()  # NetOptions validates sizes (one line naming the flag)
    measure.check_network(space, net)  # options the space refuses fail here, before any timing
    bar, update = progress_bar(args.archs, f"latency {args.space}", not args.no_progress, unit="arch")
    with bar:
        data = measure.measure_archs(space, args.out, num_archs=args.archs, batch=args.batch, net=net, seed=args.seed,
                                     warmup=args.warmup, repeats=args.repeats, overwrite=args.overwrite,
                                     progress=lambda done, total: update(done))
    s = measure.summary(data)
    print(f"{args.space}: {s['archs']} architectures on {data['settings']['backend']} "
          f"({data['settings']['device_kind']}), batch {args.batch}: {s['min_ms']:.3f}-{s['max_ms']:.3f} ms "
          f"(median of {s['repeats']} repeats each; typical 10-90% spread {100 * s['median_spread']:.0f}%); "
          f"compile {s['compile_s_per_arch']:.2f} s per architecture")
    print(f"wrote {args.out}")
    if args.model is not None:
        _fit_and_save(space, data, args.model, args.seed)
    return 0


def _fit_and_save(space: Any, data: dict[str, Any], path: str, seed: int) -> None:
    """Score the model on held-out measurements, fit it on all of them, save it with its scores (and a plot)."""
    from l2nas_jax.latency import model as lm
    from l2nas_jax.report.latency import save_latency_png

    held = lm.holdout_report(space, data["records"], fraction=HOLDOUT, seed=seed, splits=SPLITS)
    meta = {"measured_with": data["settings"], "measurements": len(data["records"]),
            "holdout": {k: v for k, v in held.items() if not isinstance(v, list)}}
    model = lm.fit(space, data["records"], seed=seed, meta=meta)
    png = Path(path).with_suffix(".png")
    lm.save_model(model, path)
    save_latency_png(held, data["records"], png, title=f"{space.name} latency on {data['settings']['device_kind']}")
    print(f"held-out ({held['held_out']} of {held['fitted_on'] + held['held_out']} measured, mean of "
          f"{held['splits']} random splits): model Kendall tau {held['kendall_tau']:.3f}, median relative error "
          f"{100 * held['median_rel_error']:.1f}% (look-up table alone {held['lut_kendall_tau']:.3f} / "
          f"{100 * held['lut_median_rel_error']:.1f}%); MACs Kendall tau {held['macs_kendall_tau']:.3f}")
    print(f"correction {'kept' if model.corrected else 'off (did not help on validation)'}; wrote {path}, {png}",
          file=sys.stdout)
