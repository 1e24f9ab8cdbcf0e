"""The Python entry points: ``l2nas_jax.search(...)``, :func:`run_method` and :func:`run_spec` return a
:class:`SearchResult`.

Every search is described by one validated :class:`~l2nas_jax.runspec.RunSpec`: :func:`search`
builds it from its arguments, :func:`run_method` from its arguments and the environment it is
given, the CLI from its flags (or ``run.json`` when resuming); :func:`run_spec` runs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from l2nas_jax import methods
from l2nas_jax.checkpoint import load_checkpoint, read_info, save_checkpoint
from l2nas_jax.core.provenance import provenance
from l2nas_jax.envs import make_env
from l2nas_jax.envs.base import Environment
from l2nas_jax.envs import latency as latency_column
from l2nas_jax.envs import reduced as reduced_env
from l2nas_jax.envs.constrained import ConstrainedEnv, constrain, constraint_summary, feasible_archs
from l2nas_jax.envs.latency import parse_latency
from l2nas_jax.results import SearchResult
from l2nas_jax import runner as runner_lib
from l2nas_jax.runner import abstract_run, check_run_memory, run_batched, seed_keys
from l2nas_jax.runspec import TABLE_SPACE, RunSpec, check_evaluator, method_config
from l2nas_jax.searcher import Searcher
from l2nas_jax.spaces import get_space
from l2nas_jax.spaces.table import register_table_space
from l2nas_jax.trajectory import Trajectory
from l2nas_jax.wrappers import pareto as pareto_mod
from l2nas_jax.wrappers import reevaluate, repeats


def build_env(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    table: str | os.PathLike | None = None,
    noise_sigma: float = 0.0,
    noise_model: str = "gaussian",
    max_params: str | float | None = None,
    max_macs: str | float | None = None,
    predictor: str | os.PathLike | None = None,
    supernet: str | os.PathLike | None = None,
    supernet_images: int | None = 2048,
    data_dir: str | None = None,
    search_metric: str | None = None,
    report_metric: str | None = None,
    decisions: Sequence[str] | None = None,
    limits: Sequence[str] | None = None,
    pareto_column: str | None = None,
    latency_model: str | os.PathLike | None = None,
    max_latency: str | float | None = None,
    reduce_space: str | None = None,
) -> Environment:
    """The environment for a space/dataset (NB201: embedded table unless ``table`` is given).

    ``space="table"`` searches a table file of your own (``table``: CSV/JSON; ``search_metric``
    and ``report_metric`` name its columns, ``decisions`` its decision columns, inferred when
    None; :mod:`l2nas_jax.spaces.table`); a ``dataset`` the table lacks falls back to its only
    dataset.  ``limits`` (``["COLUMN=VALUE", ...]``) budget named columns of a table.

    ``supernet`` (a ``train/supernet.py`` run directory) makes the trained supernet the
    evaluator (:mod:`l2nas_jax.envs.supernet`; DARTS and OFA have no table); ``dataset`` must then
    be the one it was trained on, or ``""`` for that one.
    ``predictor`` (a file from :func:`l2nas_jax.envs.predictor.save_predictor`) replaces the
    evaluator by the fitted accuracy predictor; ``max_params``/``max_macs`` (budgets
    such as ``"0.6M"``, ``"600M"``) constrain the search (:mod:`l2nas_jax.envs.constrained`).
    ``noise_model`` ("gaussian" or "hetero") shapes the ``noise_sigma`` noise
    (:func:`l2nas_jax.envs.table.make_table_env`).

    ``latency_model`` (a file from ``l2nas latency --model``) adds the modelled ``latency``
    column (ms; :mod:`l2nas_jax.envs.latency`); ``max_latency`` (``"5ms"``) budgets it, and
    ``pareto_column="latency"`` makes it the cost of the Pareto front.  ``reduce_space`` (a dataset of
    the space's table) drops the choices that are slower and no more accurate than another choice
    of their decision (:mod:`l2nas_jax.latency.reduce`; accuracy scored by that dataset's table)
    and searches inside the rest (:mod:`l2nas_jax.envs.reduced`).
    """
    check_evaluator(table=table, noise_sigma=noise_sigma, predictor=predictor, supernet=supernet)
    limits = list(limits or ())
    if max_latency is not None:
        if latency_model is None:
            raise ValueError("max_latency needs a latency model (latency_model=FILE, from l2nas latency --model)")
        limits.append(f"{latency_column.COLUMN}={parse_latency(max_latency)!r}")
    if supernet is not None:
        env = _supernet_env(space, dataset, supernet, supernet_images, data_dir)
        env = _reduced(_with_latency(env, latency_model, pareto_column), reduce_space, table, limits)
        return constrain(env, max_params, max_macs, limits=limits)
    if space == TABLE_SPACE:
        table_pareto = None if pareto_column == latency_column.COLUMN and latency_model is not None else pareto_column
        dataset, table = _register_table(table, dataset, search_metric, report_metric, decisions, table_pareto)
    if predictor is None and not get_space(space).has_table:
        raise ValueError(f"the {space} space has no benchmark table: search a trained supernet (--supernet DIR, "
                         f"from train/supernet.py) or a fitted accuracy predictor (--predictor FILE)")
    if predictor is not None and not get_space(space).has_table:  # DARTS/OFA: the predictor needs only the codec
        from l2nas_jax.envs.space_env import SpaceEnv

        env = SpaceEnv(space=get_space(space), dataset=dataset)
    else:
        env = make_env(space, dataset=dataset, table=table, noise_sigma=noise_sigma, noise_model=noise_model)
    if predictor is not None:
        from l2nas_jax.envs.predictor import predictor_env

        env = predictor_env(predictor, env)
    env = _reduced(_with_latency(env, latency_model, pareto_column), reduce_space, table, limits)
    return constrain(env, max_params, max_macs, limits=limits)


def _reduced(env: Environment, reduce_space: str | None, table: Any, limits: list[str]) -> Environment:
    """``env`` inside its latency-reduced space (and the budget that keeps it there), when asked."""
    if reduce_space is None:
        return env
    if not hasattr(env, "latency_source"):
        raise ValueError("reduce_space needs a latency model (latency_model=FILE, from l2nas latency --model)")
    from l2nas_jax.latency import reduce as reduce_lib

    sp = get_space(env.name)
    acc = reduce_lib.table_accuracy(sp, reduce_space, table)
    lat = reduce_lib.choice_latency(np.asarray(env.lut), tuple(sp.alpha_shape))  # the table with_latency loaded
    keep = reduce_lib.reduce_choices(lat, acc)
    limits.append(f"{reduced_env.COLUMN}=1")
    return reduced_env.reduce(env, keep, reduce_lib.dropped(keep, sp.choice_names), source=reduce_space)


def _with_latency(env: Environment, latency_model: str | os.PathLike | None, pareto_column: str | None) -> Environment:
    """``env`` with the modelled-latency column when a latency model is given (the Pareto cost if asked)."""
    if latency_model is None:
        return env
    return latency_column.with_latency(env, latency_model, pareto=pareto_column == latency_column.COLUMN)


def _register_table(table: Any, dataset: str, search_metric: str | None, report_metric: str | None,
                    decisions: Sequence[str] | None, pareto_column: str | None) -> tuple[str, None]:
    """Register the user's table file as the ``table`` space; ``(dataset to use, table arg for make_env)``."""
    if table is None or search_metric is None:
        raise ValueError(f"the {TABLE_SPACE} space searches a table file of your own: give --table FILE and "
                         f"--search-metric COLUMN (Python: table=..., search_metric=...)")
    register_table_space(TABLE_SPACE, table, search_metric=search_metric, report_metric=report_metric,
                         decisions=None if decisions is None else list(decisions), macs_column=pareto_column)
    datasets = get_space(TABLE_SPACE).datasets
    if dataset not in datasets and len(datasets) == 1:
        dataset = datasets[0]
    return dataset, None


def _supernet_env(space: str, dataset: str | None, run_dir: str | os.PathLike, images: int | None,
                  data_dir: str | None) -> Environment:
    """The supernet environment of a ``train/supernet.py`` run, checked against the requested space and dataset
    (``""``/None: the supernet's own)."""
    from l2nas_jax.supernet import ofa_published

    if ofa_published.is_converted(run_dir):
        env = _converted_ofa_env(dataset, run_dir, images, data_dir)
    else:
        from l2nas_jax.envs.supernet import load_supernet_env

        env = load_supernet_env(run_dir, max_images=images, data_dir=data_dir, dataset=dataset)
    if env.name != space:
        raise ValueError(f"{run_dir} holds a supernet trained on the {env.name} space, not {space}: "
                         f"pass --space {env.name}")
    return env


def _converted_ofa_env(dataset: str | None, run_dir: str | os.PathLike, images: int | None,
                       data: str | None) -> Environment:
    """A converted once-for-all supernet on ImageNet (``data``: ``imagenet:ROOT``, or a tfds data dir)."""
    if dataset and dataset != "imagenet":
        raise ValueError(f"{run_dir} holds a converted OFA supernet (ImageNet), not a {dataset} one: drop --dataset")
    if not data:
        raise ValueError(f"{run_dir} holds a converted OFA supernet: pass its ImageNet with --data imagenet:ROOT "
                         f"(ROOT/train and ROOT/val class-folder trees, or a tfds data dir holding imagenet2012)")
    if ":" not in str(data):
        data = f"imagenet:{data}"
    from l2nas_jax.envs.ofa_imagenet import load_ofa_imagenet_env

    n = images if images is not None else 1000
    return load_ofa_imagenet_env(run_dir, str(data), search_images=n, report_images=n)


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
    incumbent: str = "denoised",
    reevaluate: int = 0,
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
    ``incumbent`` is the rule that picks what a run returns (:mod:`l2nas_jax.trajectory`);
    ``reevaluate=N`` spends up to one query in N re-measuring top candidates under noise
    (:mod:`l2nas_jax.wrappers.reevaluate`).  The arguments are checked as a :class:`~l2nas_jax.runspec.RunSpec` (see :func:`run_spec`).
    """
    every = (chunk or queries) if checkpoint is not None else 0
    spec = env_run_spec(env, method=method, config=config, queries=queries, seeds=seeds, seed=seed,
                        free_repeats=free_repeats, pareto=pareto, lambda_range=lambda_range, checkpoint_every=every,
                        incumbent=incumbent, reevaluate=reevaluate)
    return run_spec(spec, env=env, chunk=chunk, progress=progress, checkpoint=checkpoint, resume=resume)


def run_spec(
    spec: RunSpec,
    *,
    env: Environment | None = None,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> SearchResult:
    """Run the search ``spec`` describes, on its environment (``env``: one already built from it).

    ``progress(n)`` is called after every chunk of ``chunk`` queries.  With ``checkpoint``
    (a file path) the complete state, the spec and a description of the environment are
    saved there every ``spec.checkpoint_every`` queries; ``resume=True`` continues from it
    -- only the same run may -- and gives the same result as an uninterrupted run.
    """
    env = spec_env(spec) if env is None else env
    check_memory(env, spec.method, spec.seeds, spec.queries, spec.config)
    searcher = make_searcher(spec, env)
    keys = seed_keys(spec.seed, spec.seeds)
    on_chunk, start = _checkpointing(spec, env, searcher, keys, checkpoint, resume)
    if checkpoint is not None:
        chunk = spec.checkpoint_every
    _, traj, metrics, timing = run_batched(searcher, env, keys, spec.queries, chunk=chunk, progress=progress,
                                           on_chunk=on_chunk, resume=start, incumbent=spec.incumbent)
    result = make_result(env, spec.method, spec.config, traj, seed=spec.seed, metrics=metrics,
                         meta={**timing, "free_repeats": spec.free_repeats, "incumbent": spec.incumbent,
                               "reevaluate": spec.reevaluate})
    if spec.pareto:
        summary = pareto_mod.pareto_summary(env, result, lambdas=metrics["lambda"][:, 0])
        summary["lambda_range"] = list(spec.lambda_range)
        result = dataclasses.replace(result, pareto=summary)
    return result


def modelled_latency(env: Environment, archs: Sequence[str]) -> list[float]:
    """The modelled latency (ms) of architecture strings on an environment with a latency model."""
    if not hasattr(env, "latency"):
        raise ValueError("this environment has no latency model (build it with latency_model=FILE)")
    import jax
    import jax.numpy as jnp

    batch = jnp.asarray(np.stack([np.asarray(env.string_to_arch(a)) for a in archs]))
    return [float(v) for v in np.asarray(jax.jit(jax.vmap(env.latency))(batch))]


#: The part of L2NAS's default step that does not scale with its network updates (calibrated, see step_fraction).
OVERHEAD_SHARE = 0.69


def step_fraction(method: str, config: Any = None) -> float:
    """A method's compiled step cost relative to L2NAS's default config (for :func:`estimate_seconds`).

    L2NAS scales with its minibatch updates per query times the multiply-adds of one update
    (actor + critic MLPs over a minibatch); the baselines cost a small fixed fraction.
    """
    if method != "l2nas":
        return runner_lib.BASELINE_STEP_FRACTION
    default = method_config(method, None)
    cfg = method_config(method, config)

    def work(c: Any) -> float:
        mlp = sum(a * b for h in (c.actor_hidden, c.critic_hidden) for a, b in zip((32, *h), (*h, 1)))
        return max(int(c.max_updates), 1) * int(c.batch_size) * mlp

    # calibrated on nb201_speed.json's two configs (default 0.2 ms, paper-literal 2.0 ms per seed and query in a
    # 16-seed sweep): a fixed part (sampling, top-k, bookkeeping) plus a part proportional to the updates' work
    return OVERHEAD_SHARE + (1 - OVERHEAD_SHARE) * work(cfg) / work(default)


def estimate_seconds(method: str, seeds: int, queries: int, config: Any = None) -> float:
    """Rough wall time of a search on the project's reference 2-core CPU (:func:`l2nas_jax.runner.estimate_run_seconds`)."""
    return runner_lib.estimate_run_seconds(seeds, queries, step_fraction(method, config))


def check_memory(env: Environment, method: str, seeds: int, queries: int, config: Any = None) -> None:
    """Refuse, before compiling, a search too large for this machine's memory: every query's outputs and
    L2NAS's replay buffer (:func:`l2nas_jax.runner.check_run_memory`; a one-line ValueError)."""
    replay = (getattr(config, "buffer_size", 0) or queries) if method == "l2nas" else 0
    check_run_memory(seeds, queries, int(np.prod(env.arch_shape)), replay_rows=replay,
                     alpha_size=int(np.prod(env.alpha_shape)))


def spec_env(spec: RunSpec) -> Environment:
    """The environment (evaluator, constraints) a :class:`RunSpec` describes."""
    return build_env(spec.space, spec.dataset, table=spec.table, noise_sigma=spec.noise_sigma,
                     noise_model=spec.noise_model, max_params=spec.max_params, max_macs=spec.max_macs,
                     predictor=spec.predictor,
                     supernet=spec.supernet, supernet_images=spec.supernet_images, data_dir=spec.data_dir,
                     search_metric=spec.search_metric, report_metric=spec.report_metric, decisions=spec.decisions,
                     limits=spec.limits, pareto_column=spec.pareto_column, latency_model=spec.latency_model,
                     max_latency=spec.max_latency, reduce_space=spec.reduce_space)


def env_run_spec(env: Environment, **run: Any) -> RunSpec:
    """A RunSpec of a search on an already-built ``env``: its evaluator fields as far as the environment tells."""
    budgets = env.budgets() if isinstance(env, ConstrainedEnv) else (None, None)
    max_params, max_macs = (None if b is None else f"{b!r}M" for b in budgets)
    reduce_space = getattr(env, "reduce_source", "") or None
    # A reduced space's own budget (outside_reduced_space=1) comes back with reduce_space: not a user limit.
    implied = {reduced_env.COLUMN} if reduce_space else set()
    return RunSpec(space=env.name, dataset=getattr(env, "dataset", ""),
                   noise_sigma=float(getattr(env, "noise_sigma", 0.0)),
                   noise_model=getattr(env, "noise_model", "gaussian"),
                   predictor=getattr(env, "predictor_source", "") or None, max_params=max_params, max_macs=max_macs,
                   limits=tuple(f"{n}={float(v)!r}" for n, v in getattr(env, "limits", ()) if n not in implied),
                   latency_model=getattr(env, "latency_source", None) or None, reduce_space=reduce_space, **run)


def make_searcher(spec: RunSpec, env: Environment) -> Searcher:
    """The spec's method on ``env``: Pareto-scalarized per seed and/or with free repeats when the spec says so."""
    _, make = methods.get_method(spec.method)

    def build(e: Environment) -> Searcher:
        if spec.pareto:
            return pareto_mod.pareto_searcher(make, e, spec.config, spec.queries, spec.lambda_range)
        return make(e, spec.config, spec.queries)

    if spec.free_repeats:
        return repeats.free_repeats(build, env)
    if spec.reevaluate:
        return reevaluate.reevaluate(build(env), env, spec.queries, reevaluate.ReevaluateConfig(every=spec.reevaluate))
    return build(env)


def env_description(env: Environment) -> dict[str, Any]:
    """What the environment itself says it is (splits, noise, budgets, predictor), JSON-compatible.

    Stored in a checkpoint next to the spec: resuming on an environment that describes
    itself differently (another table file, predictor or budget) is refused.
    """
    out = {"space": env.name, "dataset": getattr(env, "dataset", ""),
           "noise_sigma": float(getattr(env, "noise_sigma", 0)),
           "search_split": getattr(env, "search_split", ""), "report_split": getattr(env, "report_split", "")}
    if getattr(env, "noise_model", "gaussian") != "gaussian":
        out["noise_model"] = env.noise_model
    if isinstance(env, ConstrainedEnv):
        out["constraint"] = list(env.budgets())
        if getattr(env, "limits", ()):
            out["limits"] = [[n, float(v)] for n, v in env.limits]
    if getattr(env, "predictor_source", None):
        out["predictor"] = env.predictor_source
    if getattr(env, "latency_source", None):
        out["latency_model"] = env.latency_source
    return json.loads(json.dumps(out))


def _checkpointing(spec: RunSpec, env: Environment, searcher: Searcher, keys: Any,
                   checkpoint: str | os.PathLike | None, resume: bool) -> tuple[Callable | None, Any]:
    """``(on_chunk, resume_from)`` for :func:`run_batched`: save to ``checkpoint``, and restore when resuming."""
    if checkpoint is None:
        if resume:
            raise ValueError("resume=True needs a checkpoint path")
        return None, None
    if spec.checkpoint_every < 1:
        raise ValueError("a checkpoint needs checkpoint_every >= 1 (queries between saves) in the run spec")
    described = env_description(env)
    on_chunk = lambda st, out, n: save_checkpoint(checkpoint, st, out, n, spec, described)  # noqa: E731
    if not resume:
        return on_chunk, None
    info = read_info(checkpoint)
    diff = spec.differences(info.spec) + [f"env.{k}" for k in sorted(set(described) | set(info.env))
                                          if described.get(k) != info.env.get(k)]
    if diff:
        raise ValueError(f"checkpoint {checkpoint} is from a different run (differs in: {', '.join(diff)})")
    return on_chunk, load_checkpoint(checkpoint, *abstract_run(searcher, keys))


def noise_text(env: Environment) -> str:
    """How the search metric is perturbed, for reports: ``""`` when noise-free."""
    noise = float(getattr(env, "noise_sigma", 0.0))
    if noise <= 0:
        return ""
    if getattr(env, "noise_model", "gaussian") == "hetero":
        return f" + N(0, ({noise:g} x error / best error)^2) noise"
    return f" + N(0, {noise:g}^2) noise"


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
        search_metric=getattr(env, "search_split", "search") + noise_text(env),
        report_metric=getattr(env, "report_split", "report"),
        trajectory=traj,
        best_archs=[env.arch_to_string(a) if good else None for a, good in zip(final, ok)],
        config={"method": method, **dataclasses.asdict(config), "noise_sigma": noise},
        metrics=metrics or {},
        meta={**provenance(), **(meta or {})},
        constraint=constraint,
        feasible=feasible,
    )


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
    **options: Any,
) -> SearchResult:
    """Search ``space``/``dataset`` with ``method`` (default L2NAS) for ``seeds`` runs at once.

    ``max_params``/``max_macs`` (``"0.6M"``, ``"600M"``, ...) constrain the search: the
    result's incumbents are always within budget, and ``result.optimum`` is the
    constrained optimum (exact on NB201).  ``pareto=True`` returns the accuracy-vs-MACs
    front in ``result.pareto``.  ``predictor`` searches a fitted accuracy predictor.
    ``options`` are the other :class:`~l2nas_jax.runspec.RunSpec` fields: ``search_metric``,
    ``report_metric``, ``decisions``, ``limits``, ``pareto_column`` describe a table file of your
    own (``space="table"``, ``table=FILE``); ``noise_model``, ``incumbent`` and ``reevaluate``
    set up noisy evaluations (README, "Noisy evaluations").

    Example:
      >>> import l2nas_jax
      >>> r = l2nas_jax.search("nb201", "cifar10", queries=50, seeds=2)  # doctest: +SKIP
      >>> r.best_report.shape  # doctest: +SKIP
      (2,)
    """
    spec = RunSpec(space=space, dataset=dataset, method=method, config=config, queries=queries, seeds=seeds,
                   seed=seed, table=table, noise_sigma=noise_sigma, max_params=max_params, max_macs=max_macs,
                   pareto=pareto, predictor=predictor, free_repeats=free_repeats, **options)
    return run_spec(spec, chunk=chunk, progress=progress)
