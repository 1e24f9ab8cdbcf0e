"""Typed search results: per-seed summaries, a printable table, and JSON I/O."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from l2nas_jax import io
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
        lines = [f"{self.method} on {self.space}/{self.dataset}: {self.queries} queries x {self.num_seeds} seeds "
                 f"(search metric: {self.search_metric}; reported: {self.report_metric}; optimum {self.optimum:.2f})"]
        header = f"{'run':>4}  {'best ' + self.report_metric:>12}  {'at query':>8}  {'repeats':>7}  arch"
        lines += [header, "-" * len(header)]
        for s in range(self.num_seeds):
            lines.append(f"{s:>4}  {self.best_report[s]:>12.2f}  {self.queries_to_best[s]:>8d}  "
                         f"{self.repeats[s]:>7d}  {self.best_archs[s]}")
        b = self.best_report
        lines.append("-" * len(header))
        lines.append(f"mean  {b.mean():>12.2f}  +- {b.std():.2f}   reached optimum: "
                     f"{self.reached_optimum().mean() * 100:.0f}% of runs; "
                     f"mean queries to best {self.queries_to_best.mean():.0f}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        t = self.trajectory
        return {
            "method": self.method,
            "space": self.space,
            "dataset": self.dataset,
            "queries": self.queries,
            "seed": self.seed,
            "num_seeds": self.num_seeds,
            "optimum": float(self.optimum),
            "search_metric": self.search_metric,
            "report_metric": self.report_metric,
            "config": self.config,
            "meta": self.meta,
            "summary": {
                "best_mean": float(self.best_report.mean()),
                "best_std": float(self.best_report.std()),
                "reached_optimum_fraction": float(self.reached_optimum().mean()),
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
