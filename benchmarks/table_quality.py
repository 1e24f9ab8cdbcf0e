"""Search quality on generated NK-landscape tables: L2NAS vs REA vs random search (generic table spaces).

An NK landscape (Kauffman) over ``N`` categorical decisions with mixed choice counts: decision
``d`` contributes a random value looked up from its own choice and those of ``K`` other
decisions, the fitness is the mean contribution scaled to 0..100 (an "accuracy").  ``K`` tunes the
ruggedness: K=0 is separable, larger K is harder.  Each landscape is written as a CSV table,
loaded with :func:`l2nas_jax.spaces.table.load_table_space` and searched by each method for
``--seeds`` runs; the table reports mean final regret and the share of runs that reached the optimum.

Usage: python benchmarks/table_quality.py [--ks 0,2,4] [--counts 3,4,5,3,4,5,4] [--queries 300]
           [--seeds 50] [--methods l2nas,rea,random] [--out DIR] [--record]
Writes table_quality.md and table_quality.json into --out (benchmarks/results/ too with --record).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from l2nas_jax.api import run_method
from l2nas_jax.core import io
from l2nas_jax.envs.table import make_table_env
from l2nas_jax.spaces import register_space, unregister_space
from l2nas_jax.spaces.table import load_table_space

RESULTS = Path(__file__).resolve().parent / "results"


def nk_fitness(counts: tuple[int, ...], k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every architecture of the grid (``int[M, N]``, row order = grid id) and its NK fitness in 0..100."""
    rng = np.random.default_rng(seed)
    n = len(counts)
    if not 0 <= k < n:
        raise ValueError(f"K must lie in [0, {n - 1}], got {k}")
    archs = np.asarray(list(itertools.product(*(range(c) for c in counts))), np.int64)
    total = np.zeros(len(archs))
    for d in range(n):
        others = rng.choice([j for j in range(n) if j != d], size=k, replace=False) if k else np.array([], int)
        deps = [d, *others.tolist()]
        table = rng.uniform(size=[counts[j] for j in deps])
        total += table[tuple(archs[:, j] for j in deps)]
    fit = total / n
    fit = 100 * (fit - fit.min()) / (fit.max() - fit.min())
    return archs, fit


def write_table(path: Path, counts: tuple[int, ...], k: int, seed: int) -> None:
    """The landscape as a table file: ``d0..`` decisions, ``valid`` (search) and ``test`` (report, small noise)."""
    archs, fit = nk_fitness(counts, k, seed)
    rng = np.random.default_rng(seed + 1)
    test = np.clip(fit + rng.normal(0, 0.5, len(fit)), 0, 100)

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([f"d{i}" for i in range(len(counts))] + ["valid", "test"])
            for a, v, t in zip(archs, fit, test):
                w.writerow([*a.tolist(), f"{v:.5f}", f"{t:.5f}"])

    io.write_with(path, _write)


def run(ks: list[int], counts: tuple[int, ...], queries: int, seeds: int, methods: list[str]) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            path = Path(tmp) / f"nk_k{k}.csv"
            write_table(path, counts, k, seed=100 + k)
            name = f"nk_k{k}"
            space, _ = load_table_space(path, search_metric="valid", report_metric="test", name=name)
            register_space(name, lambda s=space: s)
            try:
                for method in methods:
                    env = make_table_env(space, space.datasets[0])
                    t = time.perf_counter()
                    r = run_method(env, method, queries=queries, seeds=seeds, seed=0)
                    regret = r.optimum - np.asarray(r.best_report)
                    rows.append({"k": k, "method": method, "mean_regret": float(regret.mean()),
                                 "sem_regret": float(regret.std(ddof=1) / np.sqrt(seeds)) if seeds > 1 else 0.0,
                                 "reached_optimum": float(np.mean(regret <= 1e-4)), "wall_s": time.perf_counter() - t})
                    print(f"K={k} {method}: regret {rows[-1]['mean_regret']:.3f}", file=sys.stderr)
            finally:
                unregister_space(name)
    return {"counts": list(counts), "grid": int(np.prod(counts)), "queries": queries, "seeds": seeds, "rows": rows}


def markdown(res: dict) -> str:
    title = (f"# NK-landscape tables: grid {' x '.join(map(str, res['counts']))} = {res['grid']} archs, "
             f"{res['queries']} queries, {res['seeds']} seeds")
    lines = [title, "",
             "| K | method | mean regret (± s.e.) | reached optimum |", "|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['k']} | {r['method']} | {r['mean_regret']:.3f} ± {r['sem_regret']:.3f} | "
                     f"{100 * r['reached_optimum']:.0f} % |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="0,2,4")
    p.add_argument("--counts", default="3,4,5,3,4,5,4")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--methods", default="l2nas,rea,random")
    p.add_argument("--out", default="table_quality_out")
    p.add_argument("--record", action="store_true", help="also write into benchmarks/results/")
    a = p.parse_args(argv)
    res = run([int(k) for k in a.ks.split(",")], tuple(int(c) for c in a.counts.split(",")), a.queries, a.seeds,
              a.methods.split(","))
    for d in [Path(a.out)] + ([RESULTS] if a.record else []):
        io.write_json(d / "table_quality.json", res)
        io.write_text(d / "table_quality.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
