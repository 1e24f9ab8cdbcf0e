"""Compare search methods on one environment: same table, same seeds, same query accounting.

:func:`compare` runs every method through :func:`l2nas_jax.api.run_method` on one
environment and returns a :class:`ComparisonResult`: per method, the mean +- std
over seeds of the best reported accuracy at several query budgets, how many seeds
reached the table optimum, the mean query at which they reached it, and the mean
number of repeated queries.  The Markdown table, the terminal table and
``compare.json`` are all derived from the same per-seed curves (rounded to the
table's 4 decimals), so every number in a table can be recomputed from the JSON.

``add_compare_parser`` / ``cmd_compare`` implement ``l2nas compare`` (wired in
:mod:`l2nas_jax.cli.main`).  Importing this module does not import JAX.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io, validate
from l2nas_jax.report.tables import markdown_table, text_table

if TYPE_CHECKING:  # the library modules load JAX; importing them lazily keeps ``l2nas --help`` fast
    from l2nas_jax.envs.base import Environment
    from l2nas_jax.results import SearchResult

DEFAULT_METHODS: tuple[str, ...] = ("l2nas", "rea", "random", "reinforce")
DEFAULT_BUDGETS: tuple[int, ...] = (50, 100, 200, 500, 1000)
FILES: tuple[str, ...] = ("compare.md", "compare.json", "best_so_far.png", "regret.png")


def check_methods(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a method list (known, non-empty, no duplicates, importable); ValueError otherwise."""
    from l2nas_jax import methods as methods_lib

    names = tuple(names)
    if not names:
        raise ValueError("no methods given; valid: " + ", ".join(methods_lib.method_names()))
    for name in names:
        methods_lib.check_method(name)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"method(s) listed more than once: {', '.join(dupes)}")
    for name in names:
        try:
            methods_lib.get_method(name)
        except ImportError as e:
            raise ValueError(f"method {name!r} is registered but cannot be imported: {e}") from e
    return names


def clip_budgets(budgets: Sequence[int], queries: int) -> tuple[int, ...]:
    """Sorted distinct budgets with every budget above ``queries`` replaced by ``queries``."""
    out = set()
    for b in budgets:
        out.add(min(validate.positive_int("budgets", b), queries))
    if not out:
        raise ValueError("no budgets given")
    return tuple(sorted(out))


def exact_curves(result: SearchResult) -> np.ndarray:
    """``float64[S, T]`` best-so-far reported curves rounded to ``CURVE_DECIMALS`` (as written to JSON)."""
    from l2nas_jax.results import CURVE_DECIMALS

    return np.round(np.asarray(result.curves, np.float64), CURVE_DECIMALS)


@dataclasses.dataclass(frozen=True)
class MethodSummary:
    """The numbers of one method's table row, all derived from per-seed curves and repeats."""

    method: str
    budgets: tuple[int, ...]
    best_mean: tuple[float, ...]  # mean over seeds of the best reported metric at each budget
    best_std: tuple[float, ...]  # std over seeds (ddof=0, as in SearchResult.table)
    reached: int  # seeds whose incumbent equals the table optimum at the last query
    num_seeds: int
    queries_to_optimum: float | None  # mean 1-based query of first reaching it, over those seeds
    repeats_mean: float  # mean number of repeated queries per seed
    wall_s: float | None  # wall-clock seconds of the whole batched run (compilation included); None: not measured

    @property
    def reached_fraction(self) -> float:
        return self.reached / self.num_seeds

    def cells(self) -> list[str]:
        """Formatted table cells (``±`` between mean and std)."""
        best = [f"{m:.2f} ± {s:.2f}" for m, s in zip(self.best_mean, self.best_std)]
        q = "n/a" if self.queries_to_optimum is None else f"{self.queries_to_optimum:.0f}"
        reached = f"{self.reached}/{self.num_seeds} ({100 * self.reached_fraction:.0f}%)"
        wall = "n/a" if self.wall_s is None else f"{self.wall_s:.1f}"  # a sweep's points share one program
        return [self.method, *best, reached, q, f"{self.repeats_mean:.1f}", wall]

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "reached_fraction": self.reached_fraction}


