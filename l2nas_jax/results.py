"""Typed search results: per-seed summaries, a printable table, and JSON I/O."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.trajectory import Trajectory

#: Decimals kept for accuracies in JSON files (the table has 4).
CURVE_DECIMALS = 4
#: Two reported values closer than this count as equal (table values have 4 decimals).
OPTIMUM_TOL = 1e-3


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """The outcome of one method on one environment for a batch of seeds.

    ``curves[s, t]`` is the reported metric of seed ``s``'s incumbent after ``t + 1``
    queries (the incumbent is chosen by the *search* metric).

    A constrained run (:mod:`l2nas_jax.envs.constrained`) also has ``constraint`` (the
    budget, how infeasible architectures are handled, the constrained optimum) and
    ``feasible[s, t]`` (query ``t`` of seed ``s`` was within budget).  A seed that
    never queried a feasible architecture has ``best_archs[s] = None``: its curve
    holds penalty values (negative), not an architecture to use.
    """

    method: str
    space: str
    dataset: str
    queries: int
    seed: int
    num_seeds: int
    optimum: float
    search_metric: str
    report_metric: str
    trajectory: Trajectory  # NumPy arrays, leading seed axis
    best_archs: list[str]
    config: dict[str, Any]
    metrics: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    constraint: dict[str, Any] | None = None
    feasible: np.ndarray | None = None  # bool[S, T] per query; None when unconstrained
    pareto: dict[str, Any] | None = None  # l2nas_jax.wrappers.pareto.pareto_summary of a --pareto run

    @property
    def incumbent_feasible(self) -> np.ndarray:
        """``bool[S]``: each seed's final incumbent is within budget (always True when unconstrained)."""
        if self.feasible is None:
            return np.ones(self.num_seeds, bool)
        idx = np.asarray(self.trajectory.incumbent_index)[:, -1]
        return np.asarray(self.feasible)[np.arange(self.num_seeds), idx]

    @property
    def feasible_queries(self) -> np.ndarray:
        """Number of queries per seed that were within budget (all of them when unconstrained)."""
        if self.feasible is None:
            return np.full(self.num_seeds, self.queries)
        return np.asarray(self.feasible).sum(axis=1)

    @property
    def curves(self) -> np.ndarray:
        return np.asarray(self.trajectory.incumbent_report)

    @property
    def best_report(self) -> np.ndarray:
        """Reported metric of each seed's final incumbent, ``float[S]``."""
        return self.curves[:, -1]

    @property
    def queries_to_best(self) -> np.ndarray:
        """1-based query at which each seed first found its final incumbent."""
        return np.asarray(self.trajectory.incumbent_index)[:, -1] + 1

    @property
    def repeats(self) -> np.ndarray:
        """Number of queries per seed spent on already-queried architectures."""
        return np.asarray(self.trajectory.is_repeat).sum(axis=1)

    def best_at(self, budget: int) -> np.ndarray:
        """Reported metric of each seed's incumbent after ``budget`` queries."""
        if not 1 <= budget <= self.queries:
            raise ValueError(f"budget {budget} outside [1, {self.queries}]")
        return self.curves[:, budget - 1]

    def reached_optimum(self, budget: int | None = None) -> np.ndarray:
        """``bool[S]``: incumbent's reported metric equals the table optimum by ``budget``."""
        return self.best_at(budget or self.queries) >= self.optimum - OPTIMUM_TOL

    def queries_to_optimum(self) -> np.ndarray:
        """1-based query at which the optimum was first the incumbent (NaN where never)."""
        hit = self.curves >= self.optimum - OPTIMUM_TOL
        first = np.argmax(hit, axis=1).astype(float) + 1
        first[~hit.any(axis=1)] = np.nan
        return first

    def table(self) -> str:
        """Per-seed table plus a mean +- std line, for the terminal."""
        c = self.constraint
        if not np.isfinite(self.optimum):
            optimum = "optimum unknown"
        elif c is None:
            optimum = f"optimum {self.optimum:.2f}"
        else:
            how = "exact, by enumeration" if c["optimum_exact"] else "unconstrained optimum: an upper bound"
            optimum = f"constrained optimum {self.optimum:.2f} ({how})"
        lines = [f"{self.method} on {self.space}/{self.dataset}: {self.queries} queries x {self.num_seeds} seeds "
                 f"(search metric: {self.search_metric}; reported: {self.report_metric}; {optimum})"]
        if c is not None:
            lines.append(f"constraint: {c['description']}; infeasible architectures get a penalty "
                         f"({c['handling'].split(': ', 1)[1]})")
        header = f"{'run':>4}  {'best ' + self.report_metric:>12}  {'at query':>8}  {'repeats':>7}  arch"
        lines += [header, "-" * len(header)]
        ok = self.incumbent_feasible
        for s in range(self.num_seeds):
            if ok[s]:
                lines.append(f"{s:>4}  {self.best_report[s]:>12.2f}  {self.queries_to_best[s]:>8d}  "
                             f"{self.repeats[s]:>7d}  {self.best_archs[s]}")
            else:
                lines.append(f"{s:>4}  {'-':>12}  {'-':>8}  {self.repeats[s]:>7d}  NO FEASIBLE ARCHITECTURE QUERIED "
                             f"(all {self.queries} queries over budget)")
        lines.append("-" * len(header))
        if not ok.any():
            lines.append(f"no run queried an architecture within budget ({c['description'] if c else ''})")
            return "\n".join(lines)
        b = self.best_report[ok]
        reached = (f"reached {'constrained ' if c else ''}optimum: {self.reached_optimum().mean() * 100:.0f}% of runs; "
                   if np.isfinite(self.optimum) else "")
        lines.append(f"mean  {b.mean():>12.2f}  +- {b.std():.2f}   {reached}"
                     f"mean queries to best {self.queries_to_best[ok].mean():.0f}")
        if not ok.all():
            lines.append(f"{int((~ok).sum())} of {self.num_seeds} runs queried no feasible architecture "
                         "(mean over the others)")
        if self.pareto is not None:
            lams = ", ".join(f"{r['lambda']:.2g}" for r in self.pareto["runs"])
            lines.append(f"pareto mode: run s's incumbent maximizes accuracy - lambda_s * log2(MACs), lambda = "
                         f"[{lams}]; see the front below, not the optimum")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out = self._base_json()
        if "reevaluated" in self.metrics:  # queries spent re-measuring (wrappers.reevaluate)
            for s, run in enumerate(out["runs"]):
                run["reevaluations"] = int(np.asarray(self.metrics["reevaluated"])[s].sum())
        if self.constraint is not None:
            ok = self.incumbent_feasible
            out["constraint"] = {**self.constraint, "runs_with_feasible_incumbent": int(ok.sum()),
                                 "feasible_queries_mean": float(self.feasible_queries.mean())}
            b = self.best_report[ok]
            out["summary"].update(best_mean=float(b.mean()) if ok.any() else None,
                                  best_std=float(b.std()) if ok.any() else None,
                                  feasible_runs_fraction=float(ok.mean()))
            for s, run in enumerate(out["runs"]):
                run.update(feasible=bool(ok[s]), feasible_queries=int(self.feasible_queries[s]))
                if not ok[s]:
                    run.update(best_arch=None, best_report=None, queries_to_best=None)
        if self.pareto is not None:
            keys = ("scalarization", "lambda_range", "hypervolume", "hypervolume_ratio", "true_front_size",
                    "true_front_reached")
            out["pareto"] = {k: self.pareto[k] for k in keys if k in self.pareto}
            out["pareto"]["front_size"] = len(self.pareto["front"])
            for run, pr in zip(out["runs"], self.pareto["runs"]):
                run["lambda"] = pr.get("lambda")
        return out

    def _base_json(self) -> dict[str, Any]:
        t = self.trajectory
        return {
            "method": self.method,
            "space": self.space,
            "dataset": self.dataset,
            "queries": self.queries,
            "seed": self.seed,
            "num_seeds": self.num_seeds,
            "optimum": float(self.optimum) if np.isfinite(self.optimum) else None,  # None: unknown (supernet)
            "search_metric": self.search_metric,
            "report_metric": self.report_metric,
            "config": self.config,
            "meta": self.meta,
            "summary": {
                "best_mean": float(self.best_report.mean()),
                "best_std": float(self.best_report.std()),
                "reached_optimum_fraction": float(self.reached_optimum().mean()) if np.isfinite(self.optimum) else None,
            },
            "runs": [
                {
                    "run": s,
                    "best_arch": self.best_archs[s],
                    "best_report": float(self.best_report[s]),
                    "queries_to_best": int(self.queries_to_best[s]),
                    "repeats": int(self.repeats[s]),
                    "curve": np.round(self.curves[s], CURVE_DECIMALS).tolist(),
                    "observed": np.round(np.asarray(t.observed)[s], CURVE_DECIMALS).tolist(),
                }
                for s in range(self.num_seeds)
            ],
        }

    def save_json(self, path: str | os.PathLike) -> None:
        io.write_json(path, self.to_json())
