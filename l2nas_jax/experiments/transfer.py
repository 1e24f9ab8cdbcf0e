"""Transfer L2NAS across datasets: pre-train on a source environment, continue on a target.

The reward is the observed accuracy divided by the metric's fixed scale (``env.max_reward``:
100 for accuracies in %; never the table's maximum, which a search must not know), and by
default the critic is trained on ranks within its replay buffer, so one agent's critic
targets are on the same scale in every environment and the agent can move between them.

A transfer run has two phases, each one compiled ``lax.scan`` over queries and a
``vmap`` over seeds (:func:`l2nas_jax.runner.run_batched`):

1. **source** -- L2NAS on the source environment for ``queries_from`` queries.
   These queries are *free pre-training*: they are not counted in the target budget.
2. **target** -- L2NAS on the target environment for ``queries_to`` queries, starting
   from :func:`l2nas_jax.agent.transfer.handover`: the source agent's actor and critic
   (parameters *and* Adam states), optionally its replay buffer (``transfer+replay``),
   and otherwise a fresh target state -- an empty top-k (it holds *source* accuracies
   in percent, which are not comparable with the target's and would pin the state to
   source cells), nothing marked as seen (only target queries count as repeats), the
   query count restarted at 0 and the target run's own PRNG key -- the same key the
   from-scratch baseline uses for its run, so the variants differ only by what was
   carried over.  The target config comes from :func:`l2nas_jax.agent.transfer.target_config`.

Epsilon in the target phase starts at ``target_eps_start`` (default
:data:`TRANSFER_EPS_START` = 0: the transferred critic already ranks cells, so random
queries mostly waste target budget; exploration still comes from the random cells in
the candidate pool and the first query, which is random because the top-k is empty).
The from-scratch baseline keeps the config's own schedule (epsilon 1 -> 0 over the
first 60 queries).  Only target queries are reported.

``add_transfer_parser`` / ``cmd_transfer`` implement ``l2nas transfer`` (wired in
:mod:`l2nas_jax.cli.main`).  Importing this module does not import JAX.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from l2nas_jax.core import io
from l2nas_jax.report.tables import markdown_table

if TYPE_CHECKING:  # the library modules load JAX; importing them lazily keeps ``l2nas --help`` fast
    import jax

    from l2nas_jax.agent import L2NASConfig, L2NASState
    from l2nas_jax.experiments.compare import ComparisonResult
    from l2nas_jax.envs.base import Environment
    from l2nas_jax.results import SearchResult

#: Epsilon at the first target query of a transferred agent (see the module docstring).
TRANSFER_EPS_START: float = 0.0
#: Budgets (target queries) of the table; clipped to ``queries_to``.
DEFAULT_TRANSFER_BUDGETS: tuple[int, ...] = (10, 25, 50, 100, 200)
SCRATCH, TRANSFER, TRANSFER_REPLAY = "scratch", "transfer", "transfer+replay"
FILES: tuple[str, ...] = ("transfer.md", "transfer.json", "best_so_far.png", "regret.png")
#: The source phase's keys are ``fold_in(run_key, SOURCE_SALT)``; the target phase uses the run keys themselves.
SOURCE_SALT = 1
#: A difference of means counts as real when it exceeds this many standard errors.
SIGNIFICANCE_SE = 2.0
#: Below this (accuracy points, below the 4 decimals kept) a difference and its error count as zero.
SAME_TOL = 5e-5


# ----------------------------------------------------------------------------- checks and keys


def check_budget(name: str, value: Any) -> int:
    """A positive integer query budget, or a ValueError naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def same_values(env_from: Environment, env_to: Environment) -> bool:
    """Whether both environments score architectures from the same search values (True when unknown)."""
    a, b = (getattr(e, "search_acc", None) for e in (env_from, env_to))
    if a is None or b is None:
        return True
    return a.shape == b.shape and bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def check_pair(env_from: Environment, env_to: Environment) -> None:
    """Refuse transfer between different spaces (shapes, decisions or choices) or onto the very same evaluator.

    Transfer onto the same dataset of the same table is refused: the source queries would be free
    evaluations of the target itself, and the comparison with the from-scratch baseline at the
    same target budget would be meaningless.  Two table files with different values (one space
    trained with two recipes, or measured on two devices) may share a dataset name.
    """
    if env_from.name != env_to.name or tuple(env_from.alpha_shape) != tuple(env_to.alpha_shape) \
            or tuple(env_from.arch_shape) != tuple(env_to.arch_shape):
        raise ValueError(f"cannot transfer between different search spaces ({env_from.name} {env_from.alpha_shape} "
                         f"-> {env_to.name} {env_to.alpha_shape})")
    names = [getattr(getattr(e, "space", None), "choice_names", None) for e in (env_from, env_to)]
    if None not in names and names[0] != names[1]:
        diff = next((a, b) for a, b in zip(names[0], names[1]) if a != b)
        raise ValueError(f"cannot transfer between tables whose decisions differ: {', '.join(diff[0])} "
                         f"vs {', '.join(diff[1])}")
    src, dst = getattr(env_from, "dataset", ""), getattr(env_to, "dataset", "")
    if src == dst and same_values(env_from, env_to):
        raise ValueError(f"source and target dataset are both {src!r}: transfer needs two different datasets "
                         "(source queries on the target itself would be free target evaluations), or two "
                         "table files (--to-table)")


