"""The Python entry point: ``l2nas_jax.search(...)`` returns a :class:`SearchResult`."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from l2nas_jax import methods
from l2nas_jax.wrappers import repeats
from l2nas_jax.checkpoint import load_checkpoint, read_spec, save_checkpoint
from l2nas_jax.envs.constrained import ConstrainedEnv, constrain, constraint_summary, feasible_archs
from l2nas_jax.envs import make_env
from l2nas_jax.spaces import get_space
from l2nas_jax.envs.base import Environment
from l2nas_jax.core.provenance import provenance
from l2nas_jax.results import SearchResult
from l2nas_jax.runner import abstract_run, check_queries, run_batched, seed_keys
from l2nas_jax.trajectory import Trajectory


def build_env(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
    max_params: str | float | None = None,
    max_macs: str | float | None = None,
    predictor: str | os.PathLike | None = None,
    supernet: str | os.PathLike | None = None,
    supernet_images: int | None = 2048,
    data_dir: str | None = None,
) -> Environment:
    """The environment for a space/dataset (NB201: embedded table unless ``table`` is given).

    ``supernet`` (a ``train/supernet.py`` run directory) makes the trained supernet the
    evaluator (:mod:`l2nas_jax.envs.supernet`; DARTS and OFA have no table).
    ``predictor`` (a file from :func:`l2nas_jax.envs.predictor.save_predictor`) replaces the
    evaluator by the fitted accuracy predictor; ``max_params``/``max_macs`` (budgets
    such as ``"0.6M"``, ``"600M"``) constrain the search (:mod:`l2nas_jax.envs.constrained`).
    """
    if supernet is not None:
        env = _supernet_env(space, supernet, supernet_images, data_dir, table, noise_sigma, predictor)
        return constrain(env, max_params, max_macs)
    if predictor is None and not get_space(space).has_table:
        raise ValueError(f"the {space} space has no benchmark table: search a trained supernet (--supernet DIR, "
                         f"from train/supernet.py) or a fitted accuracy predictor (--predictor FILE)")
    env = make_env(space, dataset=dataset, table=table, noise_sigma=noise_sigma)
    if predictor is not None:
        from l2nas_jax.envs.predictor import predictor_env

        if noise_sigma:
            raise ValueError("noise_sigma has no effect on a predictor (its predictions are noise-free); drop it")

        env = predictor_env(predictor, env)
    return constrain(env, max_params, max_macs)


def _supernet_env(space: str, run_dir, images: int | None, data_dir: str | None, table, noise_sigma: float,
                  predictor) -> Environment:
    """The supernet environment of a ``train/supernet.py`` run, checked against the requested space."""
    from l2nas_jax.envs.supernet import load_supernet_env

    if table is not None or noise_sigma or predictor is not None:
        raise ValueError("--supernet evaluates architectures itself; drop --table/--noise-sigma/--predictor")
    env = load_supernet_env(run_dir, max_images=images, data_dir=data_dir)
    if env.name != space:
        raise ValueError(f"{run_dir} holds a supernet trained on the {env.name} space, not {space}: "
                         f"pass --space {env.name}")
    return env


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
    pareto: bool = False,
    lambda_range: tuple[float, float] | None = None,
) -> SearchResult:
    """Run one method on an already-built environment for ``seeds`` vmapped runs.

    ``pareto=True`` searches accuracy vs MACs: each seed optimizes its own trade-off
    ``accuracy - lambda * log2(MACs)`` (``lambda`` log-uniform in ``lambda_range``;
    :mod:`l2nas_jax.wrappers.pareto`) and ``result.pareto`` holds the front of every queried
    architecture.

    With ``checkpoint``, the complete state is saved there after every ``chunk``
    queries; ``resume=True`` continues from it and gives the same result as an
    uninterrupted run.  ``free_repeats=True`` serves repeated architectures from a
    cache without spending budget (:mod:`l2nas_jax.wrappers.repeats`); by default every query counts.
    """
    queries = check_queries(queries)
    if isinstance(config, dict) or config is None:
        config = methods.make_config(method, config)
    _, make = methods.get_method(method)
    if pareto:
        from l2nas_jax.wrappers import pareto as pareto_mod

        if isinstance(env, ConstrainedEnv):
            raise ValueError("pareto search cannot be combined with a params/MACs budget: the front already "
                             "shows the best accuracy at every cost")
        lambda_range = pareto_mod.check_lambda_range(lambda_range or pareto_mod.LAMBDA_RANGE)
        searcher = pareto_mod.pareto_searcher(make, env, config, queries, lambda_range)
    else:
        searcher = make(env, config, queries)
    if free_repeats:
        searcher = repeats.free_repeats(searcher, env)
    keys = seed_keys(seed, seeds)
    spec = {**_run_spec(env, method, config, queries, seeds, seed), "free_repeats": free_repeats}
    if pareto:
        spec["pareto_lambda_range"] = list(lambda_range)
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
    result = make_result(env, method, config, traj, seed=seed, metrics=metrics,
                         meta={**timing, "free_repeats": free_repeats})
    if pareto:
        from l2nas_jax.wrappers.pareto import pareto_summary

        summary = pareto_summary(env, result, lambdas=metrics["lambda"][:, 0])
        summary["lambda_range"] = list(lambda_range)
        result = dataclasses.replace(result, pareto=summary)
    return result


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
    constraint = constraint_summary(env)
    feasible = feasible_archs(env, np.asarray(traj.archs)) if constraint is not None else None
    ok = feasible[np.arange(seeds), np.asarray(traj.incumbent_index)[:, -1]] if feasible is not None \
        else np.ones(seeds, bool)
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
        best_archs=[env.arch_to_string(a) if good else None for a, good in zip(final, ok)],
        config={"method": method, **dataclasses.asdict(config), "noise_sigma": noise},
        metrics=metrics or {},
        meta={**provenance(), **(meta or {})},
        constraint=constraint,
        feasible=feasible,
    )


def _run_spec(env: Environment, method: str, config: Any, queries: int, seeds: int, seed: int) -> dict[str, Any]:
    """What identifies a run (a checkpoint may only resume the same run); JSON-compatible."""
    import json

    spec = {
        "method": method, "config": dataclasses.asdict(config), "queries": queries, "seeds": seeds, "seed": seed,
        "space": env.name, "dataset": getattr(env, "dataset", ""), "noise_sigma": float(getattr(env, "noise_sigma", 0)),
        "search_split": getattr(env, "search_split", ""), "report_split": getattr(env, "report_split", ""),
    }
    if isinstance(env, ConstrainedEnv):
        spec["constraint"] = list(env.budgets())
    if getattr(env, "predictor_source", None):
        spec["predictor"] = env.predictor_source
    return json.loads(json.dumps(spec))


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
    max_params: str | float | None = None,
    max_macs: str | float | None = None,
    pareto: bool = False,
    predictor: str | os.PathLike | None = None,
) -> SearchResult:
    """Search ``space``/``dataset`` with ``method`` (default L2NAS) for ``seeds`` runs at once.

    ``max_params``/``max_macs`` (``"0.6M"``, ``"600M"``, ...) constrain the search: the
    result's incumbents are always within budget, and ``result.optimum`` is the
    constrained optimum (exact on NB201).  ``pareto=True`` returns the accuracy-vs-MACs
    front in ``result.pareto``.  ``predictor`` searches a fitted accuracy predictor.

    Example:
      >>> import l2nas_jax
      >>> r = l2nas_jax.search("nb201", "cifar10", queries=50, seeds=2)  # doctest: +SKIP
      >>> r.best_report.shape  # doctest: +SKIP
      (2,)
    """
    env = build_env(space, dataset, table=table, noise_sigma=noise_sigma, max_params=max_params,
                    max_macs=max_macs, predictor=predictor)
    return run_method(env, method, queries=queries, seeds=seeds, seed=seed, config=config, chunk=chunk,
                      progress=progress, free_repeats=free_repeats, pareto=pareto)
