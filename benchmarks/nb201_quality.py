"""Search quality on NAS-Bench-201: every method on all three datasets, same seeds and budgets.

Runs :func:`l2nas_jax.experiments.compare.compare` per dataset, prints each table, and writes
``nb201_quality.md`` and ``.json`` (seed, method configs, versions, device, per-seed best
accuracy at each budget) into ``--out``; ``--record`` also updates ``benchmarks/results/``.  Defaults: 20 seeds,
1000 queries, methods l2nas, rea, random, reinforce, ls (local search).

    python benchmarks/nb201_quality.py                       # full run
    python benchmarks/nb201_quality.py --seeds 4 --queries 200 --methods rea,random
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from l2nas_jax.cli.common import parse_budgets, parse_list
from l2nas_jax.core.provenance import provenance
from l2nas_jax.experiments.compare import DEFAULT_BUDGETS, DEFAULT_METHODS, check_methods, compare
from l2nas_jax.report import records
from l2nas_jax.spaces.nb201.table import DATASETS, check_dataset

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated NB201 datasets (default: all)")
    p.add_argument("--methods", default=",".join((*DEFAULT_METHODS, "ls")), help="comma-separated methods")
    p.add_argument("--seeds", type=int, default=20, help="runs per method and dataset (default: 20)")
    p.add_argument("--queries", type=int, default=1000, help="queries per run (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    p.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), help="table budgets")
    p.add_argument("--noise-sigma", type=float, default=0.0, help="noise on the search metric (default: 0)")
    p.add_argument("--stem", default="nb201_quality", help="file stem of the results (default nb201_quality)")
    records.add_output_args(p, "nb201_quality")
    p.add_argument("--save-dirs", type=Path, default=None,
                   help="also save each dataset's full compare output (curves, plots) under DIR/<dataset>")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    datasets = [check_dataset(d) for d in parse_list(args.datasets, "dataset")]
    methods = check_methods(parse_list(args.methods, "method"))
    budgets = parse_budgets(args.budgets)
    command = records.command_line("benchmarks/nb201_quality.py", argv)
    t0 = time.perf_counter()
    sections, per_dataset = [], {}
    for ds in datasets:
        print(f"== {ds}", file=sys.stderr, flush=True)
        r = compare(("nb201", ds), methods, queries=args.queries, seeds=args.seeds, seed=args.seed,
                    budgets=budgets, noise_sigma=args.noise_sigma,
                    progress=lambda m, n: print(f"  {m}: {n}/{args.queries}", file=sys.stderr, flush=True))
        print(r.table() + "\n", flush=True)
        sections.append(r.to_markdown())
        data = r.to_json(curves=False)
        data.pop("provenance")
        per_dataset[ds] = data
        if args.save_dirs is not None:
            r.save(args.save_dirs / ds)
    prov = provenance()
    dev = prov["device"]
    date = records.utc_now()
    header = [
        "# NAS-Bench-201 search quality",
        "",
        f"{args.seeds} seeds x {args.queries} queries per method and dataset, base seed {args.seed}; "
        f"methods: {', '.join(methods)}. Best reported (test) accuracy of the incumbent, chosen by the "
        "search metric, mean ± std over seeds; 'reached optimum' counts runs whose incumbent is the table "
        "optimum after the last query; 'queries to optimum' averages over those runs only; 'wall s' "
        "includes compilation.",
        "",
        f"Generated {date} by `{command}` in {time.perf_counter() - t0:.0f} s on {dev['device_kind']} "
        f"({dev['backend']}, {dev['platform']}); jax {prov['versions']['jax']}. "
        f"Raw numbers: `{args.stem}.json`.",
        "",
    ]
    record = records.Record(
        stem=args.stem, command=command, seed=args.seed,
        config={"num_seeds": args.seeds, "queries": args.queries, "methods": list(methods), "budgets": list(budgets),
                "noise_sigma": args.noise_sigma, "datasets": datasets},
        data={"num_seeds": args.seeds, "queries": args.queries, "methods": list(methods),
              "noise_sigma": args.noise_sigma, "datasets": per_dataset},
        markdown="\n".join(header) + "\n" + "\n".join(sections))
    records.save(record, args, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
