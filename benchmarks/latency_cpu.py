"""Latency on this machine, per space: measured range, the latency model's held-out accuracy vs MACs, cost.

For each space, measures ``--archs`` stratified architectures' fixed networks (``l2nas latency``'s
harness: compile excluded, warm-up, repeats, median), fits the latency model on 70 % of them and
scores the rest: Kendall tau and median relative error of the model, and Kendall tau of MACs with
the same measured latencies.  Measurement files are kept in ``--out`` (an interrupted run resumes
them).  Writes ``latency_cpu.md`` / ``.json`` (and a plot per space) into ``--out``; ``--record``:
also ``benchmarks/results/``.

    python benchmarks/latency_cpu.py                     # standard NB201, reduced DARTS, OFA
    python benchmarks/latency_cpu.py --spaces nb201 --archs 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance
from l2nas_jax.latency import measure, model as lm
from l2nas_jax.report import records
from l2nas_jax.report.latency import save_latency_png
from l2nas_jax.spaces import get_space

RESULTS = Path(__file__).resolve().parent / "results"
#: The networks measured per space: NB201's benchmark network; DARTS reduced (8 cells, C=16: the full
#: 20-cell C=36 network compiles for ~20 s per architecture here); OFA: MobileNetV3 w1.0, each subnet at
#: its own resolution (the model must then learn how resolution scales every layer).
NETS = {
    "nb201": measure.NetSpec(),
    "darts": measure.NetSpec(channels=16, layers=8),
    "ofa": measure.NetSpec(),
}
WHAT = {"nb201": "benchmark network (C=16, N=5, 32 px)", "darts": "reduced network (8 cells, C=16, 32 px)",
        "ofa": "MobileNetV3 w1.0 at its own resolution (128-224 px)"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", default="nb201,darts,ofa")
    p.add_argument("--archs", type=int, default=60, help="architectures per space (default 60)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", type=int, default=20, help="random 70/30 splits the held-out scores average over")
    records.add_output_args(p, "latency_cpu")
    return p.parse_args(argv)


def run_space(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure (resuming), score on held-out architectures, plot."""
    space = get_space(name)
    t0 = time.perf_counter()
    data = measure.measure_archs(space, args.out / f"latency_{name}.measurements.json", num_archs=args.archs,
                                 batch=args.batch, net=NETS[name], seed=args.seed, repeats=args.repeats,
                                 progress=lambda d, t: print(f"  {name}: {d}/{t}", file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0
    held = lm.holdout_report(space, data["records"], fraction=0.3, seed=args.seed, splits=args.splits)
    save_latency_png(held, data["records"], args.out / f"latency_{name}.png",
                     title=f"{name} latency on {data['settings']['device_kind']} ({WHAT[name]})")
    s = measure.summary(data)
    per_arch = sum(r["compile_s"] for r in data["records"]) / len(data["records"])
    return {"space": name, "net": WHAT[name], "summary": s, "holdout": {k: v for k, v in held.items()},
            "compile_s_per_arch": per_arch, "wall_s_this_run": wall,
            "measure_s_per_arch": float(sum(r["median_ms"] * r["number"] * (r["repeats"] + 4) for r in
                                            data["records"]) / 1e3 / len(data["records"]))}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = records.command_line("benchmarks/latency_cpu.py", argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    for s in spaces:
        if s not in NETS:
            raise SystemExit(f"latency_cpu.py: unknown space {s!r}; valid: {', '.join(NETS)}")
    rows = [run_space(s, args) for s in spaces]
    dev = provenance()["device"]
    md = ["# Latency on this CPU: measurements and the latency model", "",
          f"Generated {records.utc_now()} by `{command}` on {dev['device_kind']} ({dev['backend']}, "
          f"{dev['processor']}). Batch {args.batch}; per architecture: compile (excluded), 3 warm-up calls, "
          f"{args.repeats} timed repeats (each long enough to time, >= 2 ms), median. Architectures: "
          f"{args.archs} per space, stratified over MACs (seed {args.seed}), measured in random order; the model is "
          f"fitted on 70 % of them and scored on the other 30 % (held out), averaged over {args.splits} random "
          f"splits (mean +- sd). Shared machine: the 10-90 % spread column says how much repeated timings of one "
          f"network varied.", "",
          "| space | network | measured range (ms) | 10-90 % spread (median) | model Kendall tau | "
          "model median rel. error | look-up table alone tau / error | MACs Kendall tau | s per arch: compile + timing |",
          "|---|---|---|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        s, h = r["summary"], r["holdout"]
        md.append(f"| {r['space']} | {r['net']} | {s['min_ms']:.2f}-{s['max_ms']:.2f} | "
                  f"{100 * s['median_spread']:.0f} % | {h['kendall_tau']:.2f} +- {h['kendall_tau_sd']:.2f} | "
                  f"{100 * h['median_rel_error']:.0f} +- {100 * h['median_rel_error_sd']:.0f} % | "
                  f"{h['lut_kendall_tau']:.2f} / {100 * h['lut_median_rel_error']:.0f} % | "
                  f"{h['macs_kendall_tau']:.2f} +- {h['macs_kendall_tau_sd']:.2f} | "
                  f"{r['compile_s_per_arch']:.1f} + {r['measure_s_per_arch']:.1f} |")
    md += ["", "Held-out architectures per space: "
           + ", ".join(f"{r['space']} {r['holdout']['held_out']}" for r in rows)
           + ". Plots: `latency_<space>.png` (modelled vs measured on the held-out set; latency vs MACs).", ""]
    extra = {}
    for r in rows:
        src = args.out / f"latency_{r['space']}.png"
        extra[f"latency_{r['space']}.png"] = (lambda src: (lambda dst: io.write_with(
            dst, lambda tmp: tmp.write_bytes(src.read_bytes())) if dst != src else None))(src)
    config = {"spaces": spaces, "archs": args.archs, "batch": args.batch, "repeats": args.repeats,
              "nets": {k: NETS[k].record() for k in spaces}}
    records.save(records.Record(stem="latency_cpu", command=command, seed=args.seed, config=config,
                                data={"spaces": rows}, markdown="\n".join(md), extra=extra), args, RESULTS)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
