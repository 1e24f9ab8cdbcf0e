"""Does a hardware-reduced NB201 space give a better accuracy-vs-*measured*-latency front at the same budget?

Fits the latency model on NB201 measurements of this machine (``--measurements``: the file
``benchmarks/latency_cpu.py`` writes, measured here when missing), reduces the space
(:mod:`l2nas_jax.latency.reduce`: choices slower and no more accurate than another choice of
their edge are dropped; accuracy scored on ``--reduce-from``'s table, a *different* dataset from
the one searched, so the reduced search has not seen the searched table), then runs the Pareto
search (accuracy vs modelled latency, ``--pareto latency``) on ``--dataset`` in the full and in the
reduced space with the same seeds and budget.  Every architecture on any run's front is then
**measured** on this machine; each run's front is scored by its hypervolume in (test accuracy,
measured latency) against one reference point shared by both arms.  Writes ``latency_reduce.md`` /
``.json`` into ``--out`` (``--record``: also ``benchmarks/results/``).

    python benchmarks/latency_reduce.py
    python benchmarks/latency_reduce.py --seeds 4 --queries 100     # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from l2nas_jax.api import build_env, run_method
from l2nas_jax.core.pareto import hypervolume, pareto_front
from l2nas_jax.latency import measure, model as lm, reduce as reduce_lib
from l2nas_jax.report import records
from l2nas_jax.spaces import get_space

RESULTS = Path(__file__).resolve().parent / "results"
#: The "useful" hypervolume counts only networks within this many accuracy points of the table optimum.
USEFUL = 5.0
DEFAULT_MEASUREMENTS = Path("runs") / "benchmarks" / "latency_cpu" / "latency_nb201.measurements.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--measurements", type=Path, default=DEFAULT_MEASUREMENTS,
                   help="NB201 latency measurements of this machine (measured with 60 archs if missing)")
    p.add_argument("--dataset", default="cifar100", help="the dataset searched (default cifar100)")
    p.add_argument("--reduce-from", default="cifar10", help="the table that scores the choices (default cifar10)")
    p.add_argument("--methods", default="l2nas,random")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    records.add_output_args(p, "latency_reduce")
    return p.parse_args(argv)


def _earlier_measurements(path: Path, measurements: Path) -> dict[str, float]:
    """Front latencies measured by an earlier run into the same --out with the same model data (else none)."""
    import json

    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return dict(old.get("measured_ms", {})) if old.get("config", {}).get("measurements") == str(measurements) else {}


def run_fronts(env: Any, method: str, args: argparse.Namespace) -> list[list[str]]:
    """Each seed's front (in modelled latency) of one Pareto search, as architecture strings."""
    r = run_method(env, method, queries=args.queries, seeds=args.seeds, seed=args.seed, pareto=True)
    return [[p["arch"] for p in run["front"]] for run in r.pareto["runs"]]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = records.command_line("benchmarks/latency_reduce.py", argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    space = get_space("nb201")
    data = measure.measure_archs(space, args.measurements, num_archs=60, seed=args.seed,
                                 progress=lambda d, t: print(f"  measured {d}/{t}", file=sys.stderr, flush=True))
    model = lm.fit(space, data["records"], seed=args.seed, meta={"measured_with": data["settings"]})
    model_file = args.out / "nb201_latency_model.npz"
    lm.save_model(model, model_file)
    lat = reduce_lib.choice_latency(model.lut, space.alpha_shape)
    acc = reduce_lib.table_accuracy(space, args.reduce_from)
    keep = reduce_lib.reduce_choices(lat, acc)
    gone = reduce_lib.dropped(keep, space.choice_names)
    envs = {"full": build_env("nb201", args.dataset, latency_model=model_file, pareto_column="latency"),
            "reduced": build_env("nb201", args.dataset, latency_model=model_file, pareto_column="latency",
                                 reduce_space=args.reduce_from)}
    table = build_env("nb201", args.dataset)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    fronts = {(m, arm): run_fronts(envs[arm], m, args) for m in methods for arm in envs}
    archs = sorted({a for fs in fronts.values() for f in fs for a in f})
    measured = _earlier_measurements(args.out / "latency_reduce.json", args.measurements)
    todo = [a for a in archs if a not in measured]
    print(f"measuring {len(todo)} front architectures ({len(archs) - len(todo)} measured by an earlier run) ...",
          file=sys.stderr)
    for i, a in enumerate(todo):
        measured[a] = measure.measure_arch(space, a, batch=int(data["settings"]["batch"]),
                                           net=measure.net_spec(data["settings"]["net"]),
                                           repeats=int(data["settings"]["repeats"]))["median_ms"]
        print(f"  {i + 1}/{len(todo)}", file=sys.stderr, flush=True)
    measured = {a: measured[a] for a in archs}
    accuracy = {a: float(table.report(table.string_to_arch(a))) for a in archs}
    ref_acc = min(accuracy.values()) - 1.0
    ref_useful = float(table.optimum) - USEFUL
    ref_lat = max(measured.values()) * 1.05
    rows, data_out = [], {}
    for (m, arm), fs in fronts.items():
        hv = [hypervolume(np.array([accuracy[a] for a in f]), np.array([measured[a] for a in f]), ref_acc, ref_lat)
              for f in fs]
        hv_useful = [hypervolume(np.array([accuracy[a] for a in f]), np.array([measured[a] for a in f]), ref_useful,
                                 ref_lat) for f in fs]
        pooled = sorted({a for f in fs for a in f})
        pa, pl = np.array([accuracy[a] for a in pooled]), np.array([measured[a] for a in pooled])
        front = pareto_front(pa, pl)
        data_out[f"{m}/{arm}"] = {"run_hypervolumes": hv, "run_hypervolumes_useful": hv_useful, "run_fronts": fs,
                                  "pooled_hypervolume": hypervolume(pa, pl, ref_acc, ref_lat),
                                  "pooled_front": [{"arch": pooled[i], "accuracy": pa[i], "measured_ms": pl[i]}
                                                   for i in front]}
        rows.append((m, arm, float(np.mean(hv)), float(np.std(hv) / np.sqrt(len(hv))),
                     data_out[f"{m}/{arm}"]["pooled_hypervolume"], len(front), float(np.mean(hv_useful)),
                     float(np.std(hv_useful) / np.sqrt(len(hv_useful)))))
    wall = time.perf_counter() - t0
    md = ["# NB201: searching a hardware-reduced space vs the full space", "",
          f"Generated {records.utc_now()} by `{command}` in {wall:.0f} s. Latency model fitted on "
          f"{len(data['records'])} measured networks of this machine ({data['settings']['device_kind']}, batch "
          f"{data['settings']['batch']}, the benchmark network). Space reduced with {args.reduce_from}'s table "
          f"(test accuracy: the embedded table's only metric), searched on {args.dataset}: the reduction has not "
          f"seen the searched table. Dropped {len(gone)} of {keep.size} choices: {', '.join(gone) or 'none'}.", "",
          f"Pareto search (accuracy vs modelled latency, `--pareto latency`), {args.seeds} seeds x {args.queries} "
          f"queries per arm, the same seeds. Every front architecture ({len(archs)}) was then measured; "
          f"hypervolume in ({args.dataset} test accuracy, measured latency in ms) with the reference latency "
          f"{ref_lat:.3f} ms shared by all arms, and two reference accuracies: {ref_acc:.2f} % (every front point "
          f"counts) and {ref_useful:.2f} % (the table optimum - {USEFUL:g}: only useful networks count). Higher is "
          f"better.", "",
          "| method | space | hypervolume per run (mean +- s.e.) | useful part per run (mean +- s.e.) | "
          "pooled front's hypervolume | pooled front size |",
          "|---|---|---:|---:|---:|---:|"]
    md += [f"| {m} | {arm} | {hv:.1f} +- {se:.1f} | {hu:.2f} +- {su:.2f} | {ph:.1f} | {n} |"
           for m, arm, hv, se, ph, n, hu, su in rows]
    verdict = []
    for m in methods:
        full = next(r for r in rows if r[0] == m and r[1] == "full")
        red = next(r for r in rows if r[0] == m and r[1] == "reduced")
        for what, i, j in (("whole front", 2, 3), ("useful part", 6, 7)):
            margin = 2 * max(red[j], full[j])
            word = "a better" if red[i] > full[i] + margin else "a worse" if red[i] < full[i] - margin else \
                "no clearly different"
            verdict.append(f"{m}, {what}: the reduced space gives {word} front per run ({red[i]:.2f} vs "
                           f"{full[i]:.2f}; 'clearly' = more than 2 standard errors apart).")
    md += ["", *verdict, ""]
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "record")}
    records.save(records.Record(stem="latency_reduce", command=command, seed=args.seed, config=config,
                                data={"dropped": gone, "arms": data_out, "reference": [ref_acc, ref_lat],
                                      "measured_ms": measured}, markdown="\n".join(md)), args, RESULTS)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