def _same(a: Any, b: Any) -> bool:
    """``a == b``, with an unknown (NaN) optimum equal to itself."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b))


def _seconds(value: Any) -> float | None:
    """A measured duration as a float; None (JSON null) when it was not measured."""
    return None if value is None else float(value)


def summarize(
    method: str,
    curves: np.ndarray,
    repeats: np.ndarray,
    optimum: float,
    budgets: Sequence[int],
    wall_s: float | None = None,
) -> MethodSummary:
    """Table row of one method from its ``[S, T]`` curves and per-seed repeat counts."""
    from l2nas_jax.results import OPTIMUM_TOL

    curves = np.asarray(curves, np.float64)
    at = curves[:, np.asarray(budgets) - 1]
    hit = curves >= optimum - OPTIMUM_TOL
    reached = hit[:, -1]
    first = np.argmax(hit, axis=1) + 1
    return MethodSummary(
        method=method,
        budgets=tuple(int(b) for b in budgets),
        best_mean=tuple(float(x) for x in at.mean(0)),
        best_std=tuple(float(x) for x in at.std(0)),
        reached=int(reached.sum()),
        num_seeds=int(curves.shape[0]),
        queries_to_optimum=float(first[reached].mean()) if reached.any() else None,
        repeats_mean=float(np.mean(repeats)),
        wall_s=None if wall_s is None else float(wall_s),
    )


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    """Results of several methods on one environment, plus the summary rows derived from them."""

    results: Mapping[str, SearchResult]  # method -> result, in the order run
    budgets: tuple[int, ...]
    summaries: Mapping[str, MethodSummary]

    @classmethod
    def build(cls, results: Mapping[str, SearchResult], budgets: Sequence[int]) -> "ComparisonResult":
        """Check the results share one environment/protocol and derive the summary rows."""
        if not results:
            raise ValueError("no results to compare")
        first = next(iter(results.values()))
        keys = ("space", "dataset", "queries", "num_seeds", "seed", "optimum", "search_metric", "report_metric")
        for m, r in results.items():
            diff = [k for k in keys if not _same(getattr(r, k), getattr(first, k))]
            if diff:
                raise ValueError(f"result of {m!r} differs from {first.method!r} in: {', '.join(diff)}")
        budgets = clip_budgets(budgets, first.queries)
        summaries = {
            m: summarize(m, exact_curves(r), r.repeats, r.optimum, budgets, r.meta.get("wall_s"))
            for m, r in results.items()
        }
        return cls(results=dict(results), budgets=budgets, summaries=summaries)

    @property
    def first(self) -> SearchResult:
        return next(iter(self.results.values()))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.results)

    def headers(self) -> list[str]:
        return ["method", *[f"best @{b}" for b in self.budgets], "reached optimum", "queries to optimum",
                "repeats", "wall s"]

    def description(self) -> str:
        """One line naming the environment, budget, seeds and metrics."""
        r = self.first
        return (f"{r.space} / {r.dataset}: {r.queries} queries x {r.num_seeds} seeds (seed {r.seed}); "
                f"search metric: {r.search_metric}; reported: {r.report_metric} accuracy (%), "
                + (f"table optimum {r.optimum:.2f}" if np.isfinite(r.optimum) else "table optimum n/a (unknown)")
                + "; mean ± std over seeds; "
                + ("repeated architectures served from a cache (free)" if r.meta.get("free_repeats")
                   else "every query counts, repeats included")
                + incumbent_text(r.meta))

    def rows(self) -> list[list[str]]:
        return [self.summaries[m].cells() for m in self.methods]

    def to_markdown(self) -> str:
        """A Markdown section: heading, description line, and the table."""
        r = self.first
        head = self.headers()
        return "\n".join([f"### {r.space} / {r.dataset}", "", self.description(), "",
                          markdown_table(head, self.rows())]) + "\n"

    def table(self) -> str:
        """The same table as :meth:`to_markdown`, aligned for a terminal (``+-`` for ``±``)."""
        return self.description().replace("±", "+-") + "\n" + text_table(self.headers(), self.rows())

    def to_json(self, *, curves: bool = True) -> dict[str, Any]:
        """Everything needed to rebuild the tables: per-seed curves (or values at budgets) per method."""
        from l2nas_jax.core.provenance import provenance
        from l2nas_jax.results import OPTIMUM_TOL

        r = self.first
        runs = {}
        for m, res in self.results.items():
            c = exact_curves(res)
            run: dict[str, Any] = {
                "best_at_budgets": c[:, np.asarray(self.budgets) - 1].tolist(),
                "repeats": res.repeats.tolist(),
                "queries_to_best": res.queries_to_best.tolist(),
                "best_archs": list(res.best_archs),
                "wall_s": _seconds(res.meta.get("wall_s")),
            }
            if curves:
                run["curves"] = c.tolist()
            runs[m] = run
        return {
            "kind": "l2nas-compare",
            "space": r.space,
            "dataset": r.dataset,
            "queries": r.queries,
            "num_seeds": r.num_seeds,
            "seed": r.seed,
            "budgets": list(self.budgets),
            "optimum": float(r.optimum) if np.isfinite(r.optimum) else None,
            "optimum_tol": OPTIMUM_TOL,
            "search_metric": r.search_metric,
            "report_metric": r.report_metric,
            "methods": list(self.methods),
            "config": {m: res.config for m, res in self.results.items()},
            "provenance": provenance(),
            "summary": {m: s.to_json() for m, s in self.summaries.items()},
            "runs": runs,
        }

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``compare.md``, ``compare.json``, ``best_so_far.png`` and ``regret.png`` atomically."""
        from l2nas_jax.report.plots import save_curves_png

        out = Path(out_dir)
        paths = {name: out / name for name in FILES}
        io.write_text(paths["compare.md"], self.to_markdown())
        io.write_json(paths["compare.json"], self.to_json())
        save_curves_png(self.results, paths["best_so_far.png"], regret=False)
        save_curves_png(self.results, paths["regret.png"], regret=True)
        return paths


