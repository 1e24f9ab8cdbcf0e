"""The Python entry point: ``l2nas_jax.search(...)`` returns a :class:`SearchResult`."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from l2nas_jax import methods, repeats
from l2nas_jax.checkpoint import load_checkpoint, read_spec, save_checkpoint
from l2nas_jax.envs import make_env
from l2nas_jax.envs.base import Environment
from l2nas_jax.provenance import provenance
from l2nas_jax.results import SearchResult
from l2nas_jax.runner import abstract_run, check_queries, run_batched, seed_keys
from l2nas_jax.trajectory import Trajectory


def build_env(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
) -> Environment:
    """The environment for a space/dataset (NB201: embedded table unless ``table`` is given)."""
    return make_env(space, dataset=dataset, table=table, noise_sigma=noise_sigma)


def run_method(
    env: Environment,
    method: str = "l2nas",
    *,
    queries: int = 1000,
    seeds: int = 1,
    seed: int = 0,
    config: Any = None,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    free_repeats: bool = False,
) -> SearchResult:
    """Run one method on an already-built environment for ``seeds`` vmapped runs.

    With ``checkpoint``, the complete state is saved there after every ``chunk``
    queries; ``resume=True`` continues from it and gives the same result as an
    uninterrupted run.  ``free_repeats=True`` serves repeated architectures from a
    cache without spending budget (:mod:`l2nas_jax.repeats`); by default every query counts.
    """
    queries = check_queries(queries)
    if isinstance(config, dict) or config is None:
        config = methods.make_config(method, config)
    _, make = methods.get_method(method)
    searcher = make(env, config, queries)
    if free_repeats:
        searcher = repeats.free_repeats(searcher, env)
    keys = seed_keys(seed, seeds)
    spec = {**_run_spec(env, method, config, queries, seeds, seed), "free_repeats": free_repeats}
    on_chunk, start = None, None
    if checkpoint is not None:
        on_chunk = lambda st, out, n: save_checkpoint(checkpoint, st, out, n, spec)  # noqa: E731
        if resume:
            _, saved = read_spec(checkpoint)
            if saved != spec:
                diff = sorted(k for k in set(spec) | set(saved) if spec.get(k) != saved.get(k))
                raise ValueError(f"checkpoint {checkpoint} is from a different run (differs in: {', '.join(diff)})")
            start = load_checkpoint(checkpoint, *abstract_run(searcher, keys))
    elif resume:
        raise ValueError("resume=True needs a checkpoint path")
    _, traj, metrics, timing = run_batched(searcher, env, keys, queries, chunk=chunk, progress=progress,
                                           on_chunk=on_chunk, resume=start)
    return make_result(env, method, config, traj, seed=seed, metrics=metrics,
                       meta={**timing, "free_repeats": free_repeats})


def make_result(
    env: Environment,
    method: str,
    config: Any,
    traj: Trajectory,
    *,
    seed: int,
    metrics: dict[str, np.ndarray] | None = None,
    meta: dict[str, Any] | None = None,
) -> SearchResult:
    """Wrap NumPy trajectories (``[seeds, queries, ...]``) of one method into a :class:`SearchResult`."""
    seeds, queries = np.asarray(traj.observed).shape
    final = np.asarray(traj.archs)[np.arange(seeds), np.asarray(traj.incumbent_index)[:, -1]]
    noise = float(getattr(env, "noise_sigma", 0.0))
    return SearchResult(
        method=method,
        space=env.name,
        dataset=getattr(env, "dataset", ""),
        queries=queries,
        seed=seed,
        num_seeds=seeds,
        optimum=float(env.optimum),
        search_metric=getattr(env, "search_split", "search") + (f" + N(0, {noise:g}^2) noise" if noise > 0 else ""),
        report_metric=getattr(env, "report_split", "report"),
        trajectory=traj,
        best_archs=[env.arch_to_string(a) for a in final],
        config={"method": method, **dataclasses.asdict(config), "noise_sigma": noise},
        metrics=metrics or {},
        meta={**provenance(), **(meta or {})},
    )


def _run_spec(env: Environment, method: str, config: Any, queries: int, seeds: int, seed: int) -> dict[str, Any]:
    """What identifies a run (a checkpoint may only resume the same run); JSON-compatible."""
    import json

    return json.loads(json.dumps({
        "method": method, "config": dataclasses.asdict(config), "queries": queries, "seeds": seeds, "seed": seed,
        "space": env.name, "dataset": getattr(env, "dataset", ""), "noise_sigma": float(getattr(env, "noise_sigma", 0)),
        "search_split": getattr(env, "search_split", ""), "report_split": getattr(env, "report_split", ""),
    }))


def search(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    queries: int = 1000,
    seeds: int = 1,
    seed: int = 0,
    method: str = "l2nas",
    config: Any = None,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    free_repeats: bool = False,
) -> SearchResult:
    """Search ``space``/``dataset`` with ``method`` (default L2NAS) for ``seeds`` runs at once.

    Example:
      >>> import l2nas_jax
      >>> r = l2nas_jax.search("nb201", "cifar10", queries=50, seeds=2)  # doctest: +SKIP
      >>> r.best_report.shape  # doctest: +SKIP
      (2,)
    """
    env = build_env(space, dataset, table=table, noise_sigma=noise_sigma)
    return run_method(env, method, queries=queries, seeds=seeds, seed=seed, config=config, chunk=chunk,
                      progress=progress, free_repeats=free_repeats)
