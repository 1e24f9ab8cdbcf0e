"""Search quality on generated NK-landscape tables that no method was tuned on (generic table spaces).

An NK landscape (Kauffman) over ``N`` categorical decisions: decision ``d`` contributes a random
value looked up from its own choice and those of ``K`` other decisions; the fitness is the mean
contribution scaled to 0..100 (an "accuracy").  ``K`` tunes the ruggedness: K=0 is separable,
larger K is harder.  Three grids: mixed choice counts 3,4,5,3,4,5,4 (14,400 architectures),
4^8 (65,536) and 8^5 (32,768).

Each landscape is written as a CSV table with per-seed columns: ``acc_seed0..R-1`` are R
"trainings" (the fitness plus independent Gaussian noise of ``--run-noise`` points) -- a query
observes one of them, drawn per query, the realistic "each net is trained once" protocol -- and
``acc_mean`` is the fitness itself (the value the trainings scatter around, as the mean of many
trainings would be), which is what is reported.  Each table is searched by every method with
:func:`l2nas_jax.experiments.compare.compare` (same seeds, every query counted, default
configs: no retuning) and the record lists best reported value at each budget, the share of
runs that hold the optimum, and where L2NAS loses (behind the best other method by more than
two standard errors of the difference).

    python benchmarks/table_quality.py                        # full run, ~10 min on 2 CPU cores
    python benchmarks/table_quality.py --landscapes mixed --ks 2 --seeds 4 --queries 100
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from l2nas_jax.cli.common import parse_budgets, parse_list
from l2nas_jax.core import io
from l2nas_jax.core.provenance import provenance
from l2nas_jax.envs.table import make_table_env
from l2nas_jax.experiments.compare import check_methods, compare
from l2nas_jax.report import records
from l2nas_jax.report.tables import markdown_table
from l2nas_jax.spaces import register_space, unregister_space
from l2nas_jax.spaces.table import load_table_space

RESULTS = Path(__file__).resolve().parent / "results"
LANDSCAPES = {"mixed": (3, 4, 5, 3, 4, 5, 4), "4^8": (4,) * 8, "8^5": (8,) * 5}
BUDGETS = (25, 50, 100, 200, 500)


def nk_fitness(counts: tuple[int, ...], k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every architecture of the grid (``int[M, N]``, row order = grid id) and its NK fitness in 0..100."""
    rng = np.random.default_rng(seed)
    n = len(counts)
    if not 0 <= k < n:
        raise ValueError(f"K must lie in [0, {n - 1}] for {n} decisions, got {k}")
    archs = np.asarray(list(itertools.product(*(range(c) for c in counts))), np.int64)
    total = np.zeros(len(archs))
    for d in range(n):
        others = rng.choice([j for j in range(n) if j != d], size=k, replace=False) if k else np.array([], int)
        deps = [d, *others.tolist()]
        table = rng.uniform(size=[counts[j] for j in deps])
        total += table[tuple(archs[:, j] for j in deps)]
    fit = total / n
    return archs, 100 * (fit - fit.min()) / (fit.max() - fit.min())


def write_table(path: Path, counts: tuple[int, ...], k: int, seed: int, runs: int, run_noise: float) -> None:
    """The landscape as a table file: decisions ``d0..``, ``acc_seed*`` (one training each), ``acc_mean``."""
    archs, fit = nk_fitness(counts, k, seed)
    trainings = fit[:, None] + np.random.default_rng(seed + 1).normal(0, run_noise, (len(fit), runs))

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([f"d{i}" for i in range(len(counts))] + [f"acc_seed{r}" for r in range(runs)] + ["acc_mean"])
            for a, t, v in zip(archs, trainings, fit):
                w.writerow([*a.tolist(), *(f"{x:.4f}" for x in t), f"{v:.4f}"])

    io.write_with(path, _write)


def losses(summary: dict[str, Any], budgets: Sequence[int], num_seeds: int) -> list[dict[str, Any]]:
    """Budgets where L2NAS's mean is behind the best other method's by more than 2 standard errors."""
    out = []
    for i, b in enumerate(budgets):
        others = {m: s for m, s in summary.items() if m != "l2nas"}
        best = max(others, key=lambda m: others[m]["best_mean"][i])
        mine, theirs = summary["l2nas"], others[best]
        gap = theirs["best_mean"][i] - mine["best_mean"][i]
        se = np.sqrt((mine["best_std"][i] ** 2 + theirs["best_std"][i] ** 2) / num_seeds)
        if gap > 2 * se:
            out.append({"budget": int(b), "method": best, "gap": float(gap), "se": float(se)})
    return out