def incumbent_text(meta: Mapping[str, Any]) -> str:
    """How a run picks its answer and spends queries on re-measuring, for report headers ('' when unrecorded)."""
    rule = meta.get("incumbent")
    if rule is None:
        return ""
    text = "; incumbent: " + ("best estimate (repeats averaged, shrunk by the estimated noise)" if rule == "denoised"
                              else "best single observation")
    every = meta.get("reevaluate") or 0
    return text + (f"; a top candidate re-measured up to once every {every} queries" if every else "")


def resolve_env(
    env: Environment | tuple[str, str],
    *,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
) -> Environment:
    """An environment, or one built from ``(space, dataset)`` with ``table`` / ``noise_sigma``."""
    from l2nas_jax.api import build_env

    if isinstance(env, tuple):
        if len(env) != 2:
            raise ValueError(f"expected an environment or a (space, dataset) pair, got {env!r}")
        return build_env(env[0], env[1], table=table, noise_sigma=noise_sigma)
    if table is not None or noise_sigma:
        raise ValueError("table / noise_sigma only apply when the environment is given as (space, dataset)")
    return env


def compare(
    env: Environment | tuple[str, str],
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    queries: int = 1000,
    seeds: int = 20,
    seed: int = 0,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    configs: Mapping[str, Any] | None = None,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
    chunk: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    free_repeats: bool = False,
    incumbent: str = "denoised",
    reevaluate: int = 0,
) -> ComparisonResult:
    """Run each method for ``seeds`` vmapped runs of ``queries`` queries on the same environment.

    ``configs`` maps a method to its config (object or override dict); budgets above
    ``queries`` are clipped to it.  ``progress(method, queries_done)`` is called after
    each chunk.  Every method uses the same seed keys (``runner.seed_keys(seed, seeds)``), the same
    ``incumbent`` rule and the same ``reevaluate`` option (:func:`l2nas_jax.api.run_method`).

    Example:
      >>> r = compare(("nb201", "cifar10"), ["rea", "random"], queries=50, seeds=2)  # doctest: +SKIP
      >>> print(r.table())  # doctest: +SKIP
    """
    from l2nas_jax.api import run_method
    from l2nas_jax.runner import check_queries

    names = check_methods(methods)
    queries = check_queries(queries)
    seeds = validate.positive_int("seeds", seeds)
    budgets = clip_budgets(budgets, queries)
    configs = dict(configs or {})
    extra = sorted(set(configs) - set(names))
    if extra:
        raise ValueError(f"configs given for method(s) not being compared: {', '.join(extra)}")
    env = resolve_env(env, table=table, noise_sigma=noise_sigma)
    results = {}
    for m in names:
        cb = None if progress is None else functools.partial(progress, m)
        results[m] = run_method(env, m, queries=queries, seeds=int(seeds), seed=seed, config=configs.get(m),
                                chunk=chunk, progress=cb, free_repeats=free_repeats, incumbent=incumbent,
                                reevaluate=reevaluate)
    return ComparisonResult.build(results, budgets)
