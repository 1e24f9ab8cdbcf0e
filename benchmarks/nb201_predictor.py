"""Accuracy predictor on NAS-Bench-201: fit an MLP on N random cells, rank the held-out rest, search it.

Fits :func:`l2nas_jax.envs.predictor.fit_predictor` (default 3 x 400 MLP, 2000 Adam steps) on
``--train`` distinct random cells of the table (CIFAR-10 test accuracy, the embedded
table's only metric), and reports Spearman rho, Kendall tau-b and RMSE on every
other cell, plus how good the predictor's top cells really are.  Then searches the
predictor (:class:`~l2nas_jax.envs.predictor.PredictorEnv`) with L2NAS and looks the
found cells up in the table.  Writes ``nb201_predictor.md`` and ``.json`` into ``--out``
(``--record``: also ``benchmarks/results/``); ``--save FILE`` keeps the fitted predictor (``l2nas search --predictor FILE``).

    python benchmarks/nb201_predictor.py
    python benchmarks/nb201_predictor.py --train 200 --steps 500 --save /tmp/pred.npz
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Sequence

import jax
import numpy as np

from l2nas_jax.api import build_env, run_method
from l2nas_jax.envs.predictor import fit_predictor, make_predictor_env, rank_correlations, save_predictor
from l2nas_jax.core.provenance import provenance
from l2nas_jax.report import records

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--train", type=int, default=1000, help="training cells (default 1000)")
    p.add_argument("--hidden", default="400,400,400")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--search-seeds", type=int, default=8)
    p.add_argument("--search-queries", type=int, default=300)
    p.add_argument("--save", type=Path, default=None, help="also save the fitted predictor here")
    records.add_output_args(p, "nb201_predictor")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = records.command_line("benchmarks/nb201_predictor.py", argv)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    t0 = time.perf_counter()
    env = build_env("nb201", args.dataset)
    k_split, k_fit = jax.random.split(jax.random.key(args.seed))
    perm = np.asarray(jax.random.permutation(k_split, env.num_archs))
    train, held = perm[: args.train], perm[args.train:]
    archs = np.asarray(env.enumerate_archs())
    enc = np.asarray(jax.vmap(env.encode)(archs))
    acc = np.asarray(env.report_acc)
    t_fit = time.perf_counter()
    pred, fit = fit_predictor(enc[train], acc[train], k_fit, hidden=hidden, steps=args.steps, lr=args.lr)
    fit_s = time.perf_counter() - t_fit
    allp = np.asarray(jax.jit(pred.__call__)(enc))
    held_m = rank_correlations(allp[held], acc[held])
    top = np.argsort(-allp[held])[:10]
    true_rank = np.argsort(np.argsort(-acc))  # 0 = table optimum
    prov = provenance()
    meta = {"space": "nb201", "dataset": args.dataset, "metric": "test accuracy (%)", "train_size": args.train,
            "train_seed": args.seed, "fit": fit, "heldout": held_m, "steps": args.steps, "lr": args.lr,
            "provenance": prov, "y_max": float(acc[train].max())}
    if args.save is not None:
        save_predictor(args.save, pred, meta)
    penv = make_predictor_env(pred, env, meta, source=str(args.save or "in memory"))
    r = run_method(penv, "l2nas", queries=args.search_queries, seeds=args.search_seeds, seed=args.seed)
    found = [env.string_to_arch(a) for a in r.best_archs]
    found_true = np.array([float(env.report(a)) for a in found])
    found_rank = np.array([int(true_rank[int(env.arch_id(a))]) for a in found])
    best_pred = int(np.argmax(allp))
    results = {
        "heldout": {**held_m, "num_cells": int(held.size)},
        "train": fit,
        "fit_seconds": fit_s,
        "heldout_top10_by_prediction": {
            "true_accuracy_mean": float(acc[held][top].mean()),
            "best_true_rank": int(true_rank[held][top].min()),
        },
        "predictor_argmax": {"arch": env.arch_to_string(archs[best_pred]), "predicted": float(allp[best_pred]),
                             "true": float(acc[best_pred]), "true_rank": int(true_rank[best_pred])},
        "search_on_predictor": {
            "method": "l2nas", "seeds": args.search_seeds, "queries": args.search_queries,
            "predicted_best_mean": float(r.best_report.mean()),
            "true_accuracy_of_found": found_true.round(4).tolist(),
            "true_rank_of_found": found_rank.tolist(),
            "table_optimum": float(env.optimum),
        },
    }
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    dev = prov["device"]
    s = results["search_on_predictor"]
    md = [
        "# NAS-Bench-201: MLP accuracy predictor",
        "",
        f"{args.dataset} test accuracy; MLP {'x'.join(map(str, hidden))} on the flattened 6x5 one-hot, "
        f"{args.steps} Adam steps (lr {args.lr:g}, cosine), fitted on {args.train} distinct random cells "
        f"(seed {args.seed}); evaluated on the other {held.size} cells.",
        "",
        f"Generated {date} by `{command}` in {time.perf_counter() - t0:.0f} s on {dev['device_kind']} "
        f"({dev['backend']}); jax {prov['versions']['jax']}. Fit: {fit_s:.1f} s including compilation.",
        "",
        "| cells | Spearman rho | Kendall tau-b | RMSE (points) |",
        "|---|---:|---:|---:|",
        f"| train ({args.train}) | {fit['train_spearman']:.3f} | {fit['train_kendall_tau']:.3f} | "
        f"{fit['train_rmse']:.2f} |",
        f"| held out ({held.size}) | {held_m['spearman']:.3f} | {held_m['kendall_tau']:.3f} | {held_m['rmse']:.2f} |",
        "",
        f"The 10 held-out cells the predictor ranks highest have mean true accuracy "
        f"{results['heldout_top10_by_prediction']['true_accuracy_mean']:.2f}; the best of them is number "
        f"{results['heldout_top10_by_prediction']['best_true_rank'] + 1} of 15,625 in the table. The predictor's "
        f"argmax over all cells predicts {allp[best_pred]:.2f} and is really {acc[best_pred]:.2f} (rank "
        f"{true_rank[best_pred] + 1}).",
        "",
        f"L2NAS on the predictor ({s['seeds']} seeds x {s['queries']} queries, `PredictorEnv`): predicted best "
        f"{s['predicted_best_mean']:.2f} on average; the found cells' true accuracies are "
        f"{', '.join(f'{v:.2f}' for v in found_true)} (table ranks {', '.join(str(k + 1) for k in found_rank)}; "
        f"table optimum {env.optimum:.2f}).",
        "",
    ]
    config = {k: (str(v) if isinstance(v, Path) or v is None else v) for k, v in vars(args).items()
              if k not in ("out", "record")}
    records.save(records.Record(stem="nb201_predictor", command=command, seed=args.seed, config=config,
                                data=results, markdown="\n".join(md)), args, RESULTS)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
