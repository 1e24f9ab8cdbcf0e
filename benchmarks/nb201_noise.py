"""Search under noisy evaluations on NAS-Bench-201: noise levels x datasets x methods x protocols x budgets.

Two protocols, each applied to every method alike (so the comparison stays fair):

* ``plain`` -- the incumbent is the best single noisy observation, no query is spent re-measuring
  (what every method did before the noise work: the winner's curse);
* ``denoised`` -- the incumbent is the best shrunk-mean estimate (``--incumbent denoised``) and up
  to one query in ``--every`` re-measures a top candidate (``--reevaluate``).

Noise settings: ``0.5`` is Gaussian noise with sigma 0.5 accuracy points on the search metric;
``hetero0.5`` is sigma 0.5 at the table's best network, growing with the error rate.  The table
reports test accuracy (the embedded table has no validation split), and the search sees the test
accuracy plus noise: the noise keeps the observed values apart from the reported ones.

Writes ``nb201_noise.md``/``.json`` (per-seed best reported accuracy at every budget) and one regret
plot per noise setting into ``--out`` (``--record``: also ``benchmarks/results/``).

    python benchmarks/nb201_noise.py --record                  # 50 seeds, 1000 queries (minutes)
    python benchmarks/nb201_noise.py --seeds 4 --queries 200 --noise 0.5 --datasets cifar10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from l2nas_jax.api import build_env, run_method
from l2nas_jax.cli.common import parse_budgets, parse_list
from l2nas_jax.experiments.compare import check_methods
from l2nas_jax.report import records
from l2nas_jax.report.tables import markdown_table
from l2nas_jax.spaces.nb201.table import DATASETS, check_dataset

RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOLS = ("plain", "denoised")


def parse_noise(text: str) -> tuple[str, float]:
    """``"0.5"`` -> ("gaussian", 0.5); ``"hetero0.5"`` -> ("hetero", 0.5)."""
    model = "hetero" if text.startswith("hetero") else "gaussian"
    try:
        sigma = float(text[len("hetero"):] if model == "hetero" else text)
    except ValueError:
        raise SystemExit(f"--noise: cannot parse {text!r} (e.g. 0.5 or hetero0.5)") from None
    if not sigma > 0:
        raise SystemExit(f"--noise: sigma must be > 0, got {text!r}")
    return model, sigma


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--noise", default="0.25,0.5,1.0,hetero0.5", help="noise settings (default 0.25,0.5,1.0,hetero0.5)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated NB201 datasets (default: all)")
    p.add_argument("--methods", default="l2nas,rea,ls,random", help="comma-separated methods")
    p.add_argument("--protocols", default=",".join(PROTOCOLS), help="plain, denoised (default: both)")
    p.add_argument("--every", type=int, default=4, help="denoised protocol: re-evaluate once every N queries (4)")
    p.add_argument("--seeds", type=int, default=50, help="runs per cell (default: 50)")
    p.add_argument("--queries", type=int, default=1000, help="queries per run (default: 1000)")
    p.add_argument("--seed", type=int, default=1000, help="base seed (default 1000: not the seeds used for tuning)")
    p.add_argument("--budgets", default="50,100,200,500,1000", help="table budgets")
    p.add_argument("--stem", default="nb201_noise", help="file stem of the results (default nb201_noise)")
    records.add_output_args(p, "nb201_noise")
    return p.parse_args(argv)


def run_cell(dataset: str, noise: tuple[str, float], method: str, protocol: str, args: argparse.Namespace) -> Any:
    env = build_env("nb201", dataset, noise_sigma=noise[1], noise_model=noise[0])
    denoised = protocol == "denoised"
    return run_method(env, method, queries=args.queries, seeds=args.seeds, seed=args.seed,
                      incumbent="denoised" if denoised else "observed", reevaluate=args.every if denoised else 0)


def regret_plot(curves: dict[str, dict[str, np.ndarray]], optimum: dict[str, float], title: str):
    """A writer of one figure: mean regret vs queries, one panel per dataset, one line per method/protocol."""

    def write(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from l2nas_jax.core import io

        fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
        for ax, (ds, lines) in zip(axes[0], curves.items()):
            for label, c in lines.items():
                ax.plot(np.arange(1, c.shape[1] + 1), np.maximum(optimum[ds] - c.mean(0), 1e-3), label=label,
                        ls="-" if label.endswith("denoised") else "--")
            ax.set_xscale("log"), ax.set_yscale("log")
            ax.set_title(ds), ax.set_xlabel("queries"), ax.set_ylabel("mean regret (test acc., points)")
            ax.grid(alpha=0.3, which="both")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        io.write_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
        plt.close(fig)

    return write


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    noises = [parse_noise(n) for n in parse_list(args.noise, "noise")]
    datasets = [check_dataset(d) for d in parse_list(args.datasets, "dataset")]
    methods = check_methods(parse_list(args.methods, "method"))
    protocols = parse_list(args.protocols, "protocol")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        raise SystemExit(f"--protocols: unknown {', '.join(bad)}; valid: {', '.join(PROTOCOLS)}")
    budgets = [b for b in parse_budgets(args.budgets) if b <= args.queries]
    command = records.command_line("benchmarks/nb201_noise.py", argv)
    t0 = time.perf_counter()
    rows, data, extra, sections = [], {}, {}, []
    for model, sigma in noises:
        name = f"{'hetero' if model == 'hetero' else ''}{sigma:g}"
        curves: dict[str, dict[str, np.ndarray]] = {}
        optimum: dict[str, float] = {}
        for ds in datasets:
            curves[ds] = {}
            for protocol in protocols:
                for m in methods:
                    t1 = time.perf_counter()
                    r = run_cell(ds, (model, sigma), m, protocol, args)
                    c = np.asarray(r.curves)
                    optimum[ds] = r.optimum
                    curves[ds][f"{m} {protocol}"] = c
                    best = {b: c[:, b - 1] for b in budgets}
                    data.setdefault(name, {}).setdefault(ds, {}).setdefault(protocol, {})[m] = {
                        str(b): [round(float(v), 4) for v in best[b]] for b in budgets}
                    rows.append([name, ds, protocol, m, *[f"{best[b].mean():.2f}" for b in budgets],
                                 f"{r.optimum - best[budgets[-1]].mean():.2f}"])
                    print(f"  noise {name} {ds} {protocol} {m}: " + " ".join(
                        f"@{b} {best[b].mean():.2f}" for b in budgets) + f" ({time.perf_counter() - t1:.0f} s)",
                        file=sys.stderr, flush=True)
        plot = f"{args.stem}_{name}.png"
        extra[plot] = regret_plot(curves, optimum, f"NB201, noise {name}: plain (dashed) vs denoised (solid)")
        sections.append(f"![regret, noise {name}]({plot})")
    headers = ["noise", "dataset", "protocol", "method", *[f"best @{b}" for b in budgets], f"regret @{budgets[-1]}"]
    header = [
        "# NAS-Bench-201 under noisy evaluations",
        "",
        f"{args.seeds} seeds x {args.queries} queries per cell, base seed {args.seed}. The search metric is the "
        "test accuracy plus noise (the embedded table has test accuracies only); the table reports the noise-free "
        "test accuracy of each run's incumbent, mean over seeds. `plain`: best single observation, no "
        f"re-evaluation; `denoised`: best shrunk-mean estimate and up to one re-evaluation of a top-5 candidate "
        f"every {args.every} queries (both count toward the budget, for every method alike). Noise `hetero0.5`: "
        "sigma 0.5 at the best network, growing with the error rate.",
        "",
        f"Generated {records.utc_now()} by `{command}` in {time.perf_counter() - t0:.0f} s.",
        "",
    ]
    record = records.Record(
        stem=args.stem, command=command, seed=args.seed,
        config={"num_seeds": args.seeds, "queries": args.queries, "methods": list(methods), "budgets": budgets,
                "noise": [f"{m}:{s:g}" for m, s in noises], "datasets": datasets, "protocols": protocols,
                "every": args.every},
        data={"best_report_per_seed": data},
        markdown="\n".join(header) + "\n" + markdown_table(headers, rows) + "\n\n" + "\n\n".join(sections) + "\n",
        extra=extra)
    records.save(record, args, RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
