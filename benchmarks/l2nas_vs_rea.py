"""The issue-5 criteria, from the recorded quality results: L2NAS vs regularized evolution.

For each dataset (and each recorded noise level): mean best reported accuracy at 100
queries and the fraction of seeds whose incumbent is the table optimum by 500
queries, for L2NAS and REA, read from ``benchmarks/results/nb201_quality*.json``
(written by ``nb201_quality.py``).  Writes ``nb201_l2nas_vs_rea.md`` (and the inputs it read, as JSON)
into ``--out``; ``--record`` also updates ``benchmarks/results/``.

Usage: python benchmarks/l2nas_vs_rea.py [--record] [results.json ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from l2nas_jax.report import records

RESULTS = Path(__file__).parent / "results"


def criteria(ds: dict, method: str) -> tuple[float, float, int]:
    """(mean best @100, fraction at the optimum @500, seeds) of one method on one dataset."""
    budgets = ds["budgets"]
    best = np.asarray(ds["runs"][method]["best_at_budgets"])
    at100, at500 = best[:, budgets.index(100)], best[:, budgets.index(500)]
    return float(at100.mean()), float((at500 >= ds["optimum"] - ds["optimum_tol"]).mean()), best.shape[0]


def table(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = [f"### noise sigma = {data['noise_sigma']:g} ({data['num_seeds']} seeds, base seed {data['seed']}; "
             f"`{path.name}`)", "",
             "| dataset | L2NAS best @100 | REA best @100 | L2NAS at optimum @500 | REA at optimum @500 | both better |",
             "|---|---:|---:|---:|---:|:---:|"]
    for name, ds in data["datasets"].items():
        (l100, l500, n), (r100, r500, _) = criteria(ds, "l2nas"), criteria(ds, "rea")
        verdict = "yes" if l100 > r100 and l500 > r500 else "no"
        lines.append(f"| {name} | {l100:.2f} | {r100:.2f} | {l500 * n:.0f}/{n} | {r500 * n:.0f}/{n} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="*", type=Path, help="nb201_quality*.json files (default: the recorded ones)")
    records.add_output_args(p, "nb201_l2nas_vs_rea")
    args = p.parse_args(argv)
    paths = args.inputs or sorted(RESULTS.glob("nb201_quality*.json"))
    head = ["# L2NAS vs regularized evolution on NAS-Bench-201", "",
            "Criteria: mean best reported (test) accuracy at 100 queries, and runs whose incumbent is the "
            "table optimum by 500 queries; the reported accuracy is noise-free even when the search saw "
            "noisy rewards. REA: population 10, tournament 3, single-edge mutation (NB201 authors' settings).",
            ""]
    text = "\n".join(head) + "\n" + "\n".join(table(p) for p in paths)
    print(text)
    records.save(records.Record(stem="nb201_l2nas_vs_rea", command=records.command_line("benchmarks/l2nas_vs_rea.py",
                                                                                          argv),
                                seed=None, config={"inputs": [str(q) for q in paths]}, data={}, markdown=text),
                 args, RESULTS)


if __name__ == "__main__":
    main()
