"""Rendering of Pareto summaries: terminal table, ``pareto.json`` and ``pareto.png``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.envs.scalarized import arch_costs
from l2nas_jax.report import plots as plotting
from l2nas_jax.wrappers.pareto import pareto_summary


def pareto_table(summary: dict[str, Any]) -> str:
    """A short text rendering of :func:`pareto_summary` for the terminal."""
    lines = [f"Pareto front ({summary['objectives']}) of all {summary['queries']} x {summary['num_seeds']} "
             f"queried architectures: {len(summary['front'])} points"]
    cost = summary.get("cost", "MACs (M)")
    unit = "M MACs" if cost == "MACs (M)" else " ms" if cost.startswith("latency") else f" {cost}"
    lines += [f"  {p['macs_M']:>10.3f}{unit}  {p['params_M']:>8.4f}M params  {p['accuracy']:>7.2f}  {p['arch']}"
              for p in summary["front"]]
    if "true_front" in summary:
        lines.append(f"true front (enumeration): {summary['true_front_size']} points, "
                     f"{summary['true_front_reached']} reached by the pooled runs; hypervolume "
                     f"{summary['hypervolume_ratio'] * 100:.1f}% of the true front's (per run: mean "
                     f"{summary['run_hypervolume_ratio_mean'] * 100:.1f}%, "
                     f"{summary['run_true_front_reached_mean']:.1f} points reached)")
    return "\n".join(lines)


def save_pareto_json(path: str, summary: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Write the summary (plus provenance ``meta``) atomically."""
    io.write_json(path, {**summary, "meta": meta or {}})


def write_pareto(env: Any, result: Any, json_path: str | os.PathLike, png_path: str | os.PathLike,
                 *, per_seed: bool = True) -> dict[str, Any]:
    """Write ``pareto.json`` (the summary + provenance) and ``pareto.png``; returns the summary."""
    summary = result.pareto if result.pareto is not None else pareto_summary(env, result)
    save_pareto_json(json_path, summary, meta=result.meta)
    _, macs = arch_costs(env, np.asarray(result.trajectory.archs))
    true = None
    if "true_front" in summary:
        true = ([p["macs_M"] for p in summary["true_front"]], [p["accuracy"] for p in summary["true_front"]])
    plotting.save_pareto_png(png_path, np.asarray(result.trajectory.report), macs, true_front=true,
                             per_seed=per_seed, title=f"{result.space} / {result.dataset}: {result.method}, "
                             f"{result.num_seeds} seeds x {result.queries} queries",
                             cost_label="MACs (M)" if summary.get("cost", "MACs (M)") == "MACs (M)" else summary["cost"])
    return summary