def source_keys(keys: jax.Array) -> jax.Array:
    """Per-seed keys of the source phase, independent of the target phase's ``keys``."""
    import jax

    return jax.vmap(lambda k: jax.random.fold_in(k, SOURCE_SALT))(keys)


# ----------------------------------------------------------------------------- phases


def run_source(
    env_from: Environment,
    config: L2NASConfig,
    queries_from: int,
    keys: jax.Array,
    *,
    seed: int = 0,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[L2NASState, SearchResult]:
    """Pre-train on the source: the final batched state and the source phase's result (for context only)."""
    from l2nas_jax.agent import make_l2nas
    from l2nas_jax.api import make_result
    from l2nas_jax.runner import run_batched

    queries_from = check_budget("queries_from", queries_from)
    searcher = make_l2nas(env_from, config, queries_from)
    state, traj, metrics, timing = run_batched(searcher, env_from, source_keys(keys), queries_from, chunk=chunk,
                                               progress=progress)
    result = make_result(env_from, "l2nas", config, traj, seed=seed, metrics=metrics,
                         meta={**timing, "phase": "source"})
    return state, result


def run_target(
    env_to: Environment,
    config: L2NASConfig,
    queries_to: int,
    keys: jax.Array,
    *,
    source: L2NASState | None = None,
    carry_replay: bool = False,
    label: str = SCRATCH,
    seed: int = 0,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    initial: Callable[[L2NASState], None] | None = None,
) -> tuple[L2NASState, SearchResult]:
    """L2NAS on the target for ``queries_to`` queries, from scratch (``source=None``) or from the agent's ``handover``.

    ``config`` is used as given (see ``l2nas_jax.agent.target_config``); ``initial(state)``
    is called with the batched initial state (tests check the hand-over with it).
    """
    import jax

    from l2nas_jax.agent import handover, make_l2nas
    from l2nas_jax.api import make_result
    from l2nas_jax.runner import run_batched, shard_seeds

    queries_to = check_budget("queries_to", queries_to)
    if carry_replay and source is None:
        raise ValueError("carry_replay needs a source state")
    searcher = make_l2nas(env_to, config, queries_to)
    state = jax.jit(jax.vmap(searcher.init))(shard_seeds(keys))  # one program, not ~70 eager ops
    if source is not None:
        state = handover(state, source, carry_replay=carry_replay)
    if initial is not None:
        initial(state)
    state, traj, metrics, timing = run_batched(searcher, env_to, keys, queries_to, chunk=chunk, progress=progress,
                                               resume=(state, None, 0))
    result = make_result(env_to, label, config, traj, seed=seed, metrics=metrics,
                         meta={**timing, "phase": "target", "variant": label})
    return state, dataclasses.replace(result, config={**result.config, "method": "l2nas", "variant": label})


# ----------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class Difference:
    """Mean difference (variant - scratch) of the best accuracy at one budget, with its standard error."""

    budget: int
    diff: float
    se: float

    @property
    def verdict(self) -> str:
        if abs(self.diff) < SAME_TOL and self.se < SAME_TOL:  # e.g. every seed at the optimum in both
            return "same"
        if self.diff > SIGNIFICANCE_SE * self.se:
            return "helps"
        if self.diff < -SIGNIFICANCE_SE * self.se:
            return "hurts"
        return "no clear difference"

    def cell(self) -> str:
        return f"{self.diff:+.2f} ± {self.se:.2f} ({self.verdict})"


def differences(variant: np.ndarray, scratch: np.ndarray, budgets: Sequence[int]) -> list[Difference]:
    """Per budget: mean(variant) - mean(scratch) and its (Welch) standard error from ``[S, T]`` curves."""
    out = []
    for b in budgets:
        v, s = variant[:, b - 1], scratch[:, b - 1]
        var = (v.var(ddof=1) / len(v) if len(v) > 1 else 0.0) + (s.var(ddof=1) / len(s) if len(s) > 1 else 0.0)
        out.append(Difference(budget=int(b), diff=float(v.mean() - s.mean()), se=float(math.sqrt(var))))
    return out


@dataclasses.dataclass(frozen=True)
class TransferResult:
    """Target-phase results per variant (``scratch`` first), the source phase, and the transfer settings."""

    comparison: ComparisonResult  # target-phase results, one row per variant
    source: SearchResult  # the source phase (free pre-training; context only)
    queries_from: int
    queries_to: int
    target_eps_start: float
    tables: tuple[str | None, str | None] = (None, None)  # the source's and target's table files, when given

    @property
    def target(self) -> SearchResult:
        return self.comparison.first

    @property
    def variants(self) -> tuple[str, ...]:
        return self.comparison.methods

    def differences(self) -> dict[str, list[Difference]]:
        """Each transfer variant against ``scratch`` at every budget."""
        from l2nas_jax.experiments.compare import exact_curves

        c = self.comparison
        scratch = exact_curves(c.results[SCRATCH])
        return {v: differences(exact_curves(r), scratch, c.budgets) for v, r in c.results.items() if v != SCRATCH}

    def title(self) -> str:
        return f"{self.target.space}: {self.source.dataset} -> {self.target.dataset}"

    def description(self) -> str:
        s = self.source
        return (f"Source: {self.queries_from} queries on {s.dataset} (free pre-training, not counted; source best "
                f"{s.best_report.mean():.2f} ± {s.best_report.std():.2f}, optimum {s.optimum:.2f}). "
                f"Target: {self.queries_to} queries on {self.target.dataset}, all counted; the transferred agent "
                f"starts with epsilon {self.target_eps_start:g}, scratch with its config's "
                f"{self.comparison.results[SCRATCH].config['eps_start']:g}. Reward = search metric / its "
                f"fixed scale (100 for accuracies in %). " + self.tables_text() + self.comparison.description())

    def tables_text(self) -> str:
        """Which table files the two phases searched, when they differ (else empty)."""
        a, b = self.tables
        return f"Tables: {a or 'embedded'} -> {b or 'embedded'}. " if a != b else ""

    def difference_rows(self) -> list[list[str]]:
        return [[v, *[d.cell() for d in ds]] for v, ds in self.differences().items()]

    def to_markdown(self) -> str:
        c = self.comparison
        head = c.headers()
        head[0] = "variant"
        dh = ["variant - scratch", *[f"Δ best @{b}" for b in c.budgets]]
        lines = [f"### {self.title()}", "", self.description(), "", markdown_table(head, c.rows()),
                 "", f"Difference of means ± standard error (Welch); 'helps'/'hurts' when beyond "
                     f"{SIGNIFICANCE_SE:g} standard errors.", "", markdown_table(dh, self.difference_rows())]
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """Terminal version: the comparison table plus the differences."""
        rows = self.comparison.table().splitlines()[1:]  # without its description line (included above)
        rows[0] = "variant" + rows[0][len("variant"):]
        lines = [self.title(), self.description().replace("±", "+-"), *rows, ""]
        for v, ds in self.differences().items():
            lines.append(f"{v} - scratch: " + "; ".join(f"@{d.budget} {d.cell()}" for d in ds).replace("±", "+-"))
        return "\n".join(lines)

    def to_json(self, *, curves: bool = True) -> dict[str, Any]:
        data = self.comparison.to_json(curves=curves)
        s = self.source
        data.update({
            "kind": "l2nas-transfer",
            "from": s.dataset,
            "to": self.target.dataset,
            "queries_from": self.queries_from,
            "queries_to": self.queries_to,
            "queries_note": "source queries are free pre-training and not counted; every number is about the "
                            "target phase (its queries counted from 1)",
            "target_eps_start": self.target_eps_start,
            "tables": {"from": self.tables[0], "to": self.tables[1]},
            "variants": list(self.variants),
            "source": {"dataset": s.dataset, "optimum": float(s.optimum), "config": s.config,
                       "best_report": np.round(s.best_report, 4).tolist(),
                       "wall_s": None if s.meta.get("wall_s") is None else float(s.meta["wall_s"])},
            "differences": {v: [{**dataclasses.asdict(d), "verdict": d.verdict} for d in ds]
                            for v, ds in self.differences().items()},
        })
        return data

    def save_plot(self, path: str | os.PathLike, *, regret: bool = False) -> None:
        """Best-so-far (or regret) curves of the target phase, one line per variant; written atomically."""
        from l2nas_jax.report.plots import _pyplot, plot_curves

        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_curves(self.comparison.results, regret=regret, ax=ax)
        ax.set_title(f"{self.title()} ({self.queries_from} free source queries)")
        ax.set_xlabel("target queries")
        fig.tight_layout()
        io.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
        plt.close(fig)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``transfer.md``, ``transfer.json``, ``best_so_far.png`` and ``regret.png`` atomically."""
        out = Path(out_dir)
        paths = {name: out / name for name in FILES}
        io.write_text(paths["transfer.md"], self.to_markdown())
        io.write_json(paths["transfer.json"], self.to_json())
        self.save_plot(paths["best_so_far.png"])
        self.save_plot(paths["regret.png"], regret=True)
        return paths


# ----------------------------------------------------------------------------- entry point


def transfer(
    env_from: Environment | tuple[str, str],
    env_to: Environment | tuple[str, str],
    *,
    queries_from: int = 500,
    queries_to: int = 100,
    seeds: int = 20,
    seed: int = 0,
    config: L2NASConfig | Mapping[str, Any] | None = None,
    carry_replay: bool = False,
    target_eps_start: float = TRANSFER_EPS_START,
    budgets: Sequence[int] = DEFAULT_TRANSFER_BUDGETS,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
    chunk: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    source: tuple[L2NASState, SearchResult] | None = None,
) -> TransferResult:
    """Pre-train L2NAS on ``env_from``, continue on ``env_to``; compare with L2NAS from scratch on ``env_to``.

    Variants (rows): ``scratch`` (same target budget, same seeds, the config as given),
    ``transfer`` (source agent carried over) and, with ``carry_replay``,
    ``transfer+replay`` (its replay buffer too).  Environments are objects or
    ``(space, dataset)`` pairs (built with ``table`` / ``noise_sigma``).
    ``progress(phase, queries_done)`` is called after each chunk (phase: ``source`` or a
    variant).  ``source`` reuses an earlier :func:`run_source` output (same env, config, seeds).

    Example:
      >>> r = transfer(("nb201", "cifar10"), ("nb201", "cifar100"), queries_from=500, queries_to=100)  # doctest: +SKIP
      >>> print(r.table())  # doctest: +SKIP
    """
    import functools

    from l2nas_jax import methods
    from l2nas_jax.agent import target_config
    from l2nas_jax.experiments.compare import ComparisonResult, clip_budgets, resolve_env
    from l2nas_jax.runner import seed_keys

    queries_from = check_budget("queries_from", queries_from)
    queries_to = check_budget("queries_to", queries_to)
    seeds = check_budget("seeds", seeds)
    if not 0.0 <= float(target_eps_start) <= 1.0:
        raise ValueError(f"target_eps_start must be in [0, 1], got {target_eps_start!r}")
    budgets = clip_budgets(budgets, queries_to)
    if config is None or isinstance(config, Mapping):
        config = methods.make_config("l2nas", dict(config or {}))
    env_from = resolve_env(env_from, table=table, noise_sigma=noise_sigma)
    env_to = resolve_env(env_to, table=table, noise_sigma=noise_sigma)
    check_pair(env_from, env_to)

    def cb(phase: str):
        return None if progress is None else functools.partial(progress, phase)

    keys = seed_keys(seed, seeds)
    if source is None:
        source = run_source(env_from, config, queries_from, keys, seed=seed, chunk=chunk, progress=cb("source"))
    src_state, src_result = source
    same_config = all(src_result.config.get(k) == v for k, v in dataclasses.asdict(config).items())
    if (src_result.queries, src_result.num_seeds, src_result.seed, src_result.dataset) != \
            (queries_from, seeds, seed, env_from.dataset) or not same_config:
        raise ValueError("the given source run does not match queries_from / seeds / seed / env_from / config")
    results = {}
    _, results[SCRATCH] = run_target(env_to, config, queries_to, keys, seed=seed, chunk=chunk, progress=cb(SCRATCH))
    variants = [(TRANSFER, False)] + ([(TRANSFER_REPLAY, True)] if carry_replay else [])
    for label, carry in variants:
        cfg = target_config(config, queries_from=queries_from, queries_to=queries_to, carry_replay=carry,
                            eps_start=target_eps_start)
        _, results[label] = run_target(env_to, cfg, queries_to, keys, source=src_state, carry_replay=carry,
                                       label=label, seed=seed, chunk=chunk, progress=cb(label))
    for label, r in results.items():
        if label != SCRATCH:
            results[label] = dataclasses.replace(r, config={**r.config, "transfer_from": env_from.dataset,
                                                            "queries_from": queries_from})
    return TransferResult(comparison=ComparisonResult.build(results, budgets), source=src_result,
                          queries_from=queries_from, queries_to=queries_to, target_eps_start=float(target_eps_start))