def run_landscape(name: str, counts: tuple[int, ...], k: int, args: argparse.Namespace, methods: Sequence[str],
                  budgets: Sequence[int], tmp: Path) -> Any:
    """Write, load and search one landscape with every method; the :class:`ComparisonResult`."""
    path = tmp / f"nk_{name.replace('^', 'p')}_k{k}.csv"
    write_table(path, counts, k, seed=100 + 10 * k + len(counts), runs=args.runs, run_noise=args.run_noise)
    space_name = path.stem
    space, _ = load_table_space(path, search_metric="acc_seed*", report_metric="acc_mean", name=space_name)
    register_space(space_name, lambda s=space: s)
    try:
        env = make_table_env(space, space.datasets[0])
        return compare(env, methods, queries=args.queries, seeds=args.seeds, seed=args.seed, budgets=budgets,
                       progress=lambda m, n: print(f"  {m}: {n}/{args.queries}", file=sys.stderr, flush=True))
    finally:
        unregister_space(space_name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--landscapes", default=",".join(LANDSCAPES), help=f"grids among {', '.join(LANDSCAPES)}")
    p.add_argument("--ks", default="0,2,4", help="ruggedness levels K (default 0,2,4)")
    p.add_argument("--runs", type=int, default=3, help="per-seed columns (trainings) per architecture (default 3)")
    p.add_argument("--run-noise", type=float, default=1.0, help="noise of one training, points (default 1.0)")
    p.add_argument("--methods", default="l2nas,rea,random,ls", help="comma-separated methods (l2nas first)")
    p.add_argument("--seeds", type=int, default=50, help="runs per method and landscape (default 50)")
    p.add_argument("--queries", type=int, default=500, help="queries per run (default 500)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="table budgets")
    p.add_argument("--stem", default="table_quality", help="file stem of the results (default table_quality)")
    records.add_output_args(p, "table_quality")
    args = p.parse_args(argv)
    unknown = [g for g in parse_list(args.landscapes, "landscape") if g not in LANDSCAPES]
    if unknown:
        p.error(f"unknown landscape(s) {', '.join(unknown)}: choose among {', '.join(LANDSCAPES)}")
    if args.runs < 1 or args.run_noise < 0 or args.seeds < 2:
        p.error("--runs must be >= 1, --run-noise >= 0 and --seeds >= 2 (standard errors need two runs)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    methods = check_methods(parse_list(args.methods, "method"))
    if methods[0] != "l2nas" or len(methods) < 2:
        raise SystemExit("--methods must start with l2nas and name at least one other method")
    budgets = tuple(b for b in parse_budgets(args.budgets) if b <= args.queries)
    ks = [int(k) for k in parse_list(args.ks, "K")]
    command = records.command_line("benchmarks/table_quality.py", argv)
    t0 = time.perf_counter()
    sections, cells, summary_rows, lost = [], {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in parse_list(args.landscapes, "landscape"):
            counts = LANDSCAPES[name]
            for k in ks:
                if k >= len(counts):
                    print(f"skip {name} K={k}: K must be below its {len(counts)} decisions", file=sys.stderr)
                    continue
                print(f"== {name} ({int(np.prod(counts))} archs) K={k}", file=sys.stderr, flush=True)
                r = run_landscape(name, counts, k, args, methods, budgets, Path(tmp))
                print(r.table() + "\n", flush=True)
                data = r.to_json(curves=False)
                data.pop("provenance")
                key = f"{name} K={k}"
                cells[key] = data
                sections.append(f"## {key}\n\n" + r.to_markdown())
                s = data["summary"]
                lose = losses(s, budgets, args.seeds)
                lost += [{"landscape": key, **x} for x in lose]
                others = [m for m in methods if m != "l2nas"]
                best_other = max(others, key=lambda m: s[m]["best_mean"][-1])
                summary_rows.append([
                    key, str(int(np.prod(counts))),
                    *(f"{s['l2nas']['best_mean'][i]:.2f}" for i in range(len(budgets))),
                    f"{100 * s['l2nas']['reached_fraction']:.0f} %",
                    f"{best_other}: " + " / ".join(f"{s[best_other]['best_mean'][i]:.2f}" for i in range(len(budgets))),
                    f"{100 * s[best_other]['reached_fraction']:.0f} %",
                ])
    prov = provenance()
    dev = prov["device"]
    loses_text = ("L2NAS is never behind the best other method by more than two standard errors."
                  if not lost else "Where L2NAS loses (behind by more than two standard errors of the difference): "
                  + "; ".join(f"{x['landscape']} @{x['budget']} to {x['method']} by {x['gap']:.2f} "
                              f"(s.e. {x['se']:.2f})" for x in lost) + ".")
    head = ["landscape", "archs", *(f"L2NAS @{b}" for b in budgets), "L2NAS at optimum",
            f"best other @{'/'.join(map(str, budgets))}", "its share at optimum"]
    header = [
        "# Search quality on NK-landscape tables (no method tuned on them)",
        "",
        f"{args.seeds} seeds x {args.queries} queries per method and landscape, base seed {args.seed}; methods: "
        f"{', '.join(methods)} with default configs. Each query observes one of {args.runs} trainings "
        f"(`acc_seed*`: the fitness plus N(0, {args.run_noise:g}^2) noise, drawn per query); the reported value is "
        "the fitness itself (`acc_mean`, the mean the trainings scatter around), 0..100, mean over seeds of the "
        "incumbent's value. 'At optimum': share of runs whose incumbent is the best architecture after the "
        "last query. 'Best other': the other method best at the last budget.",
        "",
        f"Generated {records.utc_now()} by `{command}` in {time.perf_counter() - t0:.0f} s on "
        f"{dev['device_kind']} ({dev['backend']}, {dev['platform']}); jax {prov['versions']['jax']}. "
        f"Raw numbers: `{args.stem}.json`.",
        "",
        markdown_table(head, summary_rows),
        "",
        loses_text,
        "",
    ]
    record = records.Record(
        stem=args.stem, command=command, seed=args.seed,
        config={"num_seeds": args.seeds, "queries": args.queries, "methods": list(methods), "budgets": list(budgets),
                "landscapes": {n: list(LANDSCAPES[n]) for n in parse_list(args.landscapes, "landscape")},
                "ks": ks, "runs": args.runs, "run_noise": args.run_noise},
        data={"cells": cells, "l2nas_loses": lost},
        markdown="\n".join(header) + "\n" + "\n".join(sections))
    records.save(record, args, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
